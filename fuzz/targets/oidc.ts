/**
 * fuzz/targets/oidc — the OIDC and keyless parsers of the signing API (issue 11): bearer JWTs through the whole
 * OidcVerifier (header and claims decoding, the algorithm allow-list, jose's JWS and claim checks, identity claims)
 * against a loopback issuer with a real JWKS; caller-supplied certificate PEM through parseCertificatePem and
 * verifyKeylessCertificate against a real keyless CA; and callers' identity regexps (compileSafeRegexp), each
 * compiled pattern then run on a backtracking-prone string so an exponential one shows up as a hang.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import fc from 'fast-check';
import { KeylessCa, compileSafeRegexp, parseCertificatePem } from '../../src/auth/keyless-ca.ts';
import { OidcVerifier, decodeJwtParts } from '../../src/auth/oidc.ts';
import { PrivateKey } from '../../src/crypto/index.ts';
import { jsonFieldMutations, lineMutations } from '../structured.ts';
import { dec, enc, expectSame, type FuzzTarget } from '../target.ts';

const NOW = new Date('2026-12-01T12:00:00Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);

/** b64 is base64url of a JSON value (a JWT part). */
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

export const oidcJwt: FuzzTarget = {
  name: 'oidc-jwt',
  parses: 'OIDC bearer JWTs (decodeJwtParts, then OidcVerifier.verify against a loopback issuer and JWKS)',
  async make() {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    let issuer = '';
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' }, { kty: 'oct', k: 'c2VjcmV0', kid: 'k2' }] });
    const server: Server = createServer((req, res) => {
      if (req.url === '/.well-known/openid-configuration') return res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      if (req.url === '/jwks') return res.end(jwks);
      return res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Refetching on unknown kids would turn every mutated kid into a request: the cooldown keeps it to one.
    const verifier = new OidcVerifier({ issuers: [{ issuer, audience: 'custody', identityClaim: 'email', scopes: ['sign'] }], jwksRefreshCooldownMs: 3_600_000 });
    const header = { alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' };
    const claims = { iss: issuer, sub: 'user-1', aud: 'custody', email: 'dev@example.org', email_verified: true, iat: NOW_S, exp: NOW_S + 300 };
    const signed = await new SignJWT(claims).setProtectedHeader(header).sign(privateKey);
    const sig = signed.split('.')[2]!;
    const texts = [
      signed,
      `${b64({ alg: 'none' })}.${b64(claims)}.`,
      `${b64({ alg: 'HS256', kid: 'k2' })}.${b64(claims)}.${sig}`,
      `${b64(header)}.${b64({ ...claims, aud: ['x', 'custody'], nbf: NOW_S + 1000 })}.${sig}`,
    ];
    // Structured: header and claims mutated field by field, re-encoded, the real signature kept.
    const parts = fc.tuple(jsonFieldMutations([header, { alg: 'RS256', kid: 'k1', crit: ['b64'] }]), jsonFieldMutations([claims]));
    return {
      seeds: texts.map((t) => enc.encode(t)),
      structured: parts.map(([h, c]) => enc.encode(`${Buffer.from(h).toString('base64url')}.${Buffer.from(c).toString('base64url')}.${sig}`)),
      async run(input: Uint8Array) {
        const text = dec.decode(input);
        try {
          decodeJwtParts(text);
        } catch {
          // Refused by the decoder; the verifier must refuse it too (below), with a code.
        }
        return (await verifier.verify(text, NOW)).identity;
      },
      close: () => new Promise<void>((r) => server.close(() => r())),
    };
  },
};

export const keylessCert: FuzzTarget = {
  name: 'keyless-cert',
  parses: 'certificates given to /v1/verify (parseCertificatePem, KeylessVerifier.verify against a real keyless CA)',
  async make(ctx) {
    const { ca } = await KeylessCa.loadOrCreate(ctx.tmpDir, NOW);
    const key = PrivateKey.generate();
    const certs = [
      await ca.issue({ publicKey: key.publicKey, identity: 'alice@example.com', identityKind: 'email', issuer: 'https://accounts.example.com', now: NOW }),
      await ca.issue({ publicKey: key.publicKey, identity: 'https://ci.example.org/pipelines/7', identityKind: 'uri', issuer: 'https://token.ci.example.org', now: NOW }),
    ];
    const ders = certs.map((c) => c.der);
    const pem = (der: Uint8Array): string => `-----BEGIN CERTIFICATE-----\n${(Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;
    return {
      // Odd-length inputs are DER (wrapped into PEM here, so mutations reach the ASN.1 parser); even ones are the text.
      seeds: [...certs.map((c) => enc.encode(c.pem)), ...ders.map((d) => (d.length % 2 === 1 ? d : Uint8Array.of(...d, 0)))],
      structured: lineMutations(certs.map((c) => c.pem)),
      async run(input: Uint8Array) {
        const text = input.length % 2 === 1 ? pem(input) : dec.decode(input);
        parseCertificatePem(text);
        return (await ca.verifier.verify(text, new Date(NOW.getTime() + 60_000))).identity;
      },
    };
  },
};

/** REFERENCE_MAX_QUANTIFIERS: patterns with more quantifier characters (`*+?{`) skip the backtracking reference. */
const REFERENCE_MAX_QUANTIFIERS = 6;

export const keylessRegexp: FuzzTarget = {
  name: 'keyless-regexp',
  parses: 'identity and issuer regexps of /v1/verify (compileSafeRegexp: each accepted pattern run on a hostile string, and against the backtracking engine on short ones)',
  make() {
    const texts = ['^alice@example\\.com$', '^https://github\\.com/(org|other)/[^/]+/\\.github/workflows/.*$', '^(ab)+$', '[a-z]{2,5}(\\.[a-z]+)?@', '(a|b)c*', '^[^@]{1,8}@x\\.[a-f0-9]{3}$'];
    const hostile = 'a'.repeat(40) + '@' + 'b'.repeat(40) + '!';
    // Short subjects, on which the backtracking engine's worst case stays quick: the differential oracle. Quick only
    // while the pattern has few quantifiers: k of them over an n-character subject cost up to about (n+1)^k steps, so
    // the reference is run on patterns of at most REFERENCE_MAX_QUANTIFIERS (12^6 ≈ 3M steps; session 9's recorded
    // "hang", 18 `.*` before a literal, spent ~0.5 s in this reference and 0.2 ms in the product's linear engine).
    const short = ['', 'a', 'ab', 'abab', 'aa@x.abc', 'alice@x.0f9', 'b@c.d', '{2}', 'a{2}', ']]', 'x.y', 'AB'];
    return Promise.resolve({
      seeds: texts.map((t) => enc.encode(t)),
      structured: lineMutations(texts),
      run(input: Uint8Array) {
        const pattern = dec.decode(input);
        const re = compileSafeRegexp(pattern, 'fuzz');
        let reference: RegExp | undefined;
        try {
          reference = new RegExp(pattern);
        } catch {
          // A pattern only the written-out form compiles would be a finding of its own: none is known.
          expectSame(false, `compileSafeRegexp accepted ${JSON.stringify(pattern)}, which the engine refuses as written`);
        }
        if ((pattern.match(/[*+?{]/g)?.length ?? 0) <= REFERENCE_MAX_QUANTIFIERS) {
          for (const s of short) expectSame(re.test(s) === reference!.test(s), `${JSON.stringify(pattern)} on ${JSON.stringify(s)}: linear ${re.test(s)}, backtracking ${!re.test(s)}`);
        } else {
          for (const s of short) re.test(s);
        }
        return re.test(hostile);
      },
    });
  },
};
