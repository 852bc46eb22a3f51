/**
 * fuzz/targets/server — the daemon's HTTP request bodies (in-process through fastify `inject`, fastify Testing.md)
 * and the fetch client's parsing of provider answers (src/client/provider-client.ts), against a real daemon with
 * one published release.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { LightMyRequestResponse } from 'fastify';
import { challengeMessage, createToken, registerIdentity } from '../../src/auth/auth.ts';
import { fetchRelease } from '../../src/client/provider-client.ts';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { encodeBase64 } from '../../src/encoding/bytes.ts';
import { formatCheckpoint } from '../../src/note/checkpoint.ts';
import { newCosigner } from '../../src/note/cosignature.ts';
import { newNoteSigner, newNoteVerifier, signNote } from '../../src/note/note.ts';
import { Witness } from '../../src/server/witness/witness.ts';
import { WitnessStore } from '../../src/server/witness/store.ts';
import { hashLeaf, hashChildren } from '../../src/tlog/merkle.ts';
import { isErrorCode } from '../../src/errors.ts';
import { startDaemon, type RunningDaemon } from '../../src/server/daemon.ts';
import { BlobStore } from '../../src/server/provider/blobs.ts';
import { parseSimpleRequest, responseHead } from '../../src/server/fast-http.ts';
import { createFrontServer } from '../../src/server/provider/front.ts';
import { ReadPath } from '../../src/server/provider/read-path.ts';
import { parseRoot, verifyPinnedRoot, rootFingerprint } from '../../src/trust/root.ts';
import fc from 'fast-check';
import { jsonFieldMutations, lineMutations } from '../structured.ts';
import { dec, enc, expectSame, type FuzzTarget, type TargetContext } from '../target.ts';

const hex = (b: Uint8Array): string => Buffer.from(sha256(b)).toString('hex');
const BLOB = enc.encode('the fuzz artifact\n');

async function daemon(ctx: TargetContext): Promise<{ d: RunningDaemon; auth: Record<string, string> }> {
  const d = await startDaemon({
    dataDir: join(ctx.tmpDir, 'daemon'),
    host: '127.0.0.1',
    port: 0,
    logger: pino({ level: 'silent' }),
    rateLimitPerIp: 0,
    signingRateLimitPerIp: 0,
    signingRateLimitPerToken: 0,
  });
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

/** FIN_WAIT_MS: how long exchange's `finAfter` waits for the bytes it expects before it half-closes anyway. */
const FIN_WAIT_MS = 1000;

/**
 * exchange writes `input` on a fresh connection and half-closes it, and returns all the server sent (`text`, with the
 * Date values blanked; `bytes`, its raw length). With `split`, it writes input[0, split.at) first and the rest only
 * once `split.bytes` have come back. With `finAfter`, it half-closes only once that many bytes have come back (or
 * FIN_WAIT_MS after its last write).
 */
async function exchange(port: number, input: Uint8Array, o: { split?: { at: number; bytes: number } | undefined; finAfter?: number | undefined } = {}): Promise<{ text: string; bytes: number }> {
  const { split, finAfter } = o;
  const s = connect(port, '127.0.0.1');
  const got: Buffer[] = [];
  let n = 0;
  let rest: (() => void) | undefined;
  let fin: (() => void) | undefined;
  let finTimer: NodeJS.Timeout | undefined;
  const send = (bytes: Uint8Array): void => {
    if (finAfter === undefined) {
      s.end(bytes);
      return;
    }
    s.write(bytes);
    fin = () => {
      clearTimeout(finTimer);
      fin = undefined;
      s.end();
    };
    finTimer = setTimeout(() => fin?.(), FIN_WAIT_MS);
    if (n >= finAfter) fin();
  };
  s.on('data', (c: Buffer) => {
    got.push(c);
    n += c.length;
    if (rest !== undefined && split !== undefined && n >= split.bytes) {
      rest();
      rest = undefined;
    }
    if (fin !== undefined && finAfter !== undefined && n >= finAfter) fin();
  });
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  if (split === undefined) send(input);
  else {
    rest = () => send(input.subarray(split.at));
    s.write(input.subarray(0, split.at));
  }
  await closed;
  clearTimeout(finTimer);
  const all = Buffer.concat(got);
  return {
    text: all
      .toString('latin1')
      .replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n')
      .replace(CLIENT_ERROR_AT_END, ''),
    bytes: all.length,
  };
}

/**
 * CLIENT_ERROR_AT_END is node:http's bare answer to bytes it cannot parse (400 Bad Request and the like), at the end
 * of what a connection got. node:http sends it only when no answer is being written at that moment, which depends on
 * timing alone (the same input to the same server gets it in one run and not in the next), so it is not compared.
 */
const CLIENT_ERROR_AT_END = /HTTP\/1\.1 4\d\d [A-Za-z ]+\r\nConnection: close\r\n\r\n$/;

/**
 * fast-front: the provider's public front (server/provider/front) with its fast path (server/fast-http) and without
 * it, over one daemon's release and blobs: the same bytes sent to both must get the same bytes back (a differential
 * oracle: the fast path answers only what node:http would answer the same way, and hands everything else over),
 * or — where node:http's own answer depends on how the bytes arrive — the bytes node:http sends when they arrive as
 * the fast path hands them over (run() says how).
 */
export const fastFront: FuzzTarget = {
  name: 'fast-front',
  parses: 'raw HTTP/1.1 request bytes read by the fast path of the provider front (server/fast-http), against node:http',
  async make(ctx) {
    const { d } = await daemon(ctx);
    // 0: the fast front; 1: node:http alone; 2: node:http reading its sockets as streams.
    const fronts = await Promise.all(
      (['fast', 'node', 'handed'] as const).map(async (kind) => {
        const readPath = new ReadPath({
          releases: d.releases,
          blobs: new BlobStore(join(ctx.tmpDir, 'daemon', 'blobs')),
          trust: { rootBytes: d.identity.rootBytes, rootDir: undefined },
          defaultRelease: { channel: 'stable', arch: 'x86_64' },
        });
        const server = createFrontServer({
          readPath,
          fallback: (req, res) => {
            req.resume();
            req.on('end', () => res.writeHead(404, ['content-type', 'text/plain', 'content-length', '1']).end('x'));
          },
          rateLimitPerIp: 0,
          rateLimitGlobal: 0,
          maxConnections: 64,
          maxConnectionsPerIp: 0,
          fastPath: kind === 'fast',
        });
        // node:http reads a socket that is marked consumed as stream data ('data' events), as it reads any stream given
        // to its 'connection' event — the way it reads a connection the fast path hands over, but without the hand-over.
        if (kind === 'handed') server.prependListener('connection', (socket: { _handle?: { _consumed?: boolean } }) => void (socket._handle !== undefined && (socket._handle._consumed = true)));
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        return { server, readPath };
      }),
    );
    const ports = fronts.map((f) => (f.server.address() as AddressInfo).port);
    const blob = `/blobs/sha256/${hex(BLOB)}`;
    const req = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: h\r\n${extra}\r\n`;
    const texts = [
      req('/stable/x86_64/manifest.json') + req('/manifest.json', 'Accept: */*\r\nConnection: keep-alive\r\n'),
      req(blob) + req(blob) + req('/stable/x86_64/app.bin') + `HEAD ${blob} HTTP/1.1\r\nHost: h\r\n\r\n`,
      req('/trust/root.json') + req('/stable/x86_64/manifest.json.tlog-proof') + req(blob, 'Range: bytes=1-2\r\n') + req('/manifest.json'),
      req('/manifest.json') + 'POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab' + req('/manifest.json'),
      req('/stable/x86_64/nope') + req('/%73table/x86_64/manifest.json?x=1') + 'GET / HTTP/1.0\r\n\r\n',
    ];
    return {
      seeds: texts.map((t) => enc.encode(t)),
      structured: lineMutations(texts),
      async run(input: Uint8Array) {
        const fast = await exchange(ports[0]!, input);
        const a = fast.text;
        let b = (await exchange(ports[1]!, input)).text;
        if (a !== b) {
          // node:http's own answers depend on how bytes reach it. Bytes that follow a request in the same read are
          // parsed while that request is answered (bytes it cannot parse then get no 400, an HTTP/0.9 line no
          // answer); and a connection handed over (bytes given back to the socket, node:http reading them as stream
          // data) is parsed as node:http parses any stream given to its 'connection' event, not by its parser reading
          // the socket itself. So the references are node:http given the simple requests the fast path answers first
          // and the rest once their answers are out, reading the socket as a stream and reading it itself.
          let at = 0;
          let bytes = 0;
          for (let r = parseSimpleRequest(input, 0); r !== undefined; r = parseSimpleRequest(input, at)) {
            const q = await fronts[0]!.readPath.quick(r.target);
            if (q === undefined) break;
            bytes += responseHead(q.status, q.headers, new Date().toUTCString(), 72).length + (r.method === 'GET' ? (q.body?.length ?? 0) : 0);
            at = r.next;
          }
          const split = at > 0 && at < input.length ? { at, bytes } : undefined;
          // And at the client's FIN node:http ends the connection, dropping what it has not answered yet
          // (httpAllowHalfOpen is false: socketOnEnd aborts the requests in its queue; its 'end' comes on a tick before
          // the promise of an answer being prepared settles), so what gets out before a FIN that arrives with the
          // requests depends on timing alone — under load, often nothing. The fast path answers what it read before
          // the FIN. So each reference is also asked with its FIN sent only once it has sent as many bytes as the fast
          // front did (found by this target and by test/fuzz/smoke.test.ts under load:
          // test/fuzz-regressions/fast-front/8a74589f7b1b55c7.bin).
          search: for (const port of [ports[2]!, ports[1]!]) {
            for (const finAfter of [undefined, fast.bytes]) {
              b = (await exchange(port, input, { split, finAfter })).text;
              if (a === b) break search;
            }
          }
        }
        if (a !== b) {
          let i = 0;
          while (a[i] === b[i]) i++;
          const at = Math.max(0, i - 40);
          expectSame(false, `answers differ at byte ${i}: the fast front's ${JSON.stringify(a.slice(at, i + 160))}, node:http's ${JSON.stringify(b.slice(at, i + 160))}`);
        }
        return a.length;
      },
      close: async () => {
        for (const { server } of fronts) {
          server.closeAllConnections();
          await new Promise<void>((r) => server.close(() => r()));
        }
        await d.close();
      },
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
    // The read path is served by the daemon's own request handler in front of fastify: asked over loopback, once
    // per path (the release does not change, and the proxy passes no request header upstream), so an input costs the
    // client's own requests, not a second hop for each answer it does not replace.
    const answers = new Map<string, Promise<{ status: number; type: string; body: Uint8Array }>>();
    const upstream = (url: string): Promise<{ status: number; type: string; body: Uint8Array }> => {
      let a = answers.get(url);
      if (a === undefined) {
        a = fetch(d.url + url).then(async (r) => ({ status: r.status, type: r.headers.get('content-type') ?? 'application/octet-stream', body: new Uint8Array(await r.arrayBuffer()) }));
        if (answers.size < 1024) answers.set(url, a);
        void a.catch(() => answers.delete(url));
      }
      return a;
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

/**
 * checkAnswer is the oracle of the HTTP targets: a 2xx/3xx, or an error whose JSON names one of our codes; a 5xx
 * from an uncoded error (ERR_HTTP_INTERNAL) is a finding. A 200 carrying `{valid: false}` must name a known code.
 */
function checkAnswer(route: string, r: LightMyRequestResponse): number {
  let body: { code?: unknown; valid?: unknown } | undefined;
  try {
    body = JSON.parse(r.body) as typeof body;
  } catch {
    body = undefined;
  }
  if (r.statusCode < 400) {
    if (body !== null && typeof body === 'object' && body.valid === false) {
      expectSame(typeof body.code === 'string' && isErrorCode(body.code), `${route}: {valid:false} without a known code: ${r.body.slice(0, 200)}`);
    }
    return r.statusCode;
  }
  const code = body !== null && typeof body === 'object' ? body.code : undefined;
  if (r.statusCode >= 500 && (code === 'ERR_HTTP_INTERNAL' || code === 'ERR_INTERNAL' || code === undefined)) {
    throw new Error(`${route}: answered ${r.statusCode} ${String(code)}: an uncoded error inside the route`);
  }
  if (typeof code !== 'string' || !isErrorCode(code)) throw new Error(`${route}: answered ${r.statusCode} without a known code: ${r.body.slice(0, 200)}`);
  return r.statusCode;
}

const SIGNING_ROUTES = ['/v1/sign', '/v1/verify', '/v1/auth/challenge', '/v1/auth/token'] as const;

/**
 * signing-api: the signing API's request bodies (issue 11) through fastify `inject`, with a token of every scope so
 * bodies reach the handlers. Byte 0 picks the route, the rest is the JSON body. In a token request, "@NONCE@",
 * "@SIG@" and "@ID@" become a fresh challenge's nonce, its valid signature and the registered identity's name, so
 * mutations of a valid answer get past the nonce check.
 */
export const signingApi: FuzzTarget = {
  name: 'signing-api',
  parses: 'signing API request bodies (/v1/sign, /v1/verify, /v1/auth/challenge, /v1/auth/token; fastify inject)',
  async make(ctx) {
    const { d } = await daemon(ctx);
    const store = d.auth;
    if (store === undefined) throw new Error('fuzz daemon: the signing API is off');
    const now = Date.now();
    const { token } = await createToken(store, { name: 'fuzz', scopes: ['sign', 'verify'], now, ttlMs: null });
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const idKey = PrivateKey.generate();
    let idName = 'fuzz@certus';
    let idCount = 0;
    await registerIdentity(store, { name: idName, key: idKey.publicKey, scopes: ['sign', 'verify'], now });
    const artifact = 'sha256:' + hex(BLOB);
    const signBody = { artifact, artifact_type: 'report', subject: 'reports/scan.json', predicates: { scanner: 'trivy', findings: { high: 0 } } };
    const signed = await d.app.inject({ method: 'POST', url: '/v1/sign', headers: auth, payload: JSON.stringify(signBody) });
    if (signed.statusCode !== 202) throw new Error(`fuzz daemon: sign failed: ${signed.body}`);
    const signature = (JSON.parse(signed.body) as { signature: string }).signature;
    const bodies: Array<[number, Record<string, unknown>]> = [
      [0, signBody],
      [0, { artifact, artifact_type: 'sbom' }],
      [1, { artifact, signature, identity: 'fuzz', require_inclusion: true }],
      [1, { artifact, envelope: JSON.parse(signature) as unknown, public_key: null }],
      [2, { identity: '@ID@' }],
      [3, { identity: '@ID@', nonce: '@NONCE@', signature: '@SIG@' }],
    ];
    const seed = (route: number, body: string | Uint8Array): Uint8Array => Buffer.concat([Uint8Array.of(route), typeof body === 'string' ? enc.encode(body) : body]);
    const fresh = async (): Promise<{ nonce: string; sig: string } | undefined> => {
      let r = await d.app.inject({ method: 'POST', url: '/v1/auth/challenge', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ identity: idName }) });
      if (r.statusCode === 401 || r.statusCode === 429) {
        // Unanswered challenges pile up under mutated answers (16 per identity): a new identity, the same key.
        idName = `fuzz${++idCount}@certus`;
        await registerIdentity(store, { name: idName, key: idKey.publicKey, scopes: ['sign', 'verify'], now: Date.now() });
        r = await d.app.inject({ method: 'POST', url: '/v1/auth/challenge', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ identity: idName }) });
      }
      if (r.statusCode !== 200) return undefined;
      const { nonce, audience } = JSON.parse(r.body) as { nonce: string; audience: string };
      return { nonce, sig: encodeBase64(idKey.sign(challengeMessage(audience, idName, nonce))) };
    };
    return {
      seeds: bodies.map(([r, b]) => seed(r, JSON.stringify(b))),
      structured: fc.oneof(...bodies.map(([r, b]) => jsonFieldMutations([b as never]).map((x) => seed(r, x)))),
      async run(input: Uint8Array) {
        const url = SIGNING_ROUTES[(input[0] ?? 0) % SIGNING_ROUTES.length]!;
        let body = Buffer.from(input.subarray(1));
        if (url.startsWith('/v1/auth/') && body.includes('@')) {
          let text = body.toString('latin1').replaceAll('@ID@', idName);
          if (url === '/v1/auth/token' && text.includes('@NONCE@')) {
            const c = await fresh();
            if (c !== undefined) text = text.replaceAll('@NONCE@', c.nonce).replaceAll('@SIG@', c.sig).replaceAll('@ID@', idName);
          }
          body = Buffer.from(text, 'latin1');
        }
        const headers = url.startsWith('/v1/auth/') ? { 'content-type': 'application/json' } : auth;
        return checkAnswer(url, await d.app.inject({ method: 'POST', url, headers, payload: body }));
      },
      close: () => d.close(),
    };
  },
};

/**
 * witness: the standalone witness's add-checkpoint body (c2sp.org/tlog-witness). Each input meets a fresh witness
 * that has already cosigned the log at size 2, so a mutated "old 2" request with its consistency proof reaches the
 * proof and signature checks. Witness.addCheckpoint must return cosignatures or throw a coded error.
 */
export const witness: FuzzTarget = {
  name: 'witness',
  parses: 'the standalone witness add-checkpoint body (old size, consistency proof, signed checkpoint)',
  make() {
    const origin = 'example.test/log';
    const logKey = PrivateKey.generate();
    const noteSigner = newNoteSigner(origin, logKey);
    const verifier = newNoteVerifier(origin, logKey.publicKey);
    const cosigner = newCosigner('witness.test/w1', PrivateKey.generate(), { unixTime: () => 1_700_000_000 });
    const leaves = ['e0', 'e1', 'e2', 'e3'].map((e) => hashLeaf(enc.encode(e)));
    const h01 = hashChildren(leaves[0]!, leaves[1]!);
    const h23 = hashChildren(leaves[2]!, leaves[3]!);
    const root4 = hashChildren(h01, h23);
    const h012 = hashChildren(h01, leaves[2]!);
    const cp = (size: number, rootHash: Uint8Array): string => signNote(formatCheckpoint({ origin, size, rootHash }), [noteSigner]);
    const cp2 = cp(2, h01);
    const req = (old: number, proof: Uint8Array[], note: string): string => `old ${old}\n${proof.map((h) => encodeBase64(h) + '\n').join('')}\n${note}`;
    // RFC 9162 consistency proofs from size 2 (a complete subtree: its root is not repeated).
    const texts = [req(2, [h23], cp(4, root4)), req(2, [leaves[2]!], cp(3, h012)), req(2, [], cp2), req(0, [], cp2)];
    const freshWitness = (): { w: Witness; store: WitnessStore } => {
      const store = WitnessStore.open(':memory:');
      const w = new Witness({ cosigner, logs: [verifier], store, now: () => 1_700_000_000_000 });
      w.addCheckpoint(enc.encode(req(0, [], cp2)));
      return { w, store };
    };
    let at2: { w: Witness; store: WitnessStore } | undefined;
    return Promise.resolve({
      seeds: texts.map((t) => enc.encode(t)),
      structured: lineMutations(texts),
      run(input: Uint8Array) {
        // The witness is made once and kept while it stays at size 2: a refused request must leave the store as it
        // was (the store's check-and-set runs in one transaction), and after any input whose state is not (2, h01)
        // any more, accepted or not, the next input gets a fresh witness.
        if (at2 === undefined) at2 = freshWitness();
        try {
          return at2.w.addCheckpoint(input);
        } finally {
          const st = at2.store.get(origin);
          if (st === null || st.size !== 2 || !Buffer.from(st.root).equals(h01)) {
            at2.store.close();
            at2 = undefined;
          }
        }
      },
      close() {
        at2?.store.close();
        return Promise.resolve();
      },
    });
  },
};
