/**
 * hsm/uri — RFC 7512 "The PKCS #11 URI Scheme": the `pkcs11:` URIs that name a key in a token.
 *
 * ```
 * pkcs11:token=custody;object=release-1;type=private?pin-source=file:pin.txt&module-path=/usr/lib/softhsm/libsofthsm2.so
 * └────┘└─────────── path: attr=value, ";" ──────────┘└──────────── query: attr=value, "&" ────────────────────────┘
 * ```
 * Path attributes understood (RFC 7512 §2.3): token, manufacturer, serial, model, object, type, id, slot-id,
 * slot-description, slot-manufacturer, library-manufacturer, library-description, library-version. Query attributes:
 * pin-source (only `file:` URIs: `file:pin.txt` relative to the working directory, `file:///abs/pin`), module-path.
 *
 * Trust boundary: the URI comes from the command line or a configuration file, and it may be pasted from anywhere.
 * Parsing is bounded (URI_MAX_CHARS, URI_MAX_ATTRIBUTES) and canonical: every `%` is followed by two hex digits, a
 * value decodes to UTF-8 (except `id`, which is bytes), a path attribute appears at most once (§2.3 "MUST NOT appear
 * more than once"), and the characters outside pk11-pchar / pk11-qchar are refused rather than guessed at.
 *
 * Choices where the RFC leaves room:
 * - `pin-value` is refused (ERR_PKCS11_PIN_IN_URI): a URI typed on a command line sits in argv and shell history,
 *   where every local user can read it. The PIN comes from `pin-source=file:` or CUSTODY_PKCS11_PIN instead.
 * - An unrecognized path attribute (a vendor `x-…` or a newer one) is kept in `unknownPath`: §2.3 says it "MUST
 *   result in an empty set of matched resources", so the key lookup (hsm/pkcs11) finds nothing and says why.
 * - An unrecognized query attribute is ignored (§2.3: the consumer "SHOULD ignore" what it does not understand);
 *   `module-name` is one: Custody loads modules only by path. A query attribute we do use may appear only once.
 */
import { FormatError, LimitError, UsageError } from '../errors.ts';

/** URI_MAX_CHARS bounds the URI text (characters); real URIs are well under 1 KiB. */
export const URI_MAX_CHARS = 4096;
/** URI_MAX_ATTRIBUTES bounds the attributes of path and query together. */
export const URI_MAX_ATTRIBUTES = 32;

/** Pkcs11ObjectType is RFC 7512's `type` attribute (CKA_CLASS). */
export type Pkcs11ObjectType = 'public' | 'private' | 'cert' | 'secret-key' | 'data';

/** Pkcs11Uri is a parsed `pkcs11:` URI: decoded values, absent attributes undefined. */
export interface Pkcs11Uri {
  /** token is CK_TOKEN_INFO.label (the token's label, trailing blanks trimmed when matching). */
  token?: string;
  manufacturer?: string;
  serial?: string;
  model?: string;
  /** object is CKA_LABEL. */
  object?: string;
  /** id is CKA_ID (bytes). */
  id?: Uint8Array;
  type?: Pkcs11ObjectType;
  /** slotId is the decimal CK_SLOT_ID. */
  slotId?: number;
  slotDescription?: string;
  slotManufacturer?: string;
  libraryManufacturer?: string;
  libraryDescription?: string;
  libraryVersion?: string;
  /** pinSource is the PIN file path from `pin-source=file:…` (relative paths are relative to the caller's cwd). */
  pinSource?: string;
  /** modulePath is the PKCS#11 module (shared library) to load. */
  modulePath?: string;
  /** unknownPath lists path attribute names this parser does not understand (they match nothing, §2.3). */
  unknownPath: string[];
}

const TEXT_PATH_ATTRS = {
  token: 'token',
  manufacturer: 'manufacturer',
  serial: 'serial',
  model: 'model',
  object: 'object',
  'slot-description': 'slotDescription',
  'slot-manufacturer': 'slotManufacturer',
  'library-manufacturer': 'libraryManufacturer',
  'library-description': 'libraryDescription',
  'library-version': 'libraryVersion',
} as const;

const OBJECT_TYPES: readonly string[] = ['public', 'private', 'cert', 'secret-key', 'data'];

// RFC 7512 §2.3: pk11-pchar = unreserved / pk11-p-res-avail / pct-encoded, p-res-avail = ":" / "[" / "]" / "@" /
// "!" / "$" / "'" / "(" / ")" / "*" / "+" / "," / "=" / "&"; pk11-qchar adds "/" / "?" / "|" and drops "&" (the
// query separator). unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3).
const PATH_VALUE = /^(?:[A-Za-z0-9\-._~:[\]@!$'()*+,=&]|%[0-9A-Fa-f]{2})*$/;
const QUERY_VALUE = /^(?:[A-Za-z0-9\-._~:[\]@!$'()*+,=/?|]|%[0-9A-Fa-f]{2})*$/;
// pk11-v-attr-nm-char / the standard names: letters, digits and "-" ("x-" prefixes vendor attributes).
const ATTR_NAME = /^[A-Za-z][A-Za-z0-9-]{0,63}$/;

function bad(message: string): FormatError {
  return new FormatError('ERR_PKCS11_URI_INVALID', message);
}

/** pctDecode decodes %XX escapes (the caller checked the syntax) into bytes. */
function pctDecode(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(c);
    }
  }
  return Uint8Array.from(out);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function pctDecodeText(s: string, name: string): string {
  try {
    return UTF8.decode(pctDecode(s));
  } catch {
    throw bad(`the value of ${name} is not UTF-8 after percent-decoding`);
  }
}

/** isPkcs11Uri tells whether a --key value names a token key rather than a file (the scheme is case-insensitive). */
export function isPkcs11Uri(s: string): boolean {
  return /^pkcs11:/i.test(s);
}

/**
 * parsePkcs11Uri parses an RFC 7512 URI. Throws ERR_PKCS11_URI_INVALID (FormatError) for a malformed one,
 * ERR_PKCS11_URI_TOO_LARGE (LimitError) past the bounds, and ERR_PKCS11_PIN_IN_URI (UsageError) for `pin-value`.
 *
 * @example
 * const uri = parsePkcs11Uri('pkcs11:token=custody;object=release-1?pin-source=file:pin.txt');
 * // { token: 'custody', object: 'release-1', pinSource: 'pin.txt', unknownPath: [] }
 */
export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (typeof text !== 'string') throw bad('expected a pkcs11: URI string');
  if (text.length > URI_MAX_CHARS) throw new LimitError('ERR_PKCS11_URI_TOO_LARGE', `expected a pkcs11: URI of at most ${URI_MAX_CHARS} characters, got ${text.length}`);
  // RFC 7512 §2.3: pk11-URI = "pkcs11:" pk11-path [ "?" pk11-query ]; ABNF literals are case-insensitive.
  if (!isPkcs11Uri(text)) throw bad('expected a URI starting with pkcs11:');
  const rest = text.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const pathPart = q === -1 ? rest : rest.slice(0, q);
  const queryPart = q === -1 ? undefined : rest.slice(q + 1);
  const uri: Pkcs11Uri = { unknownPath: [] };
  const seen = new Set<string>();
  let count = 0;

  const split = (part: string, sep: string, where: string): Array<[string, string]> => {
    if (part === '') return [];
    return part.split(sep).map((a) => {
      if (++count > URI_MAX_ATTRIBUTES) throw new LimitError('ERR_PKCS11_URI_TOO_LARGE', `expected at most ${URI_MAX_ATTRIBUTES} attributes in a pkcs11: URI`);
      const eq = a.indexOf('=');
      if (eq === -1) throw bad(`expected name=value in the ${where}, got an attribute without "="`);
      const name = a.slice(0, eq).toLowerCase();
      if (!ATTR_NAME.test(name)) throw bad(`expected an attribute name of letters, digits and "-" in the ${where}`);
      return [name, a.slice(eq + 1)];
    });
  };

  for (const [name, raw] of split(pathPart, ';', 'path')) {
    if (!PATH_VALUE.test(raw)) throw bad(`the value of path attribute ${name} has a character RFC 7512 does not allow unescaped`);
    // RFC 7512 §2.3: an attribute MUST NOT appear more than once in the path.
    if (seen.has(name)) throw bad(`path attribute ${name} appears twice`);
    seen.add(name);
    if (Object.hasOwn(TEXT_PATH_ATTRS, name)) {
      uri[TEXT_PATH_ATTRS[name as keyof typeof TEXT_PATH_ATTRS]] = pctDecodeText(raw, name);
    } else if (name === 'id') {
      uri.id = pctDecode(raw);
    } else if (name === 'type') {
      const t = pctDecodeText(raw, name);
      if (!OBJECT_TYPES.includes(t)) throw bad(`expected type public, private, cert, secret-key or data, got ${JSON.stringify(t.slice(0, 32))}`);
      uri.type = t as Pkcs11ObjectType;
    } else if (name === 'slot-id') {
      const t = pctDecodeText(raw, name);
      // CK_SLOT_ID is a CK_ULONG; decimal without leading zeros, bounded to what a JS number holds exactly.
      if (!/^(0|[1-9][0-9]{0,14})$/.test(t)) throw bad('expected slot-id as a decimal number');
      uri.slotId = Number(t);
    } else {
      uri.unknownPath.push(name);
    }
  }

  if (queryPart !== undefined) {
    const qseen = new Set<string>();
    for (const [name, raw] of split(queryPart, '&', 'query')) {
      if (!QUERY_VALUE.test(raw)) throw bad(`the value of query attribute ${name} has a character RFC 7512 does not allow unescaped`);
      if (name === 'pin-value') {
        throw new UsageError('ERR_PKCS11_PIN_IN_URI', 'a pkcs11: URI with pin-value is refused: the PIN would sit in argv and shell history');
      }
      if (name !== 'pin-source' && name !== 'module-path') continue; // §2.3: unknown query attributes are ignored
      if (qseen.has(name)) throw bad(`query attribute ${name} appears twice`);
      qseen.add(name);
      const v = pctDecodeText(raw, name);
      if (v === '' || v.includes('\0')) throw bad(`expected a non-empty ${name}`);
      if (name === 'module-path') {
        uri.modulePath = v;
      } else {
        uri.pinSource = pinSourcePath(v);
      }
    }
  }
  return uri;
}

/** pinSourcePath turns `file:pin.txt` / `file:/abs` / `file:///abs` into a path; other schemes are refused. */
function pinSourcePath(v: string): string {
  if (!/^file:/i.test(v)) {
    throw bad('expected pin-source=file:PATH (a PIN file); other PIN sources are not supported');
  }
  let p = v.slice('file:'.length);
  // RFC 8089: file:///abs/path has an empty authority; file://host/… names another host, which we refuse.
  if (p.startsWith('//')) {
    if (!p.startsWith('///')) throw bad('expected pin-source=file:///PATH or file:PATH; a host in a file: URI is not supported');
    p = p.slice(2);
  }
  if (p === '') throw bad('expected a path after pin-source=file:');
  return p;
}

/** formatPkcs11Uri renders the path attributes token, object and id (what keygen records), percent-encoding values. */
export function formatPkcs11Uri(u: { token?: string | undefined; object?: string | undefined; id?: Uint8Array | undefined; type?: Pkcs11ObjectType | undefined }): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  const parts: string[] = [];
  if (u.token !== undefined) parts.push(`token=${enc(u.token)}`);
  if (u.object !== undefined) parts.push(`object=${enc(u.object)}`);
  if (u.id !== undefined) parts.push(`id=${Array.from(u.id, (b) => '%' + b.toString(16).padStart(2, '0').toUpperCase()).join('')}`);
  if (u.type !== undefined) parts.push(`type=${u.type}`);
  return 'pkcs11:' + parts.join(';');
}
