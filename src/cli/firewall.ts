/** `sipwarden firewall status` and `sipwarden firewall flush`: operate on the sets `--firewall` names. */
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { EnforcerState } from '../enforce/enforcer.js';
import { firewallBackend, firewallStateFile } from '../enforce/firewall.js';

/** Runs the command; returns what to print on stdout. Throws SipwardenError (exit 2 for a bad environment). */
export async function runFirewallCommand(config: Config, action: 'status' | 'flush'): Promise<string> {
  if (config.firewall === 'off') throw new ConfigError('firewall', 'no firewall backend configured (set --firewall nftables or ipset)');
  // Scope and ports do not matter here: neither command touches the chain.
  const backend = firewallBackend({ ...config, firewallScope: 'all' }, []);
  if (action === 'flush') {
    await backend.flush();
    return `flushed ${backend.kind} sets of ${config.firewallTable}\n`;
  }
  const st = await backend.status();
  let state: EnforcerState | null = null;
  try {
    state = JSON.parse(await readFile(firewallStateFile(config), 'utf8')) as EnforcerState;
  } catch {
    state = null;
  }
  const lines = [
    `backend: ${st.backend}`,
    `table: ${st.table}`,
    `set ${st.sets[4]}: ${st.elements[4] === null ? 'missing' : `${st.elements[4]} elements`}`,
    `set ${st.sets[6]}: ${st.elements[6] === null ? 'missing' : `${st.elements[6]} elements`}`,
  ];
  if (st.droppedPackets !== null) lines.push(`dropped packets: ${st.droppedPackets}`);
  lines.push(`last update: ${state && state.lastUpdateMs > 0 ? new Date(state.lastUpdateMs).toISOString() : 'unknown'}`);
  if (state) lines.push(`updates: ${state.updates}, failures: ${state.failures}${state.lastError ? `, last error: ${state.lastError}` : ''}`);
  return lines.join('\n') + '\n';
}
