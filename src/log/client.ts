/**
 * log/client — an HTTP client for a C2SP tlog-tiles log (and Custody's `POST add`): fetch the checkpoint, tiles and
 * entry bundles, submit entries.
 *
 * Trust boundary: everything fetched is untrusted. This module only transports and bounds it (size caps before
 * reading, exact tile lengths); the checkpoint is verified by the caller with the log key (note/), tiles are
 * authenticated against that checkpoint by `tileHashReader`, and entries by their leaf hashes in level-0 tiles.
 * A partial tile that the log no longer serves falls back to the full tile, truncated (c2sp.org/tlog-tiles: clients
 * "MAY fetch the full tile in parallel as a fallback").
 */
import { decodeBase64 } from '../encoding/bytes.ts';
import { isJsonObject, parseJson, type JsonValue } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { FormatError, IoError, errorFromCode, isErrorCode, isTrustError, type TrustError } from '../errors.ts';
import { httpGet, readCapped } from '../io/http-client.ts';
import { HASH_BYTES } from '../tlog/merkle.ts';
import {
  ENTRY_BUNDLE_LEVEL,
  MAX_ENTRY_BUNDLE_BYTES,
  TILE_WIDTH,
  formatTilePath,
  parseEntryBundle,
  tileReaderFunc,
  type Tile,
  type TileReader,
} from '../tlog/tile.ts';

/** MAX_CHECKPOINT_BYTES caps a fetched checkpoint note (signed-note notes are small; many cosignatures fit). */
export const MAX_CHECKPOINT_BYTES = 64 * 1024;

/** MAX_ADD_RESPONSE_BYTES caps the JSON answer of POST add. */
export const MAX_ADD_RESPONSE_BYTES = 256 * 1024;

/** LogClientOptions configures a {@link LogClient}. */
export interface LogClientOptions {
  /** timeoutMs bounds each request, and any silence within it (default 30,000 ms). */
  timeoutMs?: number;
  /** concurrency bounds parallel tile fetches (default 8). */
  concurrency?: number;
}

/** AddResponse is the answer of `POST <prefix>/add`. */
export interface AddResponse {
  index: number;
  checkpoint: string;
  proof: Uint8Array[];
}

/** LogClient talks to one log at `prefix` (e.g. `http://127.0.0.1:8080/log`). */
export class LogClient {
  readonly prefix: string;
  readonly #o: Required<LogClientOptions>;

  constructor(prefix: string, options: LogClientOptions = {}) {
    let u: URL;
    try {
      u = new URL(prefix);
    } catch (e) {
      throw new FormatError('ERR_FORMAT_SCHEMA', `expected a log URL such as http://host:port/log, got ${JSON.stringify(prefix)}`, {
        cause: e,
      });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new FormatError('ERR_FORMAT_SCHEMA', `expected an http or https log URL, got ${u.protocol}`);
    }
    this.prefix = prefix.replace(/\/+$/, '');
    this.#o = { timeoutMs: options.timeoutMs ?? 30_000, concurrency: options.concurrency ?? 8 };
  }

  /**
   * get fetches `<prefix>/<path>` and returns status and body (bounded by maxBytes), over io/http-client like the
   * provider client: timers that always fire, and redirects not followed (a 3xx is an answer like any non-200).
   */
  async #get(
    path: string,
    maxBytes: number,
    init: { method?: 'POST'; headers?: Record<string, string>; body?: Uint8Array } = {},
  ): Promise<{ status: number; body: Uint8Array; type: string }> {
    const url = new URL(`${this.prefix}/${path}`);
    const a = await httpGet(url, { stallMs: this.#o.timeoutMs, deadline: Date.now() + this.#o.timeoutMs, ...init });
    const body = await readCapped(a, maxBytes, url, 'answer');
    const type = a.headers['content-type'];
    return { status: a.status, body, type: typeof type === 'string' ? type : '' };
  }

  /** fetchCheckpoint returns the raw checkpoint note text (unverified). */
  async fetchCheckpoint(): Promise<string> {
    const r = await this.#get('checkpoint', MAX_CHECKPOINT_BYTES);
    if (r.status !== 200) throw httpError(`${this.prefix}/checkpoint`, r);
    return decodeText(r.body, 'checkpoint');
  }

  /**
   * fetchTile returns the data of one tile (hash tile: exactly width × 32 bytes; entry bundle: the raw bundle).
   * A missing partial tile falls back to the full tile, truncated to the requested width.
   */
  async fetchTile(tile: Tile): Promise<Uint8Array> {
    const bundle = tile.level === ENTRY_BUNDLE_LEVEL;
    const max = bundle ? MAX_ENTRY_BUNDLE_BYTES : TILE_WIDTH * HASH_BYTES;
    const path = formatTilePath(tile);
    let r = await this.#get(path, max);
    if (r.status === 404 && tile.width < TILE_WIDTH) {
      const full = await this.#get(formatTilePath({ ...tile, width: TILE_WIDTH }), max);
      if (full.status === 200) r = full;
    }
    if (r.status !== 200) throw httpError(`${this.prefix}/${path}`, r);
    if (bundle) {
      // A full bundle fetched as a fallback holds more entries than asked for; keep the first `width`.
      const entries = parseEntryBundle(r.body);
      if (entries.length < tile.width) {
        throw new FormatError('ERR_TLOG_ENTRY_BUNDLE', `${path}: expected ${tile.width} entries, got ${entries.length}`);
      }
      if (entries.length === tile.width) return r.body;
      let end = 0;
      for (let i = 0; i < tile.width; i++) end += 2 + entries[i]!.length;
      return r.body.subarray(0, end);
    }
    if (r.body.length < tile.width * HASH_BYTES) {
      throw new IoError('ERR_LOG_RESPONSE', `${path}: expected ${tile.width * HASH_BYTES} bytes, got ${r.body.length}`);
    }
    return r.body.subarray(0, tile.width * HASH_BYTES);
  }

  /** tileReader adapts fetchTile to a {@link TileReader} with bounded concurrency. */
  tileReader(): TileReader {
    return tileReaderFunc((tiles) => mapLimit(tiles, this.#o.concurrency, (t) => this.fetchTile(t)));
  }

  /** fetchEntries returns the entries [start, end) of a tree of `size` records from its entry bundles (unverified). */
  async fetchEntries(start: number, end: number, size: number): Promise<Uint8Array[]> {
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start <= end && end <= size)) {
      throw new FormatError('ERR_TLOG_RANGE', `expected 0 ≤ start ≤ end ≤ ${size}, got [${start}, ${end})`);
    }
    const first = Math.floor(start / TILE_WIDTH);
    const tiles: Tile[] = [];
    for (let n = first; n * TILE_WIDTH < end; n++) {
      tiles.push({ level: ENTRY_BUNDLE_LEVEL, index: n, width: Math.min(TILE_WIDTH, size - n * TILE_WIDTH) });
    }
    const bundles = await mapLimit(tiles, this.#o.concurrency, (t) => this.fetchTile(t));
    const out: Uint8Array[] = [];
    bundles.forEach((b, k) => {
      const t = tiles[k]!;
      parseEntryBundle(b, t.width).forEach((e, i) => {
        const idx = t.index * TILE_WIDTH + i;
        if (idx >= start && idx < end) out.push(e);
      });
    });
    return out;
  }

  /** add submits an entry with a bearer token and returns the log's answer (unverified). */
  async add(entry: Uint8Array, token: string): Promise<AddResponse> {
    const r = await this.#get('add', MAX_ADD_RESPONSE_BYTES, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: entry,
    });
    if (r.status !== 200) throw httpError(`${this.prefix}/add`, r);
    return parseAddResponse(r.body, `${this.prefix}/add`);
  }
}

/**
 * parseAddResponse checks the (untrusted) answer of `POST add` with the strict JSON parser: an object with a
 * non-negative safe-integer `index`, a string `checkpoint` and `proof`, an array of at most 64 base64 hashes.
 * Anything else is ERR_LOG_RESPONSE, never a raw TypeError.
 */
export function parseAddResponse(body: Uint8Array, url: string): AddResponse {
  let j: JsonValue;
  try {
    j = parseJson(body, { maxBytes: MAX_ADD_RESPONSE_BYTES, maxDepth: 8, what: 'add response' });
  } catch (e) {
    throw new IoError('ERR_LOG_RESPONSE', `${url}: the add response is not JSON: ${isTrustError(e) ? e.message : 'unreadable'}`, {
      cause: e,
      details: isTrustError(e) ? { parseCode: e.code } : {},
    });
  }
  const shape = 'expected {"index": n, "checkpoint": "…", "proof": ["<base64>", …]} in the add response';
  if (!isJsonObject(j)) throw new IoError('ERR_LOG_RESPONSE', `${url}: ${shape}, got ${j === null ? 'null' : Array.isArray(j) ? 'an array' : typeof j}`);
  const { index, checkpoint, proof } = j;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || typeof checkpoint !== 'string' || !Array.isArray(proof) || proof.length > MAX_ADD_PROOF_HASHES) {
    throw new IoError('ERR_LOG_RESPONSE', `${url}: ${shape}`);
  }
  const hashes = proof.map((p, i) => {
    if (typeof p !== 'string') throw new IoError('ERR_LOG_RESPONSE', `${url}: proof[${i}] is not a string`);
    try {
      return decodeBase64(p, HASH_BYTES, 'proof hash');
    } catch (e) {
      throw new IoError('ERR_LOG_RESPONSE', `${url}: proof[${i}] is not a base64 SHA-256 hash`, { cause: e });
    }
  });
  return { index, checkpoint, proof: hashes };
}

/** MAX_ADD_PROOF_HASHES bounds an inclusion proof (a tree of 2^63 leaves needs 63 hashes). */
const MAX_ADD_PROOF_HASHES = 64;

function decodeText(b: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch (e) {
    throw new FormatError('ERR_FORMAT_UTF8', `${what} is not UTF-8`, { cause: e });
  }
}

/** ERROR_BODY_MAX_BYTES: a refusal body longer than this is not parsed for a code. */
const ERROR_BODY_MAX_BYTES = 64 * 1024;

/**
 * httpError turns a non-200 answer into a coded error, keeping the server's code when it sent one. The body goes
 * through the strict parser and the message is stripped of control characters (it is attacker-chosen text).
 */
function httpError(url: string, r: { status: number; body: Uint8Array; type: string }): TrustError {
  let code: string | undefined;
  let message = '';
  if (r.type.startsWith('application/json') && r.body.length <= ERROR_BODY_MAX_BYTES) {
    try {
      const j = parseJson(r.body, { maxBytes: ERROR_BODY_MAX_BYTES, maxDepth: 8, what: 'error answer' });
      if (isJsonObject(j)) {
        if (typeof j.code === 'string') code = printable(j.code, 80);
        if (typeof j.message === 'string') message = printable(j.message);
      }
    } catch {
      /* not our JSON: fall through */
    }
  }
  const details = { status: r.status, url, ...(code === undefined ? {} : { serverCode: code }) };
  // A log or witness refusal keeps its own code and hint (and class), so `custody` reports e.g. ERR_LOG_UNAUTHORIZED
  // with the right advice. Only ERR_LOG_* / ERR_WITNESS_* codes are taken from the (untrusted) server; anything
  // else stays ERR_LOG_RESPONSE.
  if (code !== undefined && /^ERR_(LOG|WITNESS)_[A-Z_]+$/.test(code) && isErrorCode(code)) {
    return errorFromCode(code, `${url}: ${message || code}`.slice(0, 500), { details });
  }
  if (r.status === 404) return new IoError('ERR_LOG_TILE_NOT_FOUND', `${url}: not found${message ? ` (${message})` : ''}`, { details });
  return new IoError('ERR_LOG_RESPONSE', `${url}: HTTP ${r.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`, { details });
}

/** mapLimit maps with at most `limit` calls in flight, keeping order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
