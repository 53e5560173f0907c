/** Percent-decoding of URI parts: shared by the SIP URI parser and the called-number normaliser. */

/**
 * Percent-decodes as UTF-8 without ever throwing: invalid `%` sequences are kept verbatim, invalid UTF-8
 * becomes U+FFFD.
 */
export function percentDecode(s: string): string {
  if (s.indexOf('%') === -1) return s;
  const src = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(src.length);
  let o = 0;
  for (let i = 0; i < src.length; i++) {
    const b = src[i]!;
    if (b === 0x25 && i + 2 < src.length && hex(src[i + 1]!) >= 0 && hex(src[i + 2]!) >= 0) {
      out[o++] = (hex(src[i + 1]!) << 4) | hex(src[i + 2]!);
      i += 2;
    } else {
      out[o++] = b;
    }
  }
  return out.toString('utf8', 0, o);
}

function hex(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}
