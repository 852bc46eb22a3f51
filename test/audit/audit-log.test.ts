/**
 * The hash-chained audit log: the byte-exact format (hash recomputed here with node:crypto, independently of
 * src/audit), append/reopen/continue, concurrency, durability-related recovery of a torn tail, the tamper table (one
 * row per edit, asserting code and 1-based line), truncation against an anchored head, refused field names, caps,
 * and CLI transcripts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AUDIT_GENESIS_HASH,
  AUDIT_LINE_MAX_BYTES,
  AuditLog,
  formatAuditRecord,
  parseAuditRecord,
  verifyAuditLog,
  type AuditRecord,
} from '../../src/audit/audit-log.ts';
import { canonicalizeJcs } from '../../src/encoding/canonical.ts';
import type { JsonObject } from '../../src/encoding/json.ts';
import { isTrustError, type ErrorCode } from '../../src/errors.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli, spawnCli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);

/** clock returns a `now` that advances one second per call, from 2026-11-22T10:00:00Z. */
function clock(): () => Date {
  let i = 0;
  return () => new Date(T0 + 1000 * i++ + 250); // sub-second part must be dropped
}

/** hashOf recomputes a record hash independently: SHA-256("custody-audit:v1:" || JCS(body without hash)). */
function hashOf(body: JsonObject, prefix = 'custody-audit:v1:'): string {
  const { hash: _h, ...rest } = body;
  return createHash('sha256').update(prefix).update(canonicalizeJcs(rest)).digest('hex');
}

/** reseal rewrites a parsed line with a recomputed hash (what a careful forger would do). */
function reseal(line: string, edit: (o: JsonObject) => void, prefix?: string): string {
  const o = JSON.parse(line) as JsonObject;
  edit(o);
  o.hash = hashOf(o, prefix);
  return Buffer.from(canonicalizeJcs(o)).toString();
}

async function makeLog(dir: string, n: number, name = 'audit.log'): Promise<{ path: string; records: AuditRecord[] }> {
  const path = join(dir, name);
  const log = await AuditLog.open(path, { now: clock() });
  const records: AuditRecord[] = [];
  for (let i = 0; i < n; i++) records.push(await log.append('manifest.signed', { sequence: i, key_id: `k${i}`, channel: 'stable' }));
  await log.close();
  return { path, records };
}

function lines(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'));
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

function writeLines(path: string, ls: string[]): void {
  writeFileSync(path, ls.map((l) => l + '\n').join(''));
}

/** assertAuditError awaits p and checks the coded error and the 1-based line it names. */
async function assertAuditError(p: Promise<unknown>, code: ErrorCode, line?: number): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(isTrustError(e), `expected ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (line !== undefined) {
      assert.equal(e.details?.line, line, `${e.message} (details ${JSON.stringify(e.details)})`);
      assert.match(e.message, new RegExp(`^audit log line ${line}[: ]`));
    }
    return;
  }
  assert.fail(`expected ${code} to be thrown`);
}

test('record format byte for byte: canonical JSON line, domain-separated SHA-256 hash, genesis prev', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'audit.log');
  const log = await AuditLog.open(path, { now: clock() });
  assert.deepEqual(log.head, { seq: -1, hash: AUDIT_GENESIS_HASH });
  assert.equal(log.recoveredTornTail, false);
  const r0 = await log.append('manifest.signed', { key_id: 'ab12', sequence: 7, nested: { z: [true, 'é'], a: 1 } });
  const r1 = await log.append('server.started');
  await log.close();

  const zeros = '0'.repeat(64);
  const body0 = `{"event":"manifest.signed","key_id":"ab12","nested":{"a":1,"z":[true,"é"]},"prev":"${zeros}","seq":0,"sequence":7,"time":"2026-11-22T10:00:00Z"}`;
  const hash0 = createHash('sha256').update('custody-audit:v1:' + body0).digest('hex');
  const line0 = `{"event":"manifest.signed","hash":"${hash0}","key_id":"ab12","nested":{"a":1,"z":[true,"é"]},"prev":"${zeros}","seq":0,"sequence":7,"time":"2026-11-22T10:00:00Z"}`;
  const body1 = `{"event":"server.started","prev":"${hash0}","seq":1,"time":"2026-11-22T10:00:01Z"}`;
  const hash1 = createHash('sha256').update('custody-audit:v1:' + body1).digest('hex');
  const line1 = `{"event":"server.started","hash":"${hash1}","prev":"${hash0}","seq":1,"time":"2026-11-22T10:00:01Z"}`;
  assert.equal(readFileSync(path, 'utf8'), `${line0}\n${line1}\n`);

  assert.deepEqual(r0, {
    seq: 0,
    time: '2026-11-22T10:00:00Z',
    event: 'manifest.signed',
    fields: { key_id: 'ab12', sequence: 7, nested: { z: [true, 'é'], a: 1 } },
    prev: zeros,
    hash: hash0,
  });
  assert.equal(r1.prev, hash0);
  assert.equal(r1.hash, hash1);
  assert.equal(formatAuditRecord(r0), line0);
  assert.deepEqual(parseAuditRecord(line0, 1), r0);
  assert.deepEqual(parseAuditRecord(Buffer.from(line1)), r1);
});

test('append, reopen and continue the chain; verifyAuditLog reports count, head and time range', async (t) => {
  const dir = tmpDir(t);
  const { path, records } = await makeLog(dir, 3);
  assert.deepEqual(records.map((r) => r.seq), [0, 1, 2]);
  assert.equal(records[1]!.prev, records[0]!.hash);
  assert.equal(records[2]!.prev, records[1]!.hash);

  const now = (): Date => new Date(Date.UTC(2026, 11, 1, 8, 30, 0));
  const log = await AuditLog.open(path, { now });
  assert.equal(log.recoveredTornTail, false);
  assert.deepEqual(log.head, { seq: 2, hash: records[2]!.hash });
  const r3 = await log.append('key.rotated', { old_key_id: 'k2', new_key_id: 'k3' });
  assert.equal(r3.seq, 3);
  assert.equal(r3.prev, records[2]!.hash);
  assert.deepEqual(log.head, { seq: 3, hash: r3.hash });
  await log.close();
  await log.close(); // idempotent
  await assert.rejects(log.append('key.rotated'), /append after close/);

  assert.deepEqual(await verifyAuditLog(path), {
    records: 4,
    head: r3.hash,
    firstTime: '2026-11-22T10:00:00Z',
    lastTime: '2026-12-01T08:30:00Z',
  });
  assert.equal(lines(path).length, 4);
});

test('an empty log: head seq −1 and 64 zeros; verify reports 0 records and no times', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'audit.log');
  const log = await AuditLog.open(path);
  await log.close();
  assert.equal(readFileSync(path).length, 0);
  assert.deepEqual(await verifyAuditLog(path), { records: 0, head: AUDIT_GENESIS_HASH });
  assert.deepEqual(await verifyAuditLog(path, { expectHead: AUDIT_GENESIS_HASH }), { records: 0, head: AUDIT_GENESIS_HASH });
  const again = await AuditLog.open(path);
  assert.deepEqual(again.head, { seq: -1, hash: AUDIT_GENESIS_HASH });
  await again.close();
});

test('the file is created with mode 0600 and the parent directory must exist', { skip: process.platform === 'win32' }, async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'audit.log');
  const log = await AuditLog.open(path);
  await log.append('server.started');
  await log.close();
  assert.equal(statSync(path).mode & 0o777, 0o600);
  await assertRejectsCode(AuditLog.open(join(dir, 'missing', 'audit.log')), 'ERR_IO_NOT_FOUND');
  symlinkSync(path, join(dir, 'link.log'));
  await assertRejectsCode(AuditLog.open(join(dir, 'link.log')), 'ERR_IO_NOT_REGULAR_FILE');
  await assertRejectsCode(AuditLog.open(dir), 'ERR_IO_NOT_REGULAR_FILE');
});

test('concurrent appends are serialized in call order and keep the chain', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'audit.log');
  const log = await AuditLog.open(path, { now: clock() });
  const n = 50;
  const pending = Array.from({ length: n }, (_, i) => log.append('blob.uploaded', { n: i }));
  // A bad call in the middle fails alone and does not disturb the queue.
  const bad = assert.rejects(log.append('blob.uploaded', { password: 'x' }), /looks like a secret/);
  const more = Array.from({ length: n }, (_, i) => log.append('blob.uploaded', { n: n + i }));
  const closed = log.close(); // waits for everything queued before it
  const results = await Promise.all([...pending, ...more]);
  await bad;
  await closed;
  assert.deepEqual(results.map((r) => r.seq), Array.from({ length: 2 * n }, (_, i) => i));
  assert.deepEqual(results.map((r) => r.fields.n), Array.from({ length: 2 * n }, (_, i) => i));
  for (let i = 1; i < results.length; i++) assert.equal(results[i]!.prev, results[i - 1]!.hash);
  const s = await verifyAuditLog(path);
  assert.equal(s.records, 2 * n);
  assert.equal(s.head, results.at(-1)!.hash);
});

test('a torn tail is refused by verifyAuditLog and truncated (then extended) by AuditLog.open', async (t) => {
  for (const tail of ['half', 'no-newline'] as const) {
    const dir = tmpDir(t);
    const { path, records } = await makeLog(dir, 3);
    const intact = readFileSync(path);
    const next = reseal(lines(path)[2]!, (o) => {
      o.seq = 3;
      o.prev = records[2]!.hash;
    });
    appendFileSync(path, tail === 'half' ? next.slice(0, next.length >> 1) : next);

    await assertAuditError(verifyAuditLog(path), 'ERR_AUDIT_RECORD_MALFORMED', 4);
    try {
      await verifyAuditLog(path);
    } catch (e) {
      assert.ok(isTrustError(e));
      assert.match(e.message, /incomplete final line/);
      assert.match(e.hint, /interrupted/);
    }
    const r = await cli(['audit', 'verify', 'audit.log'], { cwd: dir });
    assert.equal(r.code, 1);
    assert.notDeepEqual(readFileSync(path), intact, 'verification never repairs the file');

    const log = await AuditLog.open(path, { now: clock() });
    assert.equal(log.recoveredTornTail, true, tail);
    assert.deepEqual(readFileSync(path), intact);
    assert.deepEqual(log.head, { seq: 2, hash: records[2]!.hash });
    const r3 = await log.append('server.started');
    assert.equal(r3.seq, 3);
    await log.close();
    assert.equal((await verifyAuditLog(path)).records, 4);
    const reopened = await AuditLog.open(path);
    assert.equal(reopened.recoveredTornTail, false);
    await reopened.close();
  }
});

/** TAMPER is the negative table: one edit of a 5-record log per row, with the code and line it must produce. */
const TAMPER: { name: string; edit: (ls: string[], recs: AuditRecord[]) => string[]; code: ErrorCode; line: number }[] = [
  {
    name: 'edited field',
    edit: (ls) => ls.map((l, i) => (i === 2 ? l.replace('"key_id":"k2"', '"key_id":"kX"') : l)),
    code: 'ERR_AUDIT_CHAIN_BROKEN',
    line: 3,
  },
  {
    name: 'edited time',
    edit: (ls) => ls.map((l, i) => (i === 1 ? l.replace('10:00:01Z', '09:00:01Z') : l)),
    code: 'ERR_AUDIT_CHAIN_BROKEN',
    line: 2,
  },
  { name: 'deleted middle line', edit: (ls) => ls.filter((_, i) => i !== 2), code: 'ERR_AUDIT_CHAIN_BROKEN', line: 3 },
  { name: 'deleted first line', edit: (ls) => ls.slice(1), code: 'ERR_AUDIT_CHAIN_BROKEN', line: 1 },
  { name: 'swapped lines', edit: (ls) => [ls[0]!, ls[2]!, ls[1]!, ls[3]!, ls[4]!], code: 'ERR_AUDIT_CHAIN_BROKEN', line: 2 },
  { name: 'duplicated line', edit: (ls) => [ls[0]!, ls[1]!, ls[1]!, ls[2]!, ls[3]!, ls[4]!], code: 'ERR_AUDIT_CHAIN_BROKEN', line: 3 },
  {
    name: 'reordered keys (non-canonical)',
    edit: (ls) =>
      ls.map((l, i) => {
        if (i !== 1) return l;
        const o = JSON.parse(l) as JsonObject;
        return JSON.stringify({ seq: o.seq, time: o.time, event: o.event, ...o });
      }),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 2,
  },
  {
    name: 'whitespace added (non-canonical)',
    edit: (ls) => ls.map((l, i) => (i === 3 ? l.replace('","', '", "') : l)),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 4,
  },
  {
    name: 'escaped character (non-canonical)',
    edit: (ls) => ls.map((l, i) => (i === 3 ? l.replace('"stable"', '"st\\u0061ble"') : l)),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 4,
  },
  { name: 'CRLF line ending', edit: (ls) => ls.map((l, i) => (i === 1 ? l + '\r' : l)), code: 'ERR_AUDIT_RECORD_MALFORMED', line: 2 },
  { name: 'blank line', edit: (ls) => [ls[0]!, ls[1]!, '', ...ls.slice(2)], code: 'ERR_AUDIT_RECORD_MALFORMED', line: 3 },
  { name: 'not json', edit: (ls) => [ls[0]!, '{"seq":1,', ...ls.slice(2)], code: 'ERR_AUDIT_RECORD_MALFORMED', line: 2 },
  { name: 'json array', edit: (ls) => [ls[0]!, '[1]', ...ls.slice(2)], code: 'ERR_AUDIT_RECORD_MALFORMED', line: 2 },
  {
    name: 'duplicate key',
    edit: (ls) => ls.map((l, i) => (i === 1 ? l.replace('{', '{"channel":"beta",') : l)),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 2,
  },
  {
    name: 'recomputed hash, broken link to the next record',
    edit: (ls) => ls.map((l, i) => (i === 2 ? reseal(l, (o) => (o.key_id = 'evil')) : l)),
    code: 'ERR_AUDIT_CHAIN_BROKEN',
    line: 4,
  },
  {
    name: 'recomputed hash, prev pointing elsewhere',
    edit: (ls, recs) => ls.map((l, i) => (i === 3 ? reseal(l, (o) => (o.prev = recs[0]!.hash)) : l)),
    code: 'ERR_AUDIT_CHAIN_BROKEN',
    line: 4,
  },
  {
    name: 'recomputed hash, first prev not zeros',
    edit: (ls) => ls.map((l, i) => (i === 0 ? reseal(l, (o) => (o.prev = 'f'.repeat(64))) : l)),
    code: 'ERR_AUDIT_CHAIN_BROKEN',
    line: 1,
  },
  {
    name: 'recomputed hash, seq skipped',
    edit: (ls) => ls.map((l, i) => (i === 4 ? reseal(l, (o) => (o.seq = 5)) : l)),
    code: 'ERR_AUDIT_CHAIN_BROKEN',
    line: 5,
  },
  {
    name: 'hash without the domain prefix',
    edit: (ls) => ls.map((l, i) => (i === 0 ? reseal(l, () => undefined, '') : l)),
    code: 'ERR_AUDIT_CHAIN_BROKEN',
    line: 1,
  },
  {
    name: 'uppercase hex hash',
    edit: (ls) => ls.map((l, i) => (i === 1 ? l.replace(/"hash":"([0-9a-f]{64})"/, (_, h: string) => `"hash":"${h.toUpperCase()}"`) : l)),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 2,
  },
  {
    name: 'null field (resealed)',
    edit: (ls) => ls.map((l, i) => (i === 1 ? reseal(l, (o) => (o.channel = null)) : l)),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 2,
  },
  {
    name: 'impossible date (resealed)',
    edit: (ls) => ls.map((l, i) => (i === 1 ? reseal(l, (o) => (o.time = '2026-02-30T00:00:00Z')) : l)),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 2,
  },
  {
    name: 'time with fraction (resealed)',
    edit: (ls) => ls.map((l, i) => (i === 1 ? reseal(l, (o) => (o.time = '2026-11-22T10:00:01.5Z')) : l)),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 2,
  },
  {
    name: 'event not lowercase dotted (resealed)',
    edit: (ls) => ls.map((l, i) => (i === 1 ? reseal(l, (o) => (o.event = 'Manifest.Signed')) : l)),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 2,
  },
  {
    name: 'seq as string (resealed)',
    edit: (ls) => ls.map((l, i) => (i === 1 ? reseal(l, (o) => (o.seq = '1')) : l)),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 2,
  },
  {
    name: 'missing event (resealed)',
    edit: (ls) => ls.map((l, i) => (i === 1 ? reseal(l, (o) => delete o.event) : l)),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 2,
  },
  {
    name: 'nested too deep',
    edit: (ls) => ls.map((l, i) => (i === 1 ? l.replace('"channel":"stable"', `"channel":${'['.repeat(40)}${']'.repeat(40)}`) : l)),
    code: 'ERR_LIMIT_DEPTH',
    line: 2,
  },
  {
    name: 'float field',
    edit: (ls) => ls.map((l, i) => (i === 1 ? l.replace('"sequence":1', '"sequence":1.5') : l)),
    code: 'ERR_AUDIT_RECORD_MALFORMED',
    line: 2,
  },
];

test('tamper table: every edit is refused by verifyAuditLog and AuditLog.open with its code and line', async (t) => {
  const dir = tmpDir(t);
  const { path: clean, records } = await makeLog(dir, 5, 'clean.log');
  const original = lines(clean);
  for (const [i, row] of TAMPER.entries()) {
    await t.test(row.name, async () => {
      const path = join(dir, `tampered-${i}.log`);
      writeLines(path, row.edit([...original], records));
      assert.notDeepEqual(lines(path), original, 'the edit changed something');
      const before = readFileSync(path);
      await assertAuditError(verifyAuditLog(path), row.code, row.line);
      await assertAuditError(AuditLog.open(path), row.code, row.line);
      assert.deepEqual(readFileSync(path), before, 'a refused open leaves the file untouched');
    });
  }
});

test('invalid UTF-8 in a line is refused as malformed', async (t) => {
  const dir = tmpDir(t);
  const { path } = await makeLog(dir, 2);
  const buf = readFileSync(path);
  const at = buf.indexOf('stable');
  buf[at] = 0xff;
  writeFileSync(path, buf);
  await assertAuditError(verifyAuditLog(path), 'ERR_AUDIT_RECORD_MALFORMED', 1);
});

test('truncation of the tail is detected only with an anchored head (expectHead)', async (t) => {
  const dir = tmpDir(t);
  const { path, records } = await makeLog(dir, 5);
  const anchored = records[4]!.hash;
  assert.equal((await verifyAuditLog(path, { expectHead: anchored })).records, 5);
  assert.equal((await verifyAuditLog(path, { expectHead: records[1]!.hash })).head, anchored, 'an older anchor is extended');

  writeLines(path, lines(path).slice(0, 3));
  assert.equal((await verifyAuditLog(path)).records, 3, 'without an anchor a truncated log verifies');
  await assertAuditError(verifyAuditLog(path, { expectHead: anchored }), 'ERR_AUDIT_HEAD_MISSING');
  assert.equal((await verifyAuditLog(path, { expectHead: records[2]!.hash })).records, 3);

  // A forger who rewrites the whole chain with fresh hashes is caught by the anchor too.
  const forged: string[] = [];
  let prev = AUDIT_GENESIS_HASH;
  for (const l of lines(path)) {
    const f = reseal(l, (o) => {
      o.channel = 'evil';
      o.prev = prev;
    });
    prev = (JSON.parse(f) as { hash: string }).hash;
    forged.push(f);
  }
  writeLines(path, forged);
  assert.equal((await verifyAuditLog(path)).records, 3);
  await assertAuditError(verifyAuditLog(path, { expectHead: records[0]!.hash }), 'ERR_AUDIT_HEAD_MISSING');
  await assertRejectsCode(verifyAuditLog(path, { expectHead: 'ABC' }), 'ERR_FORMAT_HEX');
});

test('secret-looking and reserved field names, bad values and bad event names are programming errors; nothing is written', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'audit.log');
  const log = await AuditLog.open(path, { now: clock() });
  await log.append('server.started');
  const size = readFileSync(path).length;
  const badFields: [string, JsonObject][] = [
    ['token', { token: 'x' }],
    ['apiToken', { apiToken: 'x' }],
    ['DB_PASSWORD', { DB_PASSWORD: 'x' }],
    ['passphrase', { passphrase: 'x' }],
    ['client_secret', { client_secret: 'x' }],
    ['Authorization', { Authorization: 'Bearer x' }],
    ['private_key', { private_key: 'x' }],
    ['privateKey', { privateKey: 'x' }],
    ['Private-Key nested', { signer: { 'Private-Key': 'x' } }],
    ['token in array of objects', { items: [{ ok: 1 }, { refresh_token: 'x' }] }],
    ['seq', { seq: 1 }],
    ['time', { time: 'now' }],
    ['event', { event: 'x' }],
    ['prev', { prev: 'x' }],
    ['hash', { hash: 'x' }],
    ['__proto__', JSON.parse('{"__proto__":1}') as JsonObject],
    ['null', { a: null }],
    ['float', { a: 1.5 }],
    ['unsafe integer', { a: 2 ** 53 }],
    ['NaN', { a: NaN }],
    ['lone surrogate', { a: '\ud800' }],
    ['undefined', { a: undefined } as unknown as JsonObject],
    ['Date', { a: new Date() } as unknown as JsonObject],
    ['bigint', { a: 1n } as unknown as JsonObject],
    ['too deep', { a: JSON.parse('['.repeat(40) + ']'.repeat(40)) as JsonObject }],
  ];
  for (const [name, fields] of badFields) {
    await assert.rejects(log.append('manifest.signed', fields), (e: unknown) => {
      assert.ok(e instanceof Error && !isTrustError(e), `${name}: expected a plain Error, got ${String(e)}`);
      return true;
    }, name);
  }
  for (const event of ['', 'signed', 'Manifest.signed', 'manifest..signed', 'manifest.signed.', '.x', 'a-b.c', 'a.' + 'b'.repeat(200)]) {
    await assert.rejects(log.append(event), /lowercase dotted name/, JSON.stringify(event));
  }
  assert.equal(readFileSync(path).length, size, 'nothing was written');
  // Names are matched conservatively: "tokens_total" contains "token" and is refused too.
  await assert.rejects(log.append('key.rotated', { tokens_total: 3 }), /looks like a secret/);
  const r = await log.append('key.rotated', { key_id: 'k1', count: 2, flags: [true, false], meta: { a: 'b' } });
  assert.equal(r.seq, 1);
  await log.close();
  assert.equal((await verifyAuditLog(path)).records, 2);
});

test('oversized lines: refused when written by hand (even without a newline) and by append', async (t) => {
  const dir = tmpDir(t);
  const { path } = await makeLog(dir, 2);
  const intact = readFileSync(path);

  appendFileSync(path, '{"x":"' + 'a'.repeat(AUDIT_LINE_MAX_BYTES) + '"}\n');
  await assertAuditError(verifyAuditLog(path), 'ERR_LIMIT_SIZE', 3);
  await assertAuditError(AuditLog.open(path), 'ERR_LIMIT_SIZE', 3);

  // An endless unterminated line is not a torn append: open refuses it instead of truncating 200 KiB.
  writeFileSync(path, Buffer.concat([intact, Buffer.alloc(200 * 1024, 0x61)]));
  await assertAuditError(AuditLog.open(path), 'ERR_LIMIT_SIZE', 3);
  assert.equal(readFileSync(path).length, intact.length + 200 * 1024);

  writeFileSync(path, intact);
  const log = await AuditLog.open(path, { now: clock() });
  await assertRejectsCode(log.append('blob.uploaded', { note: 'n'.repeat(AUDIT_LINE_MAX_BYTES) }), 'ERR_LIMIT_SIZE');
  assert.deepEqual(readFileSync(path), intact);
  // Just under the cap is fine, and such a line spans the verifier's read chunks.
  const big = await log.append('blob.uploaded', { note: 'n'.repeat(AUDIT_LINE_MAX_BYTES - 300) });
  assert.ok(formatAuditRecord(big).length <= AUDIT_LINE_MAX_BYTES);
  assert.equal(big.seq, 2);
  await log.close();
  assert.equal((await verifyAuditLog(path)).records, 3);
});

test('a long log is verified streaming, across read-chunk boundaries', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'audit.log');
  const log = await AuditLog.open(path, { now: clock() });
  let last: AuditRecord | undefined;
  for (let i = 0; i < 3000; i++) last = await log.append('artifact.served', { i, pad: 'p'.repeat(i % 97) });
  await log.close();
  assert.ok(readFileSync(path).length > 4 * 64 * 1024);
  const s = await verifyAuditLog(path, { expectHead: last!.hash });
  assert.equal(s.records, 3000);
  const reopened = await AuditLog.open(path);
  assert.deepEqual(reopened.head, { seq: 2999, hash: last!.hash });
  await reopened.close();
});

test('CLI: custody audit verify transcripts (ok, --json, --head, broken, usage, missing file)', async (t) => {
  const dir = tmpDir(t);
  const { path, records } = await makeLog(dir, 3);
  const head = records[2]!.hash;

  let r = await cli(['audit', 'verify', 'audit.log'], { cwd: dir });
  assert.deepEqual(r, {
    code: 0,
    stdout: `ok: 3 records, chain intact\nhead: ${head}\ntime: 2026-11-22T10:00:00Z .. 2026-11-22T10:00:02Z\n`,
    stderr: '',
  });

  r = await cli(['audit', 'verify', 'audit.log', '--json', '--head', records[0]!.hash], { cwd: dir });
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  assert.deepEqual(JSON.parse(r.stdout), {
    ok: true,
    records: 3,
    head,
    first_time: '2026-11-22T10:00:00Z',
    last_time: '2026-11-22T10:00:02Z',
    anchored_head: records[0]!.hash,
  });

  writeFileSync(join(dir, 'empty.log'), '');
  r = await cli(['audit', 'verify', 'empty.log', '--json'], { cwd: dir });
  assert.deepEqual(JSON.parse(r.stdout), { ok: true, records: 0, head: AUDIT_GENESIS_HASH, first_time: null, last_time: null });

  const ls = lines(path);
  writeLines(join(dir, 'broken.log'), [ls[0]!, ls[2]!]);
  r = await cli(['audit', 'verify', 'broken.log'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    'custody: error: audit log line 2: expected seq 1, got 2: a record was deleted, inserted or reordered [ERR_AUDIT_CHAIN_BROKEN]\n' +
      'custody: hint: a record of the audit log was edited, deleted, inserted or reordered at the line named; keep the file as evidence\n',
  );
  r = await cli(['audit', 'verify', 'broken.log', '--json'], { cwd: dir });
  assert.equal(r.code, 1);
  const j = JSON.parse(r.stdout) as { ok: boolean; code: string; details: { line: number } };
  assert.equal(j.ok, false);
  assert.equal(j.code, 'ERR_AUDIT_CHAIN_BROKEN');
  assert.equal(j.details.line, 2);

  writeLines(join(dir, 'truncated.log'), ls.slice(0, 2));
  r = await cli(['audit', 'verify', 'truncated.log', '--head', head], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[ERR_AUDIT_HEAD_MISSING\]\n/);

  r = await cli(['audit', 'verify', 'audit.log', '--head', 'xyz'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\[ERR_USAGE_ARGUMENT\]/);
  r = await cli(['audit', 'verify'], { cwd: dir });
  assert.equal(r.code, 2);
  r = await cli(['audit', 'verify', 'nope.log'], { cwd: dir });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /\[ERR_IO_NOT_FOUND\]/);
  // The real executable, as a user runs it: same exit codes.
  const real = await spawnCli(['audit', 'verify', 'broken.log'], { cwd: dir });
  assert.equal(real.code, 1);
  assert.match(real.stderr, /^custody: error: audit log line 2: .*\[ERR_AUDIT_CHAIN_BROKEN\]\n/);
  assert.equal((await spawnCli(['audit', 'verify', 'audit.log'], { cwd: dir })).code, 0);

  r = await cli(['audit', 'verify', '--help'], { cwd: dir });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^usage: custody audit verify FILE \[--head HEX \| --anchor ANCHOR --log-key VKEY\] \[--json\]/);
});

test('a full disk during an append is ERR_IO_WRITE_FAILED (injected writer), further appends refused, reopen recovers', async (t) => {
  const { promises: fsp } = await import('node:fs');
  const path = join(tmpDir(t), 'audit.jsonl');
  const log = await AuditLog.open(path);
  await log.append('daemon.started', { n: 1 });
  // The injected writer: FileHandle.prototype.write, replaced for the duration of one append.
  const probe = await fsp.open(path, 'r');
  const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<{ bytesWritten: number }> };
  await probe.close();
  const real = proto.write;
  const failures: Array<[string, () => Promise<{ bytesWritten: number }>]> = [
    ['a write that accepts nothing (a full disk giving a short write)', () => Promise.resolve({ bytesWritten: 0 })],
    ['ENOSPC', () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }))],
    ['an error without errno', () => Promise.reject(new Error('device gone'))],
  ];
  for (const [what, fail] of failures) {
    const l = await AuditLog.open(path);
    proto.write = fail;
    let e: unknown;
    try {
      e = await l.append('blob.stored', { size: 1 }).then(() => undefined, (x: unknown) => x);
    } finally {
      proto.write = real;
    }
    assert.ok(isTrustError(e) && e.code === 'ERR_IO_WRITE_FAILED' && e.exitCode === 3, `${what}: ${String(e)}`);
    // The instance refuses further appends (the file may end in a partial line) until it is reopened.
    await assertRejectsCode(l.append('blob.stored', { size: 2 }), 'ERR_IO_WRITE_FAILED');
    await l.close();
  }
  await log.close();
  const again = await AuditLog.open(path);
  const rec = await again.append('daemon.stopped', {});
  assert.equal(rec.seq, 1);
  await again.close();
  assert.equal((await verifyAuditLog(path)).records, 2);
});
