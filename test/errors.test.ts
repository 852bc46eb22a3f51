/**
 * The code union, docs/errors.md and the HTTP/exit maps must agree (fastify test/internals/errors.test.js).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  ConfigError,
  ERROR_CODES,
  EXIT_CODES,
  FormatError,
  IoError,
  LimitError,
  PolicyError,
  RETIRED_CODES,
  TrustError,
  UsageError,
  VerificationError,
  errorFromCode,
  isErrorCode,
  type ErrorCode,
} from '../src/errors.ts';
import { renderErrorTable } from './support/errors-table.ts';

test('docs/errors.md lists exactly the codes of src/errors.ts with their class, HTTP status and exit code', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const start = doc.indexOf('<!-- codes:begin -->\n') + '<!-- codes:begin -->\n'.length;
  const table = doc.slice(start, doc.indexOf('<!-- codes:end -->'));
  assert.equal(table, renderErrorTable(), 'run `npm run docs:errors` and commit docs/errors.md');
  const documented = [...table.matchAll(/^\| `(ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented, Object.keys(ERROR_CODES));
});

test('every code is well named, has a hint, a 4xx/5xx status and an exit code', () => {
  for (const [code, [kind, status, hint]] of Object.entries(ERROR_CODES)) {
    assert.ok(status >= 400 && status < 600, code);
    assert.ok(hint.length > 10, code);
    // Only ERR_INTERNAL (a bug, named before the table listed it) exits 70; every refusal is ERR_<AREA>_<CONDITION>
    // and exits 1, 2 or 3.
    if (kind === 'internal') {
      assert.deepEqual([code, EXIT_CODES[kind]], ['ERR_INTERNAL', 70]);
    } else {
      assert.match(code, /^ERR_[A-Z0-9]+_[A-Z0-9_]+$/);
      assert.ok([1, 2, 3].includes(EXIT_CODES[kind]), code);
    }
  }
});

test('errors carry code, class, hint, status and JSON form', () => {
  const e = new VerificationError('ERR_MANIFEST_THRESHOLD_UNMET', 'signed by 1/2 keys', { details: { valid: 1, threshold: 2 } });
  assert.ok(e instanceof TrustError);
  assert.equal(e.name, 'VerificationError');
  assert.equal(e.exitCode, 1);
  assert.equal(e.httpStatus, 422);
  assert.deepEqual(e.toJSON(), {
    ok: false,
    code: 'ERR_MANIFEST_THRESHOLD_UNMET',
    message: 'signed by 1/2 keys',
    hint: ERROR_CODES.ERR_MANIFEST_THRESHOLD_UNMET[2],
    details: { valid: 1, threshold: 2 },
  });
  const f = new FormatError('ERR_FORMAT_JSON', 'bad', { hint: 'custom' });
  assert.equal(f.hint, 'custom');
});

test('retired codes are never reused: none of RETIRED_CODES is in ERROR_CODES (or documented as current)', () => {
  assert.ok(RETIRED_CODES.includes('ERR_PROVIDER_NAME'));
  for (const code of RETIRED_CODES) {
    assert.match(code, /^ERR_[A-Z0-9]+_[A-Z0-9_]+$/);
    assert.ok(!Object.hasOwn(ERROR_CODES, code), `${code} is retired and may not be reused`);
    assert.ok(!isErrorCode(code), code);
  }
});

test('errorFromCode builds the class of every code, so a relayed code keeps instanceof', () => {
  const classes = { verification: VerificationError, policy: PolicyError, format: FormatError, limit: LimitError, config: ConfigError, usage: UsageError, io: IoError };
  for (const [code, [kind]] of Object.entries(ERROR_CODES)) {
    if (kind === 'internal') {
      // A server's bug relayed to us is that server's failure: an I/O error for the client, never exit 70.
      const e = errorFromCode(code as ErrorCode, 'relayed');
      assert.ok(e instanceof IoError);
      assert.equal(e.code, 'ERR_HTTP_INTERNAL');
      continue;
    }
    const e = errorFromCode(code as ErrorCode, 'relayed', { details: { serverCode: code } });
    assert.ok(e instanceof classes[kind], `${code} should be a ${classes[kind].name}`);
    assert.equal(e.code, code);
    assert.equal(e.kind, kind);
  }
  const p = errorFromCode('ERR_PROVIDER_UNAUTHORIZED', 'x');
  assert.ok(p instanceof PolicyError);
  assert.equal(p.exitCode, 1);
});
