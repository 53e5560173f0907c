/**
 * The adversarial inputs of the regex linearity test: 64 KiB strings made of long runs of the characters that
 * make backtracking regexes slow on SIP text (spaces, tabs, every line and paragraph separator, NUL, DEL, C1,
 * quotes, backslashes, separators), each ended by a character that forces a failure at the very end, and
 * two runs separated by one character (the shape that defeats adjacent quantifiers).
 */
export const SIZE = 64 * 1024;

/** Characters whose runs are tried. */
export const RUN_CHARS = [
  ' ', '\t', '\n', '\r', '\v', '\f', '\u0085', '\u00a0', '\u1680', '\u2000', '\u200b', '\u2028', '\u2029', '\u202e',
  '\u3000', '\ufeff', '\0', '\x01', '\x1b', '\x7f', '\x80', '\x9b', '\x9f', '"', "'", '\\', ';', ',', '=', ':', '/',
  '.', '-', '+', '@', '<', '>', '[', ']', '%', 'a', 'A', 'f', '0', '9', '_', '!', '~', '\ufffd',
];
/** The single characters placed after or between runs. */
export const BREAKERS = ['\u2028', '\0', '!', 'x', ' ', '\n'];
/** Characters of the two-run shape (`X…X Y X…X Z`): the ones SIP grammars treat as separators or values. */
const PAIR_CHARS = [' ', '\t', '\u2028', '\0', '"', '\\', ';', ',', '=', ':', '/', 'a', '0', '@', '.', '-'];
/** Characters of the alternating shape (`XYXY…`). */
const ALT_CHARS = [' ', '\t', '"', '\\', ';', ',', 'a', '0'];

function run(c: string, n: number): string {
  return c.repeat(Math.max(0, n));
}

/**
 * The shared corpus (~650 strings of 64 KiB).
 */
export function* adversarialCorpus(): Generator<string> {
  for (const c of RUN_CHARS) {
    yield run(c, SIZE);
    for (const b of BREAKERS) if (b !== c) yield run(c, SIZE - 1) + b;
  }
  const half = SIZE / 2 - 1;
  for (const c of PAIR_CHARS) for (const d of PAIR_CHARS) if (d !== c) yield run(c, half) + d + run(c, half) + '\u2028';
  for (const c of ALT_CHARS) for (const d of ALT_CHARS) if (d !== c) yield run(c + d, half) + '\u2028';
}

/** The runs tried after a prefix (an anchored regex's start), each ended by a failing character. */
export function* prefixedCorpus(prefix: string): Generator<string> {
  for (const c of PAIR_CHARS) for (const b of ['\u2028', '!']) if (b !== c) yield prefix + run(c, SIZE - 1) + b;
}

/** Starts of SIP, digest, URI and API text: they carry an anchored regex past its literal beginning. */
const GENERIC_PREFIXES = ['SIP/2.0/UDP', 'SIP/2.0/UDP ', 'Digest username=', 'Bearer ', 'sip:', 'sip:a@', 'udp://', '1', '+1', '1-', 'a', 'a=', '[::1]', '/'];

/**
 * Literal starts that let an anchored regex get past its first characters: generic protocol starts, the
 * regex's own leading literal (`^Bearer[ \t]+` → `Bearer`) and its words of 2+ letters (plus a space or colon).
 */
export function prefixesFor(source: string): string[] {
  const out = new Set<string>(GENERIC_PREFIXES);
  const lead = /^\^?((?:[A-Za-z0-9 _:@=-]|\\[/.+])+)/.exec(source);
  if (lead) out.add(lead[1]!.replace(/\\(.)/g, '$1'));
  for (const w of (source.match(/[A-Za-z]{2,}/g) ?? []).slice(0, 4)) {
    out.add(w);
    out.add(w + ' ');
    out.add(w + ':');
  }
  return [...out];
}
