/**
 * Integer query and path parameters, checked in one place for every route.
 *
 * Fastify's schema validator coerces query strings to numbers with `Number()`-like rules, so `1e999`, `Infinity`,
 * `0x10` or ` 24` become numbers (some infinite) before `minimum`/`maximum` run, and an infinite `hours` or
 * `limit` reached the database. Here the raw text is checked before validation instead: an integer parameter is
 * plain decimal digits (an optional `-` for negatives), no leading zeros, no `+`, no `-0`, no exponent, fraction,
 * space or hex, at most 16 digits, a safe integer, and within the route's declared `minimum`..`maximum`. Anything
 * else is a 400 naming the parameter and its range.
 */
import type { FastifyRequest } from 'fastify';

/** Canonical decimal integer text: one spelling per value (so `-0`, `007`, `+5`, `1e3`, `1.0` are refused). */
const INTEGER_TEXT = /^(?:0|-?[1-9][0-9]{0,15})$/;

/** One integer parameter of a route schema. */
export interface IntegerParam {
  name: string;
  min: number;
  max: number;
}

/** A route's integer parameters, per request part. */
interface RouteIntegers {
  querystring: IntegerParam[];
  params: IntegerParam[];
}

/**
 * An integer parameter's schema: `type: 'integer'` with the range every such parameter must declare (a range
 * is what keeps a number from turning into work), plus an optional default.
 */
export function intParam(min: number, max: number, description: string, dflt?: number): Record<string, unknown> {
  const s: Record<string, unknown> = { type: 'integer', minimum: min, maximum: max, description };
  if (dflt !== undefined) s.default = dflt;
  return s;
}

function isIntegerSchema(s: unknown): s is { minimum?: unknown; maximum?: unknown } {
  if (s === null || typeof s !== 'object') return false;
  const t = (s as { type?: unknown }).type;
  return t === 'integer' || (Array.isArray(t) && t.includes('integer'));
}

/** The integer properties of an object schema, with their ranges (unbounded sides fall back to the safe range). */
export function integerParams(schema: unknown): IntegerParam[] {
  if (schema === null || typeof schema !== 'object') return [];
  const props = (schema as { properties?: unknown }).properties;
  if (props === null || typeof props !== 'object') return [];
  const out: IntegerParam[] = [];
  for (const [name, s] of Object.entries(props as Record<string, unknown>)) {
    if (!isIntegerSchema(s)) continue;
    const min = typeof s.minimum === 'number' ? s.minimum : Number.MIN_SAFE_INTEGER;
    const max = typeof s.maximum === 'number' ? s.maximum : Number.MAX_SAFE_INTEGER;
    out.push({ name, min, max });
  }
  return out;
}

/**
 * Checks one raw value (as the query-string parser produced it: a string, or an array when repeated).
 * Returns the 400 message, or null when it is acceptable.
 */
export function checkInteger(p: IntegerParam, raw: unknown): string | null {
  const range = `expected an integer from ${p.min} to ${p.max}`;
  if (typeof raw !== 'string') return `invalid ${p.name}: ${Array.isArray(raw) ? 'given more than once; ' : ''}${range}`;
  if (!INTEGER_TEXT.test(raw)) return `invalid ${p.name}: ${range}`;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < p.min || n > p.max) return `invalid ${p.name}: ${range}`;
  return null;
}

/** Cache of each route schema's integer parameters (schemas are created once per route). */
const cache = new WeakMap<object, RouteIntegers>();

function routeIntegers(schema: object): RouteIntegers {
  let r = cache.get(schema);
  if (r === undefined) {
    const s = schema as { querystring?: unknown; params?: unknown };
    r = { querystring: integerParams(s.querystring), params: integerParams(s.params) };
    cache.set(schema, r);
  }
  return r;
}

/**
 * preValidation check for every route: returns the 400 message for the first bad integer parameter of the
 * request (query string first, then path), or null. Runs before the schema validator coerces anything.
 */
export function checkRequestIntegers(req: FastifyRequest): string | null {
  const schema = req.routeOptions.schema;
  if (schema === undefined || schema === null) return null;
  const ints = routeIntegers(schema as object);
  for (const [part, list] of [['query', ints.querystring], ['params', ints.params]] as const) {
    if (list.length === 0) continue;
    const values = req[part] as Record<string, unknown> | undefined;
    if (values === undefined || values === null) continue;
    for (const p of list) {
      if (!Object.prototype.hasOwnProperty.call(values, p.name)) continue;
      const msg = checkInteger(p, values[p.name]);
      if (msg !== null) return msg;
    }
  }
  return null;
}
