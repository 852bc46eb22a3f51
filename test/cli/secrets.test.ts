/**
 * test/cli/secrets — transcripts of `custody secrets put|get|list|rotate-kek|rewrap`: values from stdin (a real child)
 * or --from-file, to stdout or --output 0600; a hand-edited file refused with nothing printed or written; no secret
 * in argv, stdout of other commands or stderr.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, spawnCli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

const ENV = { CUSTODY_PASSPHRASE: 'cli passphrase' };

test('secrets put/get/list/rotate-kek/rewrap transcripts', async (t) => {
  const cwd = tmpDir(t);
  writeFileSync(join(cwd, 'value.txt'), 's3cret value\n');
  let r = await cli(['secrets', 'put', '--store', 'st', 'db.password', '--from-file', 'value.txt'], { cwd, env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^stored db\.password version 1 \(data key wrapped by kek-[0-9a-f]{16}\)\n$/);
  assert.match(r.stderr, /created a new keyring/);
  // From stdin, through the real executable.
  const c = await spawnCli(['secrets', 'put', '--store', 'st', 'api.key', '--json'], { cwd, env: ENV, input: 'from stdin' });
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(Object.keys(JSON.parse(c.stdout) as object).sort(), ['kek_id', 'keyring_created', 'name', 'ok', 'version']);
  r = await cli(['secrets', 'get', '--store', 'st', 'api.key'], { cwd, env: ENV });
  assert.deepEqual([r.code, r.stdout], [0, 'from stdin']);
  r = await cli(['secrets', 'get', '--store', 'st', 'db.password', '--output', 'out.txt'], { cwd, env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(cwd, 'out.txt'), 'utf8'), 's3cret value\n');
  assert.equal(statSync(join(cwd, 'out.txt')).mode & 0o777, 0o600);
  r = await cli(['secrets', 'get', '--store', 'st', 'api.key', '--json'], { cwd, env: ENV });
  assert.equal(r.code, 2);
  assert.ok(!r.stdout.includes('from stdin'));
  // list needs no passphrase; with one it shows the KEKs.
  r = await cli(['secrets', 'list', '--store', 'st'], { cwd, env: {} });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^api\.key {2}v1 {2}kek-[0-9a-f]{16}\ndb\.password {2}v1 {2}kek-/);
  r = await cli(['secrets', 'rotate-kek', '--store', 'st', '--json'], { cwd, env: ENV });
  assert.equal(r.code, 0, r.stderr);
  const rot = JSON.parse(r.stdout) as { active: string; rewrapped: number; retired: string[] };
  assert.equal(rot.rewrapped, 2);
  assert.equal(rot.retired.length, 1);
  r = await cli(['secrets', 'rewrap', '--store', 'st'], { cwd, env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `rewrapped: 0 data key(s) rewrapped, 2 already under ${rot.active}\nretired: none\n`);
  r = await cli(['secrets', 'list', '--store', 'st', '--json'], { cwd, env: ENV });
  const listed = JSON.parse(r.stdout) as { secrets: Array<{ kek_id: string }>; keks: Array<{ id: string; state: string }> };
  assert.deepEqual(listed.keks.map((k) => [k.id, k.state]), [[rot.active, 'active']]);
  assert.ok(listed.secrets.every((s) => s.kek_id === rot.active));
  // A hand-edited payload: refused (exit 1), nothing printed, no output file.
  const f = join(cwd, 'st', 'db.password.secret');
  const doc = JSON.parse(readFileSync(f, 'utf8')) as { ciphertext: string };
  const ct = Buffer.from(doc.ciphertext, 'base64');
  ct[0] = ct[0]! ^ 1;
  writeFileSync(f, JSON.stringify({ ...doc, ciphertext: ct.toString('base64') }));
  r = await cli(['secrets', 'get', '--store', 'st', 'db.password', '--output', 'out2.txt'], { cwd, env: ENV });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[ERR_SECRETS_DECRYPT\]/);
  assert.equal(r.stdout, '');
  assert.equal(existsSync(join(cwd, 'out2.txt')), false);
  // Wrong passphrase and bad names are coded.
  r = await cli(['secrets', 'get', '--store', 'st', 'api.key'], { cwd, env: { CUSTODY_PASSPHRASE: 'nope' } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\[ERR_SECRETS_KEYRING_AUTH\]/);
  r = await cli(['secrets', 'put', '--store', 'st', 'Bad/Name', '--from-file', 'value.txt'], { cwd, env: ENV });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\[ERR_SECRETS_NAME\]/);
  assert.ok(!r.stderr.includes('s3cret'));
});
