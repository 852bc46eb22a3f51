/**
 * ui/json — bounded JSON parsing (RFC 8259) of server-supplied text for the browser: a size cap and a nesting cap
 * checked before JSON.parse (the canonical encoders of ui/canonical recurse once per level), and every refusal a
 * {@link UiError}. Same caps in spirit as src/encoding/json.ts.
 */
import { UiError } from './errors.ts';
import type { JsonValue } from './canonical.ts';

/** JSON_MAX_DEPTH caps the nesting of arrays and objects. */
export const JSON_MAX_DEPTH = 64;
/** JSON_MAX_BYTES is the default size cap (UTF-16 code units of the text). */
export const JSON_MAX_BYTES = 2 * 1024 * 1024;

/** JsonObject is a parsed JSON object. */
export type JsonObject = { [k: string]: JsonValue };

/** parseJson parses `text` (at most maxBytes, nested at most JSON_MAX_DEPTH) or throws a UiError naming `what`. */
export function parseJson(text: string, what: string, maxBytes: number = JSON_MAX_BYTES): JsonValue {
  if (text.length > maxBytes) throw new UiError(`${what}: over ${maxBytes} bytes`);
  // Depth outside strings, before parsing: a deep document is refused without building it.
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > JSON_MAX_DEPTH) throw new UiError(`${what}: nested deeper than ${JSON_MAX_DEPTH}`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw new UiError(`${what}: not valid JSON`);
  }
}

/** asObject returns v as an object, or throws a UiError naming `what`. */
export function asObject(v: JsonValue | undefined, what: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UiError(`${what}: expected an object`);
  return v;
}

/** asString returns v as a string, or throws a UiError naming `what`. */
export function asString(v: JsonValue | undefined, what: string): string {
  if (typeof v !== 'string') throw new UiError(`${what}: expected a string`);
  return v;
}

/** asCount returns v as a safe non-negative integer, or throws a UiError naming `what`. */
export function asCount(v: JsonValue | undefined, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new UiError(`${what}: expected a non-negative integer`);
  return v;
}

/** asArray returns v as an array of at most `max` items, or throws a UiError naming `what`. */
export function asArray(v: JsonValue | undefined, what: string, max: number): JsonValue[] {
  if (!Array.isArray(v)) throw new UiError(`${what}: expected an array`);
  if (v.length > max) throw new UiError(`${what}: more than ${max} items`);
  return v;
}
