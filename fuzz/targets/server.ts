/**
 * fuzz/targets/server — the daemon's HTTP request bodies (in-process through fastify `inject`, fastify Testing.md)
 * and the fetch client's parsing of provider answers (src/client/provider-client.ts), against a real daemon with
 * one published release.
 */
import { createServer, type Server } from 'node:http';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { fetchRelease } from '../../src/client/provider-client.ts';
import { sha256 } from '../../src/crypto/index.ts';
import { isErrorCode } from '../../src/errors.ts';
import { startDaemon, type RunningDaemon } from '../../src/server/daemon.ts';
import { parseRoot, verifyPinnedRoot, rootFingerprint } from '../../src/trust/root.ts';
import { jsonFieldMutations } from '../structured.ts';
import { dec, enc, type FuzzTarget, type TargetContext } from '../target.ts';

const hex = (b: Uint8Array): string => Buffer.from(sha256(b)).toString('hex');
const BLOB = enc.encode('the fuzz artifact\n');

async function daemon(ctx: TargetContext): Promise<{ d: RunningDaemon; auth: Record<string, string> }> {
  const d = await startDaemon({ dataDir: join(ctx.tmpDir, 'daemon'), host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), rateLimitPerIp: 0 });
  const auth = { authorization: `Bearer ${dec.decode(d.identity.token)}` };
  const put = await d.app.inject({ method: 'PUT', url: `/admin/v1/blobs/sha256/${hex(BLOB)}`, headers: auth, payload: Buffer.from(BLOB) });
  if (put.statusCode >= 300) throw new Error(`fuzz daemon: blob upload failed: ${put.body}`);
  const rel = await d.app.inject({ method: 'POST', url: '/admin/v1/releases/stable/x86_64', headers: { ...auth, 'content-type': 'application/json' }, payload: releaseBody() });
  if (rel.statusCode !== 200) throw new Error(`fuzz daemon: release failed: ${rel.body}`);
  return { d, auth };
}

function releaseBody(): string {
  return JSON.stringify({ artifacts: { app: { filename: 'app.bin', sha256: hex(BLOB) } }, version: '1.0.0', validity_s: 86_400 });
}

const ROUTES = ['release', 'blob', 'blob-any', 'log-add', 'get'] as const;

/**
 * http: byte 0 picks the route, the rest is the body (or the path, for GET). The oracle: every answer is a 2xx/3xx,
 * or an error whose JSON names one of our codes; a 5xx from an uncoded error (ERR_HTTP_INTERNAL) is a finding.
 */
export const http: FuzzTarget = {
  name: 'http',
  parses: 'daemon request bodies (fastify inject: releases, blobs, log add, paths)',
  async make(ctx) {
    const { d, auth } = await daemon(ctx);
    const seed = (route: number, body: string | Uint8Array): Uint8Array => Buffer.concat([Uint8Array.of(route), typeof body === 'string' ? enc.encode(body) : body]);
    const seeds = [seed(0, releaseBody()), seed(1, BLOB), seed(3, 'log entry'), seed(4, 'stable/x86_64/manifest.json'), seed(4, 'trust/root.json'), seed(4, `blobs/sha256/${hex(BLOB)}`)];
    return {
      seeds,
      structured: jsonFieldMutations([JSON.parse(releaseBody()) as never]).map((b) => seed(0, b)),
      async run(input: Uint8Array) {
        const route = ROUTES[(input[0] ?? 0) % ROUTES.length]!;
        const body = Buffer.from(input.subarray(1));
        let r;
        switch (route) {
          case 'release':
            r = await d.app.inject({ method: 'POST', url: '/admin/v1/releases/stable/x86_64', headers: { ...auth, 'content-type': 'application/json' }, payload: body });
            break;
          case 'blob':
          case 'blob-any':
            r = await d.app.inject({ method: 'PUT', url: `/admin/v1/blobs/sha256/${route === 'blob' ? hex(body) : '0'.repeat(64)}`, headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: body });
            break;
          case 'log-add':
            r = await d.app.inject({ method: 'POST', url: '/log/add', headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: body });
            break;
          case 'get': {
            // Percent-encoded where a URL parser would rewrite it (inject parses the URL; a socket would not).
            const path = Array.from(body.subarray(0, 300), (b) => (b > 0x20 && b < 0x7f && b !== 0x25 && b !== 0x23 && b !== 0x3f && b !== 0x5c ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');
            r = await d.app.inject({ method: 'GET', url: `/${path}` });
            break;
          }
        }
        if (r.statusCode < 400) return r.statusCode;
        let code: unknown;
        try {
          code = (JSON.parse(r.body) as { code?: unknown }).code;
        } catch {
          code = undefined;
        }
        if (r.statusCode >= 500 && (code === 'ERR_HTTP_INTERNAL' || code === 'ERR_INTERNAL' || code === undefined)) {
          throw new Error(`${route}: answered ${r.statusCode} ${String(code)}: an uncoded error inside the route`);
        }
        if (typeof code !== 'string' || !isErrorCode(code)) throw new Error(`${route}: answered ${r.statusCode} without a known code: ${r.body.slice(0, 200)}`);
        return r.statusCode;
      },
      close: () => d.close(),
    };
  },
};

const ANSWERS = ['trust/root.json', 'trust/2.root.json', 'stable/x86_64/manifest.json', 'stable/x86_64/manifest.json.tlog-proof', 'blobs/sha256/'] as const;
const STATUSES = [200, 200, 200, 404, 416, 429, 400, 206];

/**
 * provider-answers: a loopback proxy in front of the daemon replaces one answer (byte 0 picks which, byte 1 its
 * status) with the rest of the input; fetchRelease must finish or refuse with a code.
 */
export const providerAnswers: FuzzTarget = {
  name: 'provider-answers',
  parses: 'provider answers parsed by the fetch client (root, manifest, proof, blobs, error bodies)',
  async make(ctx) {
    const { d } = await daemon(ctx);
    let fuzzed: { path: string; status: number; body: Uint8Array } | undefined;
    const server: Server = createServer((req, res) => {
      const url = req.url ?? '/';
      if (fuzzed !== undefined && url.slice(1).startsWith(fuzzed.path)) {
        res.writeHead(fuzzed.status, { 'content-type': 'application/octet-stream', 'content-length': fuzzed.body.length });
        res.end(fuzzed.body);
        return;
      }
      void upstream(url).then((r) => {
        res.writeHead(r.status, { 'content-type': r.type });
        res.end(r.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    // The read path is served by the daemon's own request handler in front of fastify: asked over loopback.
    const upstream = async (url: string): Promise<{ status: number; type: string; body: Uint8Array }> => {
      const r = await fetch(d.url + url);
      return { status: r.status, type: r.headers.get('content-type') ?? 'application/octet-stream', body: new Uint8Array(await r.arrayBuffer()) };
    };
    const addr = server.address();
    const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
    const rootBytes = (await upstream('/trust/root.json')).body;
    const pinned = verifyPinnedRoot(parseRoot(rootBytes), { now: new Date() });
    const fingerprint = rootFingerprint(rootBytes);
    const seeds: Uint8Array[] = [];
    for (const [i, p] of ANSWERS.entries()) {
      const r = await upstream(`/${p}${p.endsWith('/') ? hex(BLOB) : ''}`);
      seeds.push(Buffer.concat([Uint8Array.of(i, 0), r.body]));
    }
    seeds.push(Buffer.concat([Uint8Array.of(2, 3), enc.encode('{"ok":false,"code":"ERR_PROVIDER_NOT_FOUND","message":"x"}')]));
    let n = 0;
    return {
      seeds,
      async run(input: Uint8Array) {
        const which = (input[0] ?? 0) % ANSWERS.length;
        fuzzed = { path: ANSWERS[which]!, status: STATUSES[(input[1] ?? 0) % STATUSES.length]!, body: input.subarray(2) };
        const outputDir = join(ctx.tmpDir, `out-${n++}`);
        try {
          return await fetchRelease({
            providers: [base],
            channel: 'stable',
            arch: 'x86_64',
            trust: (input[1] ?? 0) & 8 ? { fingerprint } : { root: pinned },
            requireLog: d.vkey,
            outputDir,
            now: () => new Date(),
            timeoutMs: 5_000,
          });
        } finally {
          fuzzed = undefined;
          await fsp.rm(outputDir, { recursive: true, force: true });
        }
      },
      async close() {
        await new Promise<void>((r) => server.close(() => r()));
        await d.close();
      },
    };
  },
};
