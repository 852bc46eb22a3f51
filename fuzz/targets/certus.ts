/**
 * fuzz/targets/certus — the Certus routes' parsers of untrusted input (issue 11, server/signing/certus): the request
 * bodies of sign-artifact, verify-chain, verify-and-permit-upload and execute-upload (fastify inject against a real
 * daemon with a registered scanner), the upload permission envelope (server/signing/permission) and the upload policy
 * file (server/signing/upload-policy).
 */
import { join } from 'node:path';
import { pino } from 'pino';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { createToken, registerIdentity } from '../../src/auth/auth.ts';
import { keysFromPublicKeys } from '../../src/attest/dsse.ts';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { encodeBase64 } from '../../src/encoding/bytes.ts';
import { isErrorCode } from '../../src/errors.ts';
import { startDaemon } from '../../src/server/daemon.ts';
import { signPermission, verifyPermission } from '../../src/server/signing/permission.ts';
import { scanFileMessage, scanMessage } from '../../src/server/signing/scan.ts';
import { DEFAULT_UPLOAD_POLICY_TEXT, parseUploadPolicy } from '../../src/server/signing/upload-policy.ts';
import { jsonFieldMutations } from '../structured.ts';
import { dec, enc, type FuzzTarget } from '../target.ts';

const ROUTES = ['/v1/sign-artifact', '/v1/verify-chain', '/v1/verify-and-permit-upload', '/v1/execute-upload'] as const;
const digest = (s: string): string => 'sha256:' + Buffer.from(sha256(s)).toString('hex');

/** answer is the oracle: a 2xx/3xx, or an error whose JSON names one of our codes (an uncoded 5xx is a finding). */
function answer(route: string, r: LightMyRequestResponse): number {
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
}

/** certusApi: byte 0 picks the route, the rest is the body; valid bodies are built and signed by a real scanner. */
export const certusApi: FuzzTarget = {
  name: 'certus-api',
  parses: 'Certus route bodies (/v1/sign-artifact, /v1/verify-chain, /v1/verify-and-permit-upload, /v1/execute-upload; fastify inject)',
  async make(ctx) {
    const d = await startDaemon({
      dataDir: join(ctx.tmpDir, 'daemon'),
      host: '127.0.0.1',
      port: 0,
      logger: pino({ level: 'silent' }),
      rateLimitPerIp: 0,
      signingRateLimitPerIp: 0,
      signingRateLimitPerToken: 0,
    });
    const store = d.auth!;
    const now = Date.now();
    const { token } = await createToken(store, { name: 'fuzz', scopes: ['sign', 'verify', 'permit', 'upload'], now, ttlMs: null });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const key = PrivateKey.generate();
    await registerIdentity(store, { name: 'scanner', key: key.publicKey, scopes: ['scan'], now });
    const ts = new Date(now).toISOString();
    const content = '{"runs":[]}\n';
    const files = [{ path: 'out/scan.sarif', digest: digest(content) }];
    const inner = {
      signer: 'scanner',
      timestamp: ts,
      algorithm: 'Ed25519',
      signature: encodeBase64(key.sign(scanMessage({ scanId: 'scan-1', signer: 'scanner', timestamp: ts, artifacts: files.map((f) => ({ name: f.path, digest: f.digest })) }))),
      files: files.map((f) => ({ ...f, verified: true, signature: encodeBase64(key.sign(scanFileMessage({ scanId: 'scan-1', signer: 'scanner', path: f.path, digest: f.digest }))) })),
    };
    const locations = { s3: { uri: 's3://raw/scan-1', digest: digest('bundle') } };
    const signBody = { artifact_locations: locations, inner_signatures: inner, assessment_metadata: { assessment_id: 'scan-1', assessment_type: 'sast' } };
    const signed = await d.app.inject({ method: 'POST', url: '/v1/sign-artifact', headers, payload: JSON.stringify(signBody) });
    if (signed.statusCode !== 202) throw new Error(`fuzz daemon: sign-artifact failed: ${signed.body}`);
    const outer = (JSON.parse(signed.body) as { outer_signature: Record<string, unknown> }).outer_signature;
    const art = { name: 'scan.sarif', hash: digest(content), size: content.length, type: 'sarif' };
    const permitBody = {
      scan_id: 'scan-1',
      tier: 'basic',
      inner_signature: {
        signer: 'scanner',
        timestamp: ts,
        algorithm: 'Ed25519',
        signature: encodeBase64(key.sign(scanMessage({ scanId: 'scan-1', signer: 'scanner', timestamp: ts, artifacts: [{ name: art.name, digest: art.hash, size: art.size, type: art.type }] }))),
      },
      artifacts: [art],
      storage_destinations: { raw_s3: true, oci_registry: false },
    };
    const permitted = await d.app.inject({ method: 'POST', url: '/v1/verify-and-permit-upload', headers, payload: JSON.stringify(permitBody) });
    if (permitted.statusCode !== 202) throw new Error(`fuzz daemon: permit failed: ${permitted.body}`);
    const p = JSON.parse(permitted.body) as { upload_permission_id: string; permission: string };
    const uploadBody = { upload_permission_id: p.upload_permission_id, scan_id: 'scan-1', permission: p.permission, artifacts: [{ ...art, content: Buffer.from(content).toString('base64') }] };
    const bodies: Array<[number, Record<string, unknown>]> = [
      [0, signBody],
      [1, { artifact_locations: locations, signatures: { inner, outer }, sigstore_entry_id: outer['sigstore_entry_id'] }],
      [2, permitBody],
      [3, uploadBody],
    ];
    const seed = (route: number, body: string): Uint8Array => Buffer.concat([Uint8Array.of(route), enc.encode(body)]);
    return {
      seeds: bodies.map(([r, b]) => seed(r, JSON.stringify(b))),
      structured: fc.oneof(...bodies.map(([r, b]) => jsonFieldMutations([b as never]).map((x) => Buffer.concat([Uint8Array.of(r), x])))),
      async run(input: Uint8Array) {
        const url = ROUTES[(input[0] ?? 0) % ROUTES.length]!;
        return answer(url, await d.app.inject({ method: 'POST', url, headers, payload: Buffer.from(input.subarray(1)) }));
      },
      close: () => d.close(),
    };
  },
};

/** uploadPermission: a presented permission envelope, verified under the issuing key. */
export const uploadPermission: FuzzTarget = {
  name: 'upload-permission',
  parses: 'upload permission envelopes (DSSE, the verified payload parsed bounded)',
  make() {
    const key = PrivateKey.generate();
    const keys = keysFromPublicKeys([key.publicKey]);
    const valid = signPermission(
      {
        id: '00000000-0000-4000-8000-000000000001',
        scanId: 'scan-1',
        tier: 'basic',
        scanner: 'scanner',
        artifacts: [{ name: 'a.sarif', hash: digest('a'), size: 1, type: 'sarif' }],
        destinations: ['raw_s3'],
        issuedAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2026-01-01T00:15:00.000Z',
      },
      key,
    ).envelope;
    return Promise.resolve({
      seeds: [enc.encode(valid)],
      structured: jsonFieldMutations([JSON.parse(valid) as never]),
      run: (input: Uint8Array) => verifyPermission(dec.decode(input), keys, new Date('2026-01-01T00:01:00Z')),
    });
  },
};

/** uploadPolicy: the gatekeeper's policy file (JSON or YAML). */
export const uploadPolicy: FuzzTarget = {
  name: 'upload-policy',
  parses: 'gatekeeper upload policy files (JSON or YAML, ajv-validated)',
  make() {
    const json = '{"version":1,"permission_ttl_seconds":60,"tiers":{"gold":{"scanners":["s"],"artifact_types":["sbom"],"max_artifacts":1,"destinations":["raw_s3"]}}}';
    return Promise.resolve({
      seeds: [enc.encode(DEFAULT_UPLOAD_POLICY_TEXT), enc.encode(json)],
      structured: jsonFieldMutations([JSON.parse(json) as never]),
      run: (input: Uint8Array) => parseUploadPolicy(input),
    });
  },
};
