import { parsePhoneNumberFromString, type NumberType as LibNumberType } from 'libphonenumber-js/max';
import type { NumberClassifier, NumberType } from './types.js';

const TYPE_MAP: Record<NonNullable<LibNumberType>, NumberType> = {
  FIXED_LINE: 'fixed',
  MOBILE: 'mobile',
  FIXED_LINE_OR_MOBILE: 'fixed_or_mobile',
  PREMIUM_RATE: 'premium_rate',
  TOLL_FREE: 'toll_free',
  SHARED_COST: 'shared_cost',
  VOIP: 'voip',
  PERSONAL_NUMBER: 'personal',
  PAGER: 'pager',
  UAN: 'uan',
  VOICEMAIL: 'voicemail',
};

const UNKNOWN = { country: null, type: 'unknown' as const };

/**
 * Number intelligence for `number_stats` (issue 4 item 4): destination country (ISO 3166-1 alpha-2)
 * and number type of a canonical E.164 number, from libphonenumber-js `max` metadata. Anything that is not a
 * valid E.164 number (`+` then digits) for that metadata is `{ country: null, type: 'unknown' }` — never a guess.
 * Callers compute this once per distinct number, never per event.
 */
export const classifyNumber: NumberClassifier = (e164) => {
  if (typeof e164 !== 'string' || !/^\+[1-9][0-9]{6,14}$/.test(e164)) return UNKNOWN;
  try {
    const p = parsePhoneNumberFromString(e164);
    if (!p || !p.isValid()) return UNKNOWN;
    const t = p.getType();
    return { country: p.country ?? null, type: t ? TYPE_MAP[t] ?? 'unknown' : 'unknown' };
  } catch {
    return UNKNOWN;
  }
};
