/**
 * Process entry (`bin/sipwarden`): parses the command line, prints the fixed lines, starts the node and
 * handles signals. Everything else lives in node.ts and the components it wires.
 */
import { homedir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { formatConfigCheck, loadConfig } from './config/load.js';
import { ConfigError, SipwardenError } from './errors.js';
import { setLineFormat, warnLine } from './lifecycle.js';
import { startNode, type RunningNode } from './node.js';

function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`sipwarden: error: ${err.where}: ${err.reason}\n`);
    process.exit(2);
  }
  if (err instanceof SipwardenError) {
    process.stderr.write(`sipwarden: error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`sipwarden: error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

/**
 * V8 lets the old generation grow to about 4× its live size between full collections; under a flood that is
 * 400 MB of dead events and transactions. Capping growth at 2× (measured, docs/PERFORMANCE.md) keeps the peak
 * near 250 MB at no measured cost in ingest rate (30 % growth cost 20 %). An operator's own
 * `--heap-growing-percent` (NODE_OPTIONS or node's command line) wins.
 */
export const HEAP_GROWING_PERCENT = 100;

async function main(): Promise<void> {
  if (![...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('heap-growing-percent'))) {
    setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  }
  let outcome;
  let feedArgs: { apiUrl: string | null; socket: string | null } = { apiUrl: null, socket: null };
  try {
    let argv = process.argv.slice(2);
    if (argv[0] === 'query') {
      // A client of a running node: it takes its own options (cli/query.ts) and starts nothing.
      const { runQuery } = await import('./cli/query.js');
      process.exitCode = await runQuery(argv.slice(1));
      return;
    }
    if (argv[0] === 'bgp-feed') {
      const { splitFeedArgs } = await import('./cli/bgp-feed.js');
      const split = splitFeedArgs(argv);
      feedArgs = split;
      argv = split.rest;
    }
    outcome = loadConfig(argv, process.env, process.cwd(), homedir());
  } catch (err) {
    fail(err);
  }
  if (outcome.kind === 'help' || outcome.kind === 'version') {
    process.stdout.write(outcome.text.endsWith('\n') ? outcome.text : outcome.text + '\n');
    return;
  }
  // `config check` prints its warnings as text; a running node in the format it was asked for.
  if (outcome.kind === 'run') setLineFormat(outcome.config.logFormat ?? 'text');
  for (const w of outcome.warnings) warnLine(w);
  if (outcome.kind === 'bgp-feed') {
    const { runBgpFeed } = await import('./cli/bgp-feed.js');
    try {
      process.exitCode = await runBgpFeed(outcome.config, feedArgs);
    } catch (err) {
      fail(err);
    }
    return;
  }
  if (outcome.kind === 'firewall') {
    const { runFirewallCommand } = await import('./cli/firewall.js');
    try {
      const text = await runFirewallCommand(outcome.config, outcome.action);
      process.stdout.write(text);
    } catch (err) {
      fail(err);
    }
    return;
  }
  if (outcome.kind === 'check') {
    const text = formatConfigCheck(outcome.config);
    process.stdout.write(text.endsWith('\n') || text === '' ? text : text + '\n');
    return;
  }

  // Signals are handled from before start-up: a SIGTERM that arrives while the node is still starting (its
  // listeners may already be announced) must end it cleanly, not by the default action that skips the store's
  // final flush. SIGHUP's default action would also end the process; a reload (logrotate, a GeoIP update) that
  // arrives while starting is simply not needed (the files are opened fresh anyway).
  let running: RunningNode | undefined;
  let pending: NodeJS.Signals | null = null;
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    const node = running;
    if (!node) {
      // Still starting: stop as soon as start-up returns.
      pending ??= signal;
      return;
    }
    if (stopping) {
      // A second signal: give up on the graceful path.
      process.exit(1);
    }
    stopping = true;
    node.logger.info({ signal }, 'stopping');
    const hard = setTimeout(() => {
      process.stderr.write('sipwarden: error: shutdown took longer than 5 s\n');
      process.exit(1);
    }, 5000);
    hard.unref();
    node
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        process.stderr.write(`sipwarden: error: shutdown: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      });
  };
  process.on('SIGHUP', () => running?.reopen());
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  try {
    running = await startNode(outcome.config);
  } catch (err) {
    fail(err);
  }
  if (pending) shutdown(pending);
}

void main();
