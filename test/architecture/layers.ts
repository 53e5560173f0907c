// The intended layering of src/, as data. `layering.test.ts` reads the import graph of src/ and checks it against
// these rules; docs/ARCHITECTURE.md explains them. A unit is a folder directly under src/ (`store`, `api`, …) or a
// top-level file without its extension (`node`, `errors`, …).

/** The layering rules of a source tree. */
export interface LayerRules {
  /** Shared code: any unit may import it, and it imports nothing but other shared units. */
  shared: readonly string[];
  /** Parts: services with their own lifecycle or thread, or a part's domain logic, wired together by a composer. */
  parts: readonly string[];
  /**
   * Composers: the only units that may wire parts, i.e. import values from more than one part other than their
   * own. Everything else reaches at most one other part by value (types of any part are allowed: a part takes
   * the typed interfaces it is given, the composer builds them).
   */
  composers: readonly string[];
  /** Edges that must not exist (type-only imports included): `from` imports nothing from any unit of `to`. */
  forbidden: ReadonlyArray<{ from: string; to: readonly string[]; why: string }>;
  /** Units that may be imported only by the given units. */
  importedOnlyBy: ReadonlyArray<{ unit: string; by: readonly string[]; why: string }>;
  /** Packages that only the given units may import. */
  packages: ReadonlyArray<{ name: string; only: readonly string[]; why: string }>;
}

/** The rules of sipwarden's src/. */
export const LAYERS: LayerRules = {
  shared: ['errors', 'lifecycle', 'log', 'metrics', 'version', 'text', 'events', 'net', 'config', 'client', 'rpc'],
  parts: ['sip', 'store', 'sinks', 'api', 'p2p', 'enforce', 'bgp', 'geo'],
  composers: ['node'],
  forbidden: [
    { from: 'sip', to: ['store', 'sinks', 'api', 'p2p'], why: 'capture hands events on; it knows no consumer' },
    { from: 'store', to: ['sip', 'api', 'sinks', 'p2p'], why: 'the store owns the database and serves typed interfaces; consumers register with it' },
    { from: 'api', to: ['sip'], why: 'shared number and address helpers live in src/net/' },
    { from: 'config', to: ['cli'], why: 'the command line parser and help text are part of the configuration' },
  ],
  importedOnlyBy: [
    { unit: 'node', by: ['main'], why: 'node.ts is the composition root; main.ts is the process entry' },
    { unit: 'main', by: [], why: 'process entry' },
    { unit: 'cli', by: ['main', 'node'], why: 'commands and start-up checks of the program' },
  ],
  packages: [
    { name: 'better-sqlite3', only: ['store'], why: 'the store owns the database' },
  ],
};
