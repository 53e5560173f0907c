/** `sipwarden -h` text, generated from the settings catalogue so it always lists every flag. */
import { DEFAULTS, SETTINGS, type SettingDef } from './settings.js';
import { formatEndpoint, type Endpoint } from '../lifecycle.js';
import { VERSION } from '../version.js';

function defaultOf(def: SettingDef): string | null {
  if (def.defaultText) return def.defaultText;
  const v = (DEFAULTS as Record<string, unknown>)[def.key];
  if (v === null || v === undefined || v === false || (Array.isArray(v) && v.length === 0)) return null;
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' ? formatEndpoint(x as Endpoint) : String(x))).join(', ');
  return String(v);
}

/** The full help text (the command-line contract: all flags), ending with a newline. */
export function helpText(): string {
  const rows: [string, string][] = [
    ['-h, --help', 'print this help and exit'],
    ['-V, --version', 'print the version and exit'],
    ['-g, --config FILE', 'TOML configuration file (default $XDG_CONFIG_HOME/sipwarden/config.toml, else ~/.config/sipwarden/config.toml)'],
  ];
  for (const def of SETTINGS) {
    if (def.key === 'tls') {
      rows.push(['    --no-tls', 'disable SIP over TLS (TLS is on by default)']);
      continue;
    }
    const flag = `${def.short ? `-${def.short}, ` : '    '}--${def.long}${def.arg ? ` ${def.arg}` : ''}`;
    const d = defaultOf(def);
    rows.push([flag, `${def.help}${d ? ` (default ${d})` : ''}`]);
  }
  rows.push(['-N', 'ignored (SentryPeer compatibility; prints a warning)']);
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  const body = rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`).join('\n');
  return [
    `sipwarden ${VERSION} - SIP honeypot, drop-in replacement for SentryPeer`,
    '',
    'Usage: sipwarden [options]',
    '       sipwarden config check [options]   validate and print the effective configuration',
    '       sipwarden firewall status|flush [options]   show or empty the firewall sets (--firewall)',
    '       sipwarden bgp-feed [--socket PATH | --api URL] [options]   ExaBGP\'s BGP blackhole feed process (docs/BGP.md)',
    '       sipwarden query ips|numbers|events|credentials|check [options]   read a running node (query --help)',
    '',
    'Options:',
    body,
    '',
    'Every option can also be set as SIPWARDEN_<LONG_NAME> (e.g. SIPWARDEN_API_LISTEN) or as a TOML key',
    '(e.g. api_listen); SentryPeer SENTRYPEER_* variables are accepted. Precedence: defaults < file < env < flags.',
    'Short boolean flags bundle (-jar); see docs/CONFIG.md.',
    '',
  ].join('\n');
}
