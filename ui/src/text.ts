/** Display helpers. Every attacker-controlled string is rendered as a text node (never as markup). */

/**
 * Makes invisible characters visible: C0/C1 controls become their Unicode control pictures (or `\xNN`), bidi
 * overrides and marks become `<U+XXXX>`, so an RTL override cannot reorder what an operator reads.
 */
export function visible(s: string | null | undefined): string {
  if (s === null || s === undefined) return '';
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20) out += String.fromCodePoint(0x2400 + c);
    else if (c === 0x7f) out += '\u2421';
    else if (c >= 0x80 && c < 0xa0) out += `\\x${c.toString(16)}`;
    else if ((c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c === 0xfeff || c === 0x061c) {
      out += `<U+${c.toString(16).toUpperCase().padStart(4, '0')}>`;
    } else out += ch;
  }
  return out;
}

/** `2026-12-05 07:05:18` (UTC). */
export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  return iso.replace('T', ' ').slice(0, 19);
}

/** 12,345 */
export function num(n: number): string {
  return n.toLocaleString('en-US');
}

/** Trend of the last 24 h against the 24 h before: an arrow and a percentage. */
export function trend(last: number, prev: number): { text: string; dir: 'up' | 'down' | 'flat' | 'new' } {
  if (prev === 0) return last > 0 ? { text: 'new', dir: 'new' } : { text: '–', dir: 'flat' };
  const pct = Math.round(((last - prev) / prev) * 100);
  if (pct === 0) return { text: '0%', dir: 'flat' };
  return { text: `${pct > 0 ? '▲' : '▼'} ${Math.abs(pct)}%`, dir: pct > 0 ? 'up' : 'down' };
}
