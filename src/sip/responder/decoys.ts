import { ConfigError } from '../../errors.js';

/** The set of users that "exist" (the responder rules `--decoy-extensions`). */
export interface DecoySet {
  has(user: string | null): boolean;
}

/**
 * Parses `--decoy-extensions`: comma-separated numeric ranges (`100-199`) and single users (`2000`, `alice`).
 * A numeric user matches a range only in canonical form (`0100` is not `100`). Single users match exactly
 * (SIP user parts are case-sensitive). Throws ConfigError for an inverted or malformed entry.
 */
export function parseDecoyExtensions(list: string): DecoySet {
  const ranges: Array<[number, number]> = [];
  const singles = new Set<string>();
  for (const raw of list.split(',')) {
    const item = raw.trim();
    if (item.length === 0) continue;
    const m = /^(\d{1,15})\s*-\s*(\d{1,15})$/.exec(item);
    if (m) {
      const a = Number(m[1]);
      const b = Number(m[2]);
      if (a > b) throw new ConfigError('--decoy-extensions', `range "${item}" is inverted`);
      ranges.push([a, b]);
    } else if (/[\s<>@;"]/.test(item) || item.includes('-') && /^\d+-/.test(item)) {
      throw new ConfigError('--decoy-extensions', `"${item}" is neither a user nor a range`);
    } else {
      singles.add(item);
    }
  }
  return {
    has(user) {
      if (user === null || user.length === 0) return false;
      if (singles.has(user)) return true;
      if (ranges.length === 0 || !/^(0|[1-9]\d{0,14})$/.test(user)) return false;
      const n = Number(user);
      for (const [a, b] of ranges) if (n >= a && n <= b) return true;
      return false;
    },
  };
}
