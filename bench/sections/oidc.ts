/**
 * bench/sections/oidc — the signing API with OIDC bearer JWTs (docs/signing-api.md "OIDC and keyless signing"):
 * wrk (2 threads, 32 connections, 10 s; 3 s in --quick) POSTs `verify` with an ES256 JWT as the bearer (its JWS
 * verified per request against the cached JWKS) and keyless `sign` (a fresh Ed25519 key and a CA-signed X.509
 * certificate per request, then the log's group commit). Requests/s, p50 and p99, next to the same routes with a
 * Custody API token for comparison.
 *
 * Setup: `custody serve --workers 1` as a real CLI process, limits off, `--oidc-issuer` pointing at a loopback
 * issuer this section serves (discovery + JWKS; the token is signed here with jose, as an IdP would). Skipped where
 * wrk is missing.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import type { BenchContext, BenchSection } from '../types.ts';

const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Load {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

function wrkPost(url: string, script: string, seconds: number): Load {
  const out = execFileSync('wrk', ['-t2', '-c32', `-d${seconds}s`, '--latency', '-s', script, url], { encoding: 'utf8' });
  const ms = (re: RegExp): number => {
    const m = re.exec(out);
    return Number(m?.[1] ?? NaN) * ({ us: 0.001, ms: 1, s: 1000 }[m?.[2] ?? 'ms'] ?? NaN);
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN), p50ms: ms(/\s50%\s+([\d.]+)(us|ms|s)/), p99ms: ms(/\s99%\s+([\d.]+)(us|ms|s)/), errors: non2xx };
}

function luaPost(path: string, token: string, body: string): string {
  return `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer ${token}"\nwrk.body = ${JSON.stringify(body)}\nwrk.path = "${path}"\n`;
}

async function measure(ctx: BenchContext): Promise<string> {
  if (spawnSync('wrk', ['--version']).error !== undefined) return 'Not measured: wrk is not installed.';
  // The issuer: discovery and JWKS on loopback; the JWT is signed here, valid for the whole run.
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  let issuer = '';
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' }] });
  const idp = createServer((req, res) => res.end(req.url === '/jwks' ? jwks : JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` })));
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({ iss: issuer, sub: 'bench', aud: 'custody-bench', email: 'bench@example.org', email_verified: true, iat: now, exp: now + 3600 })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench', typ: 'at+jwt' })
    .sign(privateKey);

  const data = join(ctx.scratch, 'oidc-data');
  const child = spawn(
    process.execPath,
    ['--import', TSX, CLI_MAIN, 'serve', '--data', data, '--port', '0', '--workers', '1', '--no-sample', '--json', '--log-level', 'error', '--rate-limit-per-ip', '0', '--max-connections-per-ip', '0', '--signing-rate-limit-per-token', '0', '--signing-rate-limit-per-ip', '0', '--oidc-issuer', issuer, '--oidc-audience', 'custody-bench'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env } },
  );
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve((JSON.parse(out.split('\n')[0]!) as { url: string }).url);
      });
      child.on('exit', (c) => reject(new Error(`custody serve exited ${c}`)));
    });
    const token = spawnSync(process.execPath, ['--import', TSX, CLI_MAIN, 'token', 'create', '--data', data, '--name', 'bench', '--scope', 'sign,verify'], { encoding: 'utf8' }).stdout.trim();
    const artifact = 'sha256:' + encodeHex(sha256('bench artifact'));
    const signed = (await (
      await fetch(`${url}/v1/sign`, { method: 'POST', headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' }, body: JSON.stringify({ artifact, artifact_type: 'report' }) })
    ).json()) as { signature: string; certificate: string };
    const seconds = ctx.quick ? 3 : 10;
    const runs: Array<[string, Load]> = [];
    const cases: Array<[string, string, string, string]> = [
      ['POST /v1/verify, OIDC bearer (ES256 JWT), keyless certificate + identity', '/v1/verify', jwt, JSON.stringify({ artifact, signature: signed.signature, certificate: signed.certificate, certificate_identity: 'bench@example.org' })],
      ['POST /v1/verify, API token, same certificate', '/v1/verify', token, JSON.stringify({ artifact, signature: signed.signature, certificate: signed.certificate, certificate_identity: 'bench@example.org' })],
      ['POST /v1/sign, OIDC bearer: keyless (key + certificate per request, logged)', '/v1/sign', jwt, JSON.stringify({ artifact, artifact_type: 'report', subject: 'bench' })],
    ];
    for (const [name, path, bearer, body] of cases) {
      const lua = join(ctx.scratch, `oidc-${runs.length}.lua`);
      writeFileSync(lua, luaPost(path, bearer, body));
      ctx.log(name);
      runs.push([name, wrkPost(url, lua, seconds)]);
    }
    return [
      '| route (32 connections) | requests/s | p50 ms | p99 ms | non-2xx |',
      '|---|---:|---:|---:|---:|',
      ...runs.map(([name, l]) => `| ${name} | ${l.rps.toFixed(0)} | ${l.p50ms.toFixed(2)} | ${l.p99ms.toFixed(2)} | ${l.errors} |`),
      '',
      'Keyless sign adds an Ed25519 key generation and an X.509 certificate (WebCrypto) per request to the log\'s group commit.',
    ].join('\n');
  } finally {
    child.kill('SIGTERM');
    idp.close();
  }
}

const section: BenchSection = { title: 'Signing API with OIDC bearers and keyless signing', run: measure };
export default section;
