/**
 * server/ui/plugin — the operator dashboard's HTTP face (docs/dashboard.md): the static files at `/ui/` under a
 * strict Content-Security-Policy (W3C CSP Level 3: `default-src 'self'`, no inline script or style, same-origin
 * connections only, no framing), and the few JSON read routes the pages need beside the provider's own:
 * ```
 * GET /ui/, /ui/app.js, /ui/app.css, /ui/favicon.svg  the dashboard (from memory; ETag, no-cache)
 * GET /ui/api/log/proof?index=N&size=S      {"index", "size", "entry": "<b64>", "proof": ["<b64>", …]}: entry N and
 *                                             its RFC 6962 inclusion proof in the tree of S entries (S ≤ published)
 * GET /ui/api/log/consistency?from=A&to=B   {"from", "to", "proof": ["<b64>", …]}: RFC 6962 consistency proof
 * GET /admin/v1/audit/events?limit=N        admin: the newest N (≤ 1000) audit records, JSON Lines as on disk
 * ```
 * The page trusts none of these answers: it recomputes leaf hashes from the entry bytes and verifies every proof
 * against a checkpoint it opened with the pinned log key; audit records are re-hashed and chained in the browser.
 *
 * Trust boundary: query strings are attacker-controlled: numbers are parsed strictly and bounded by the published
 * tree size before any storage read.
 */
import { promises as fsp } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { encodeBase64 } from '../../encoding/bytes.ts';
import { IoError, UsageError } from '../../errors.ts';
import { proveConsistencyAsync, proveInclusionAsync } from '../../tlog/merkle.ts';
import { authorizeBeforeBody, bearerCheck } from '../http.ts';
import type { UiAsset } from './assets.ts';

/** UI_CSP is the Content-Security-Policy of every /ui/ response. */
export const UI_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** AUDIT_EVENTS_MAX is the most audit records one request returns; AUDIT_TAIL_MAX_BYTES the most bytes read. */
export const AUDIT_EVENTS_MAX = 1000;
const AUDIT_TAIL_MAX_BYTES = 4 * 1024 * 1024;

/** UiLogBackend is what the proof routes read of the log. */
export interface UiLogBackend {
  /** publishedSize is the size of the newest published checkpoint. */
  publishedSize(): number;
  readHashes(indexes: readonly number[]): Promise<Uint8Array[]>;
  readEntries(start: number, end: number): Promise<Uint8Array[]>;
}

/** UiPluginOptions configure {@link uiPlugin}. */
export interface UiPluginOptions {
  /** assets are the dashboard's files, or why there are none. */
  assets: Map<string, UiAsset> | { error: string };
  log: UiLogBackend;
  /** auditPath is the daemon's audit.jsonl. */
  auditPath: string;
  tokens: readonly Uint8Array[];
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** parseCount reads a decimal query parameter in [0, max]. */
function parseCount(v: unknown, name: string, max: number): number {
  if (typeof v !== 'string' || !/^(?:0|[1-9][0-9]{0,15})$/.test(v) || Number(v) > max) {
    throw new UsageError('ERR_USAGE_ARGUMENT', `${name} must be a decimal integer from 0 to ${max}`);
  }
  return Number(v);
}

/** uiPlugin registers the dashboard routes (mount at the root). */
export function uiPlugin(app: FastifyInstance, o: UiPluginOptions): Promise<void> {
  const send = (reply: FastifyReply, a: UiAsset, ifNoneMatch: string | undefined): FastifyReply => {
    reply.headers({ ...SECURITY_HEADERS, 'cache-control': 'no-cache', etag: a.etag });
    if (ifNoneMatch === a.etag) return reply.code(304).send();
    return reply.type(a.type).send(a.body);
  };
  const serve = (name: string) => (req: { headers: { 'if-none-match'?: string | undefined } }, reply: FastifyReply) => {
    if (!(o.assets instanceof Map)) {
      throw new IoError('ERR_PROVIDER_NOT_FOUND', `the dashboard is not available: ${o.assets.error}`, {
        hint: 'run `npm run build` (it writes dist/ui/) or start the daemon from a checkout with its dev dependencies installed',
      });
    }
    const a = o.assets.get(name);
    if (a === undefined) throw new IoError('ERR_PROVIDER_NOT_FOUND', `no such dashboard file: ${name.slice(0, 64)}`);
    return send(reply, a, req.headers['if-none-match']);
  };
  app.get('/ui', (_req, reply) => reply.redirect('/ui/', 308));
  app.get('/ui/', serve('index.html'));
  for (const name of ['app.js', 'app.css', 'favicon.svg']) app.get(`/ui/${name}`, serve(name));

  app.get('/ui/api/log/proof', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const published = o.log.publishedSize();
    const size = parseCount(q.size, 'size', published);
    const index = parseCount(q.index, 'index', Math.max(0, size - 1));
    if (index >= size) throw new UsageError('ERR_USAGE_ARGUMENT', `index ${index} is not in a tree of ${size} entries`);
    const [entry] = await o.log.readEntries(index, index + 1);
    const proof = await proveInclusionAsync(index, size, { readHashes: (ix) => o.log.readHashes(ix) });
    return reply
      .header('cache-control', 'public, max-age=31536000, immutable')
      .send({ index, size, entry: encodeBase64(entry ?? new Uint8Array()), proof: proof.map(encodeBase64) });
  });

  app.get('/ui/api/log/consistency', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const to = parseCount(q.to, 'to', o.log.publishedSize());
    const from = parseCount(q.from, 'from', to);
    const proof = from === 0 || from === to ? [] : await proveConsistencyAsync(from, to, { readHashes: (ix) => o.log.readHashes(ix) });
    return reply.header('cache-control', 'public, max-age=31536000, immutable').send({ from, to, proof: proof.map(encodeBase64) });
  });

  const authorize = authorizeBeforeBody(bearerCheck(o.tokens, 'ERR_PROVIDER_UNAUTHORIZED'));
  app.get('/admin/v1/audit/events', { preParsing: authorize }, async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const limit = q.limit === undefined ? 200 : parseCount(q.limit, 'limit', AUDIT_EVENTS_MAX);
    return reply.header('cache-control', 'no-store').type('application/jsonl; charset=utf-8').send(await auditTail(o.auditPath, limit));
  });
  return Promise.resolve();
}

/** auditTail returns the last `limit` complete lines of the audit file (reading at most AUDIT_TAIL_MAX_BYTES). */
async function auditTail(path: string, limit: number): Promise<string> {
  const fh = await fsp.open(path, 'r');
  try {
    const { size } = await fh.stat();
    const n = Math.min(size, AUDIT_TAIL_MAX_BYTES);
    const buf = Buffer.alloc(n);
    await fh.read(buf, 0, n, size - n);
    let text = buf.toString('utf8');
    if (n < size) text = text.slice(text.indexOf('\n') + 1);
    // Only complete lines: a record being appended has no newline yet.
    text = text.slice(0, text.lastIndexOf('\n') + 1);
    const lines = text.split('\n').slice(0, -1);
    return lines.slice(-limit).map((l) => l + '\n').join('');
  } finally {
    await fh.close();
  }
}
