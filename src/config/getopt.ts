/**
 * A small getopt/getopt_long work-alike. We use our own instead of commander because every error
 * must be exactly one line naming the flag as the user typed it, and `config.sources` needs to know which
 * flags were given; commander's parsing rules and output would have to be overridden piece by piece.
 *
 * Rules: boolean short flags bundle (`-jar`); a short flag with a value takes the rest of its bundle or the
 * next argument (`-fx.db`, `-f x.db`, `-rf x.db`); `--name V` and `--name=V` (underscores accepted for
 * dashes); a value may start with `-` (as getopt); `--` ends options; other arguments are positionals,
 * which may appear anywhere (GNU permutation).
 */
import { ConfigError } from '../errors.js';

/** One option the parser knows. */
export interface OptSpec {
  /** Caller's identifier. */
  id: string;
  /** Single character, without the dash. */
  short?: string;
  /** Long names without the dashes. */
  long: readonly string[];
  takesValue: boolean;
}

/** One option occurrence, in command-line order. */
export interface ParsedOpt {
  id: string;
  /** The value, or null for a switch. */
  value: string | null;
  /** The flag as typed (`-f`, `--db-file`), for error messages. */
  where: string;
}

export interface GetoptResult {
  opts: ParsedOpt[];
  positionals: string[];
  /** Set when parsing stopped early at an option listed in `stopAt` (e.g. `-h`). */
  stoppedAt: ParsedOpt | null;
}

/**
 * Parses `argv` (without node and script). Throws ConfigError on an unknown option, a missing value or a
 * value given to a switch. Parsing stops at the first option whose id is in `stopAt`.
 */
export function getopt(argv: readonly string[], specs: readonly OptSpec[], stopAt: ReadonlySet<string> = new Set()): GetoptResult {
  const byShort = new Map<string, OptSpec>();
  const byLong = new Map<string, OptSpec>();
  for (const s of specs) {
    if (s.short) byShort.set(s.short, s);
    for (const l of s.long) byLong.set(l, s);
  }
  const opts: ParsedOpt[] = [];
  const positionals: string[] = [];
  let i = 0;
  const push = (o: ParsedOpt): boolean => {
    opts.push(o);
    return stopAt.has(o.id);
  };
  while (i < argv.length) {
    const arg = argv[i++]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = (eq < 0 ? arg.slice(2) : arg.slice(2, eq)).replace(/_/g, '-');
      const where = `--${name}`;
      const spec = byLong.get(name);
      if (!spec) throw new ConfigError(displayFlag(where), 'unknown option');
      let value: string | null = null;
      if (spec.takesValue) {
        if (eq >= 0) value = arg.slice(eq + 1);
        else if (i < argv.length) value = argv[i++]!;
        else throw new ConfigError(where, 'requires a value');
      } else if (eq >= 0) {
        throw new ConfigError(where, 'takes no value');
      }
      const o = { id: spec.id, value, where };
      if (push(o)) return { opts, positionals, stoppedAt: o };
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j]!;
        const where = `-${ch}`;
        const spec = byShort.get(ch);
        if (!spec) throw new ConfigError(displayFlag(where), 'unknown option');
        let value: string | null = null;
        if (spec.takesValue) {
          if (j + 1 < arg.length) value = arg.slice(j + 1);
          else if (i < argv.length) value = argv[i++]!;
          else throw new ConfigError(where, 'requires a value');
          j = arg.length;
        }
        const o = { id: spec.id, value, where };
        if (push(o)) return { opts, positionals, stoppedAt: o };
      }
      continue;
    }
    positionals.push(arg);
  }
  return { opts, positionals, stoppedAt: null };
}

/** Makes a user-typed flag safe for a one-line message (control characters escaped, length capped). */
export function displayFlag(text: string): string {
  const s = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f]/.test(s) ? JSON.stringify(s) : s;
}
