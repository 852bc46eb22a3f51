/**
 * auth/auth over both stores (SQLite in a temporary data directory, and a real PostgreSQL server when installed):
 * tokens stored as digests and checked per call, expiry, revocation seen by a second handle on the same store at
 * once, scopes, identities and the challenge-response refusal table (unknown, replayed, expired nonce; wrong
 * signature; revoked identity), and single use under concurrency.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  CHALLENGE_MAX_OUTSTANDING,
  CHALLENGE_TTL_MS,
  IDENTITY_TOKEN_TTL_MS,
  answerChallenge,
  authenticate,
  challengeMessage,
  createToken,
  issueChallenge,
  parseScopeList,
  registerIdentity,
  requireScope,
} from '../../src/auth/auth.ts';
import { AUTH_DB_FILE, openAuthStore } from '../../src/auth/open.ts';
import { isTrustError } from '../../src/errors.ts';
import type { AuthStore } from '../../src/auth/store.ts';
import { PrivateKey } from '../../src/crypto/index.ts';
import { parseDuration } from '../../src/encoding/time.ts';
import { assertCode, assertRejectsCode } from '../support/assert.ts';
import { postgresForFile } from '../support/postgres.ts';
import { tmpDir } from '../support/tmp.ts';

const AUD = 'example.test/custody/log';
const T0 = Date.parse('2026-12-01T10:00:00Z');
const pgsql = postgresForFile();
const pgSkip = pgsql.skip;
let pgSchemas = 0;

type Opener = (t: { after: (fn: () => unknown) => void }) => Promise<{ a: AuthStore; b: AuthStore }>;

const backends: Array<{ name: string; skip: string | false; open: Opener }> = [
  {
    name: 'sqlite',
    skip: false,
    open: async (t) => {
      const dataDir = tmpDir(t);
      const a = await openAuthStore({ dataDir });
      const b = await openAuthStore({ dataDir });
      t.after(() => Promise.all([a.close(), b.close()]));
      return { a, b };
    },
  },
  {
    name: 'postgres',
    skip: pgSkip,
    open: async (t) => {
      const postgres = { url: pgsql.url(), schema: `t${++pgSchemas}` };
      const dataDir = tmpDir(t);
      const a = await openAuthStore({ dataDir, postgres });
      const b = await openAuthStore({ dataDir, postgres });
      t.after(() => Promise.all([a.close(), b.close()]));
      return { a, b };
    },
  },
];

for (const be of backends) {
  describe(`auth over ${be.name}`, { skip: be.skip }, () => {
    test('a token is stored as its SHA-256 only and authenticates with its scopes; revocation is seen by another handle at once', async (t) => {
      const { a, b } = await be.open(t);
      const { token, record } = await createToken(a, { name: 'ci', scopes: ['sign', 'verify'], now: T0, ttlMs: parseDuration('30d', 'x') });
      assert.match(token, /^custody_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      assert.equal(record.expiresAt, T0 + 30 * 86_400_000);
      const stored = await b.findToken(record.id);
      assert.equal(stored!.digest.length, 32);
      assert.ok(!Buffer.from(stored!.digest).toString('latin1').includes(token.slice(25)), 'the token text is not stored');
      if (be.name === 'sqlite') {
        const db = readFileSync(join(a.where));
        assert.ok(!db.includes(token.slice(25)), 'the secret part is nowhere in the database file');
        assert.equal(a.where.endsWith(AUTH_DB_FILE), true);
      }
      const p = await authenticate(b, `Bearer ${token}`, T0 + 1);
      assert.deepEqual(p.scopes, ['sign', 'verify']);
      assert.equal(p.tokenId, record.id);
      requireScope(p, 'sign');
      assertCode(() => requireScope(p, 'admin'), 'ERR_AUTH_SCOPE');

      assert.equal(await a.revokeToken(record.id, T0 + 2), true);
      await assertRejectsCode(authenticate(b, `Bearer ${token}`, T0 + 3), 'ERR_AUTH_TOKEN_REVOKED');
      assert.equal(await a.revokeToken('0000000000000000', T0), false);
      const listed = await b.listTokens();
      assert.equal(listed.length, 1);
      assert.equal(listed[0]!.revokedAt, T0 + 2);
    });

    test('the bearer refusal table: missing, malformed, unknown, forged secret, expired', async (t) => {
      const { a } = await be.open(t);
      const { token } = await createToken(a, { name: 'short', scopes: ['verify'], now: T0, ttlMs: 60_000 });
      await assertRejectsCode(authenticate(a, undefined, T0), 'ERR_AUTH_UNAUTHENTICATED');
      await assertRejectsCode(authenticate(a, 'Basic abc', T0), 'ERR_AUTH_UNAUTHENTICATED');
      await assertRejectsCode(authenticate(a, 'Bearer not-a-token', T0), 'ERR_AUTH_TOKEN_INVALID');
      await assertRejectsCode(authenticate(a, `Bearer custody_0123456789abcdef_${'A'.repeat(43)}`, T0), 'ERR_AUTH_TOKEN_INVALID');
      // The right id with another secret: the digest comparison refuses it.
      const forged = token.slice(0, 25) + (token[25] === 'A' ? 'B' : 'A') + token.slice(26);
      await assertRejectsCode(authenticate(a, `Bearer ${forged}`, T0), 'ERR_AUTH_TOKEN_INVALID');
      assert.ok(await authenticate(a, `Bearer ${token}`, T0 + 59_999));
      await assertRejectsCode(authenticate(a, `Bearer ${token}`, T0 + 60_000), 'ERR_AUTH_TOKEN_EXPIRED');
    });

    test('challenge-response: a signed nonce gives a 5-minute token; unknown, replayed, expired, forged and revoked are refused', async (t) => {
      const { a, b } = await be.open(t);
      const key = PrivateKey.generate();
      await registerIdentity(a, { name: 'scanner@certus', key: key.publicKey, scopes: ['sign'], now: T0 });
      await assertRejectsCode(registerIdentity(b, { name: 'scanner@certus', key: key.publicKey, scopes: ['sign'], now: T0 }), 'ERR_AUTH_IDENTITY_EXISTS');
      await assertRejectsCode(issueChallenge(a, 'nobody', T0), 'ERR_AUTH_IDENTITY_UNKNOWN');

      const sign = (nonce: string, aud = AUD, who = 'scanner@certus'): string => Buffer.from(key.sign(challengeMessage(aud, who, nonce))).toString('base64');
      const c = await issueChallenge(a, 'scanner@certus', T0);
      assert.equal(c.expiresAt, T0 + CHALLENGE_TTL_MS);
      const issued = await answerChallenge(b, { identity: 'scanner@certus', nonce: c.nonce, signature: sign(c.nonce), audience: AUD, now: T0 + 1000 });
      assert.equal(issued.record.expiresAt, T0 + 1000 + IDENTITY_TOKEN_TTL_MS);
      const p = await authenticate(a, `Bearer ${issued.token}`, T0 + 2000);
      assert.deepEqual(p.scopes, ['sign']);
      assert.equal(p.identity, 'scanner@certus');
      await assertRejectsCode(authenticate(a, `Bearer ${issued.token}`, T0 + 1000 + IDENTITY_TOKEN_TTL_MS), 'ERR_AUTH_TOKEN_EXPIRED');

      // Replayed nonce (on the other handle: single use holds across processes).
      await assertRejectsCode(answerChallenge(a, { identity: 'scanner@certus', nonce: c.nonce, signature: sign(c.nonce), audience: AUD, now: T0 + 1500 }), 'ERR_AUTH_NONCE_REPLAYED');
      // Never issued; issued to another identity.
      await assertRejectsCode(answerChallenge(a, { identity: 'scanner@certus', nonce: 'x'.repeat(43), signature: sign('x'.repeat(43)), audience: AUD, now: T0 }), 'ERR_AUTH_NONCE_UNKNOWN');
      const other = PrivateKey.generate();
      await registerIdentity(a, { name: 'other', key: other.publicKey, scopes: ['verify'], now: T0 });
      const c2 = await issueChallenge(a, 'other', T0);
      await assertRejectsCode(answerChallenge(a, { identity: 'scanner@certus', nonce: c2.nonce, signature: sign(c2.nonce), audience: AUD, now: T0 }), 'ERR_AUTH_NONCE_UNKNOWN');
      // Expired.
      const c3 = await issueChallenge(a, 'scanner@certus', T0);
      await assertRejectsCode(answerChallenge(a, { identity: 'scanner@certus', nonce: c3.nonce, signature: sign(c3.nonce), audience: AUD, now: T0 + CHALLENGE_TTL_MS }), 'ERR_AUTH_NONCE_EXPIRED');
      // Wrong signatures: another key, another audience, garbage; each uses the nonce up.
      for (const bad of [
        (n: string) => Buffer.from(other.sign(challengeMessage(AUD, 'scanner@certus', n))).toString('base64'),
        (n: string) => sign(n, 'evil.example/log'),
        () => 'AAAA',
      ]) {
        const cx = await issueChallenge(a, 'scanner@certus', T0);
        await assertRejectsCode(answerChallenge(a, { identity: 'scanner@certus', nonce: cx.nonce, signature: bad(cx.nonce), audience: AUD, now: T0 + 1 }), 'ERR_AUTH_SIGNATURE_INVALID');
        await assertRejectsCode(answerChallenge(a, { identity: 'scanner@certus', nonce: cx.nonce, signature: sign(cx.nonce), audience: AUD, now: T0 + 2 }), 'ERR_AUTH_NONCE_REPLAYED');
      }

      // Revoking the identity kills its token at once and refuses its open challenges.
      const c4 = await issueChallenge(a, 'scanner@certus', T0 + 3000);
      assert.equal(await b.revokeIdentity('scanner@certus', T0 + 4000), true);
      await assertRejectsCode(authenticate(a, `Bearer ${issued.token}`, T0 + 4001), 'ERR_AUTH_TOKEN_REVOKED');
      await assertRejectsCode(answerChallenge(a, { identity: 'scanner@certus', nonce: c4.nonce, signature: sign(c4.nonce), audience: AUD, now: T0 + 4002 }), 'ERR_AUTH_IDENTITY_REVOKED');
      await assertRejectsCode(issueChallenge(a, 'scanner@certus', T0 + 4003), 'ERR_AUTH_IDENTITY_REVOKED');
      assert.equal(await b.revokeIdentity('nobody', T0), false);
      assert.equal((await a.listIdentities()).length, 2);
    });

    test('one nonce answered by many concurrent requests on two handles gives exactly one token', async (t) => {
      const { a, b } = await be.open(t);
      const key = PrivateKey.generate();
      await registerIdentity(a, { name: 'racer', key: key.publicKey, scopes: ['verify'], now: T0 });
      const c = await issueChallenge(a, 'racer', T0);
      const signature = Buffer.from(key.sign(challengeMessage(AUD, 'racer', c.nonce))).toString('base64');
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => answerChallenge(i % 2 === 0 ? a : b, { identity: 'racer', nonce: c.nonce, signature, audience: AUD, now: T0 + 10 })),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'ERR_AUTH_NONCE_REPLAYED');
    });

    test('unanswered challenges per identity are capped', async (t) => {
      const { a } = await be.open(t);
      await registerIdentity(a, { name: 'flood', key: PrivateKey.generate().publicKey, scopes: ['verify'], now: T0 });
      for (let i = 0; i < CHALLENGE_MAX_OUTSTANDING; i++) await issueChallenge(a, 'flood', T0);
      await assertRejectsCode(issueChallenge(a, 'flood', T0), 'ERR_AUTH_CHALLENGE_LIMIT');
      // Once they expire they are swept and new ones are issued.
      assert.ok(await issueChallenge(a, 'flood', T0 + CHALLENGE_TTL_MS));
    });
  });
}

test('scope lists and durations are parsed strictly', () => {
  assert.deepEqual(parseScopeList('sign,verify,sign'), ['sign', 'verify']);
  assertCode(() => parseScopeList('sign,root'), 'ERR_USAGE_ARGUMENT');
  assertCode(() => parseScopeList(''), 'ERR_USAGE_ARGUMENT');
  assert.equal(parseDuration('90s', 'x'), 90_000);
  assert.equal(parseDuration('12h', 'x'), 43_200_000);
  assertCode(() => parseDuration('30', 'x'), 'ERR_USAGE_ARGUMENT');
  assertCode(() => parseDuration('0d', 'x'), 'ERR_USAGE_ARGUMENT');
});

test('a closed or broken store refuses with ERR_AUTH_STORE, never a raw database error', async (t) => {
  const dataDir = tmpDir(t);
  const s = await openAuthStore({ dataDir });
  await s.close();
  await assertRejectsCode(s.findToken('0123456789abcdef'), 'ERR_AUTH_STORE');
  await assertRejectsCode(authenticate(s, `Bearer custody_0123456789abcdef_${'A'.repeat(43)}`, T0), 'ERR_AUTH_STORE');
  await assertRejectsCode(s.ping(), 'ERR_AUTH_STORE');
});

test('postgres auth store: a failing query is refused ERR_AUTH_STORE with its SQLSTATE only; the driver text stays in the cause', { skip: pgsql.skip }, async (t) => {
  const dataDir = tmpDir(t);
  const schema = `leak${process.pid}`;
  const store = await openAuthStore({ dataDir, postgres: { url: pgsql.url(), schema } });
  t.after(() => store.close());
  // The tables vanish under the store: the next lookup fails with a message naming the schema and table.
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: pgsql.url() });
  await admin.connect();
  await admin.query(`DROP SCHEMA "${schema}_auth" CASCADE`); // auth/open: the auth schema beside the log's
  await admin.end();
  const e = await store.findToken('0'.repeat(16)).then(
    () => assert.fail('the lookup must fail'),
    (x: unknown) => x,
  );
  assert.ok(isTrustError(e) && e.code === 'ERR_AUTH_STORE');
  assert.equal(e.message, 'auth store: find token failed (42P01)');
  assert.ok(!JSON.stringify(e.toJSON()).includes(schema), 'the refusal body does not name the schema');
  assert.match(String((e.cause as Error).message), new RegExp(schema), 'the cause (for the log) keeps the driver message');
});
