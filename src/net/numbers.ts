/**
 * E.164 normalisation of the called number. Conservative by design: a value is produced only when
 * the digits start with an assigned ITU-T country code; a country code is never guessed.
 */
import { percentDecode } from '../text/percent.js';

/**
 * Assigned ITU-T E.164 country codes (ITU-T E.164 Annex / Operational Bulletin list; identical to the set in
 * libphonenumber's metadata, geographic plus non-geographic 800/808/870/878/881/882/883/888/979 — a test keeps
 * the two in step). Reserved or spare codes (e.g. 28x, 379, 388, 991) are not included.
 */
const COUNTRY_CODES: ReadonlySet<string> = new Set(
  (
    '1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 ' +
    '81 82 84 86 90 91 92 93 94 95 98 ' +
    '211 212 213 216 218 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236 237 238 239 ' +
    '240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 257 258 260 261 262 263 264 265 ' +
    '266 267 268 269 290 291 297 298 299 350 351 352 353 354 355 356 357 358 359 370 371 372 373 374 375 ' +
    '376 377 378 380 381 382 383 385 386 387 389 420 421 423 500 501 502 503 504 505 506 507 508 509 590 ' +
    '591 592 593 594 595 596 597 598 599 670 672 673 674 675 676 677 678 679 680 681 682 683 685 686 687 ' +
    '688 689 690 691 692 800 808 850 852 853 855 856 870 878 880 881 882 883 886 888 960 961 962 963 964 ' +
    '965 966 967 968 970 971 972 973 974 975 976 977 979 992 993 994 995 996 998'
  ).split(' '),
);

/** The assigned country codes used by {@link toE164} (for tests and documentation). */
export function assignedCountryCodes(): ReadonlySet<string> {
  return COUNTRY_CODES;
}

/**
 * International access prefixes tried in this order (the event fields step 4): longer, more specific prefixes first,
 * some after a `9`/`0` outside-line digit.
 */
const ACCESS_PREFIXES = ['90011', '9011', '9810', '900', '0011', '000', '011', '810', '00'] as const;

/** the event fields step 5: 7–15 digits, first digit 1–9, leading assigned country code. */
export function isValidE164Digits(d: string): boolean {
  if (d.length < 7 || d.length > 15) return false;
  const c0 = d.charCodeAt(0);
  if (c0 < 0x31 || c0 > 0x39) return false;
  return COUNTRY_CODES.has(d.slice(0, 1)) || COUNTRY_CODES.has(d.slice(0, 2)) || COUNTRY_CODES.has(d.slice(0, 3));
}

/**
 * the event fields steps 1–2: percent-decode, cut at the first `;`, delete `-`, `.`, `(`, `)` and spaces.
 * Returns the `^\+?[0-9]+$` form, or null when the result is not number-like.
 */
export function numberLikeDigits(raw: string): string | null {
  let s = percentDecode(raw);
  const semi = s.indexOf(';');
  if (semi !== -1) s = s.slice(0, semi);
  s = s.replace(/[-.() ]/g, '');
  return /^\+?[0-9]+$/.test(s) ? s : null;
}

/**
 * `called_number` → `called_number_e164`, e.g. `0046812118532` → `+46812118532`,
 * `0044-20-7946-0000;phone-context=+44` → `+442079460000`; `100`, `alice`, `NOT_FOUND` → null.
 */
export function toE164(calledNumber: string): string | null {
  if (calledNumber === 'NOT_FOUND') return null;
  const s = numberLikeDigits(calledNumber);
  if (s === null) return null;
  if (s.charCodeAt(0) === 0x2b) {
    const d = s.slice(1);
    return isValidE164Digits(d) ? '+' + d : null;
  }
  for (const p of ACCESS_PREFIXES) {
    if (s.startsWith(p)) {
      const r = s.slice(p.length);
      if (isValidE164Digits(r)) return '+' + r;
    }
  }
  return null;
}
