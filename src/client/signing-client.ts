/**
 * client/signing-client — a library client of the signing API of `custody serve` (docs/signing-api.md): POST
 * /v1/sign, POST /v1/verify, GET /v1/transparency/{id}, GET /v1/keys/keyless-ca.pem, with a Custody API token, an
 * identity token or an OIDC JWT as the bearer. Used by `custody sign-remote` and `custody verify-remote`.
 *
 * Errors: a refusal of the daemon (`{"ok": false, "code", "message"}`) and a verification answering
 * `{"valid": false, "code", "reason"}` are rethrown as Custody's own coded errors when the code is one of ours
 * (`errorFromCode`: same class, exit code and hint as if the check had run here; the server's text is escaped),
 * else ERR_PROVIDER_RESPONSE. Network failures are ERR_IO_NETWORK.
 *
 * Trust boundary: the daemon is the caller's choice but its answers are read with a cap and the strict JSON parser.
 * A "valid" answer is the daemon's word: a client that must not trust the daemon verifies the envelope and the
 * inclusion proof itself (the answer carries both). The token is sent only as a bearer header, never logged.
 */
import { isJsonObject, parseJsonObject, type JsonObject } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { IoError, UsageError, errorFromCode, isErrorCode, isTrustError } from '../errors.ts';
import { httpGet, readCapped } from '../io/http-client.ts';

/** SIGNING_ANSWER_MAX_BYTES caps an answer (a verify answer carries an envelope, certificates and a proof). */
export const SIGNING_ANSWER_MAX_BYTES = 4 * 1024 * 1024;

/** SigningClientOptions configure {@link SigningClient}. */
export interface SigningClientOptions {
  /** url is the daemon's base URL (http://host:port); the API is under /v1. */
  url: string;
  /** token is the bearer: `custody_…`, an identity token, or an OIDC JWT. */
  token?: string | undefined;
  /** timeoutMs bounds each request (default 60,000: a sign waits for the log's checkpoint). */
  timeoutMs?: number;
}

/** SignRequest is Certus's SignRequest. */
export interface SignRequest {
  artifact: string;
  artifact_type: 'image' | 'sbom' | 'report' | 'assessment';
  subject?: string;
  predicates?: JsonObject;
}

/** VerifyRequest is Certus's VerifyRequest with Custody's additions (docs/signing-api.md). */
export interface VerifyRequest {
  artifact: string;
  signature?: string;
  certificate?: string | null;
  identity?: string;
  public_key?: string;
  require_inclusion?: boolean;
  certificate_identity?: string;
  certificate_identity_regexp?: string;
  certificate_oidc_issuer?: string;
  certificate_oidc_issuer_regexp?: string;
}

/** SignAnswer is the 202 answer of POST /v1/sign (fields the client relies on; the rest is kept in `raw`). */
export interface SignAnswer {
  entry_id: string;
  signature: string;
  certificate: string | null;
  key_id: string;
  transparency_entry: { uuid: string; index: number; timestamp: string };
  raw: JsonObject;
}

/** VerifyAnswer is a `valid: true` answer of POST /v1/verify. */
export interface VerifyAnswer {
  valid: true;
  signer: string | null;
  transparency_index: number | null;
  entry_id: string | null;
  raw: JsonObject;
}

/** SigningClient calls one daemon's signing API. */
export class SigningClient {
  readonly #base: URL;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(o: SigningClientOptions) {
    try {
      this.#base = new URL(o.url.endsWith('/') ? o.url : o.url + '/');
    } catch (e) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `expected the daemon's URL, got ${JSON.stringify(o.url.slice(0, 200))}`, { cause: e });
    }
    if (this.#base.protocol !== 'http:' && this.#base.protocol !== 'https:') throw new UsageError('ERR_USAGE_ARGUMENT', 'the daemon URL must be http or https');
    this.#token = o.token;
    this.#timeoutMs = o.timeoutMs ?? 60_000;
  }

  /** sign asks the daemon to sign and log a statement about `artifact` (scope sign). */
  async sign(req: SignRequest): Promise<SignAnswer> {
    const j = await this.#call('POST', 'v1/sign', req);
    const te = j['transparency_entry'];
    if (typeof j['entry_id'] !== 'string' || typeof j['signature'] !== 'string' || typeof j['key_id'] !== 'string' || !isJsonObject(te) || typeof te['index'] !== 'number') {
      throw new IoError('ERR_PROVIDER_RESPONSE', `${this.#base.href}v1/sign: the answer lacks entry_id, signature, key_id or transparency_entry`);
    }
    const cert = j['certificate'];
    return {
      entry_id: j['entry_id'],
      signature: j['signature'],
      certificate: typeof cert === 'string' ? cert : null,
      key_id: j['key_id'],
      transparency_entry: { uuid: typeof te['uuid'] === 'string' ? te['uuid'] : '', index: te['index'], timestamp: typeof te['timestamp'] === 'string' ? te['timestamp'] : '' },
      raw: j,
    };
  }

  /** verify asks the daemon to verify (scope verify); a `valid: false` answer is thrown as its coded error. */
  async verify(req: VerifyRequest): Promise<VerifyAnswer> {
    const j = await this.#call('POST', 'v1/verify', req);
    if (j['valid'] !== true) throw remoteError(j['code'], j['reason'], `${this.#base.href}v1/verify`);
    const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
    return {
      valid: true,
      signer: str(j['signer']),
      transparency_index: typeof j['transparency_index'] === 'number' ? j['transparency_index'] : null,
      entry_id: str(j['entry_id']),
      raw: j,
    };
  }

  /** transparencyEntry fetches a log entry's record with its inclusion proof (public). */
  transparencyEntry(entryId: string): Promise<JsonObject> {
    if (!/^[0-9a-f]{64}$/.test(entryId)) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected an entry id of 64 lowercase hex');
    return this.#call('GET', `v1/transparency/${entryId}?include_proof=true`);
  }

  /** keylessCa fetches the PEM of the daemon's keyless CA certificate (public). */
  async keylessCa(): Promise<string> {
    const u = new URL('v1/keys/keyless-ca.pem', this.#base);
    const a = await httpGet(u, { stallMs: this.#timeoutMs, deadline: Date.now() + this.#timeoutMs });
    const body = (await readCapped(a, 64 * 1024, u, 'CA certificate')).toString('utf8');
    if (a.status !== 200) throw new IoError('ERR_PROVIDER_RESPONSE', `${u.href}: HTTP ${a.status}`);
    return body;
  }

  async #call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<JsonObject> {
    const u = new URL(path, this.#base);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    let data: Uint8Array | undefined;
    if (body !== undefined) {
      data = new TextEncoder().encode(JSON.stringify(body));
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(data.length);
    }
    const a = await httpGet(u, { method, headers, ...(data === undefined ? {} : { body: data }), stallMs: this.#timeoutMs, deadline: Date.now() + this.#timeoutMs });
    const raw = await readCapped(a, SIGNING_ANSWER_MAX_BYTES, u, 'signing API answer');
    let j: JsonObject;
    try {
      j = parseJsonObject(raw, { maxBytes: SIGNING_ANSWER_MAX_BYTES, what: 'signing API answer', allowFloats: true });
    } catch (e) {
      throw new IoError('ERR_PROVIDER_RESPONSE', `${u.href}: HTTP ${a.status}, not a JSON object${isTrustError(e) ? ` (${e.message})` : ''}`, { cause: e });
    }
    if (a.status < 200 || a.status > 299) throw remoteError(j['code'], j['message'], u.href, a.status);
    return j;
  }
}

/** remoteError turns a daemon's coded refusal into ours (module comment). */
function remoteError(code: unknown, message: unknown, where: string, status?: number): Error {
  const text = typeof message === 'string' ? printable(message.slice(0, 1000)) : '';
  if (typeof code === 'string' && isErrorCode(code) && code !== 'ERR_INTERNAL') return errorFromCode(code, `${text} (${where})`, { details: { remote: where, ...(status === undefined ? {} : { status }) } });
  return new IoError('ERR_PROVIDER_RESPONSE', `${where}: ${status === undefined ? '' : `HTTP ${status} `}${typeof code === 'string' ? printable(code.slice(0, 80)) : 'no code'}: ${text}`);
}
