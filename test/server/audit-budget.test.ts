/**
 * server/audit-budget: refusals of unauthenticated requests reach the audit log within a budget per minute, and the
 * first record after the budget says how many were left out; refusals naming an authenticated caller, and every other
 * event, are always recorded. On a real daemon: a flood of bad tokens on /v1/verify becomes the budget's worth of
 * fsynced records, not one per request.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RefusalBudget, UNAUTHENTICATED_REFUSALS_PER_MINUTE } from '../../src/server/audit-budget.ts';
import { start } from '../provider/harness.ts';
import { tmpDir } from '../support/tmp.ts';

test('RefusalBudget: so many unauthenticated refusals a minute, then a count of the rest on the next one recorded', () => {
  let now = 1_000_000;
  const b = new RefusalBudget(3, () => now);
  const anon = { route: '/v1/verify', code: 'ERR_AUTH_TOKEN_INVALID', ip: '192.0.2.1' };
  for (let i = 0; i < 3; i++) assert.deepEqual(b.admit('signapi.refused', anon), anon);
  assert.equal(b.admit('signapi.refused', anon), undefined);
  // The provider's admin refusals have their own budget (server/provider/plugin): not counted here.
  assert.deepEqual(b.admit('admin.refused', { ip: '192.0.2.1' }), { ip: '192.0.2.1' });
  assert.equal(b.admit('signapi.refused', anon), undefined);
  // A refusal of an authenticated caller, and any other event, always goes through, and uses nothing of the budget.
  const known = { ...anon, code: 'ERR_AUTH_SCOPE', caller_id: 'tok_1', caller: 'ci' };
  assert.deepEqual(b.admit('signapi.refused', known), known);
  assert.deepEqual(b.admit('manifest.signed', { sequence: 7 }), { sequence: 7 });
  // A minute after the window opened, a new one: its first record says what the last one left out.
  now += 59_999;
  assert.equal(b.admit('signapi.refused', anon), undefined);
  now += 1;
  assert.deepEqual(b.admit('signapi.refused', anon), { ...anon, refusals_not_recorded: { 'signapi.refused': 3 } });
  assert.deepEqual(b.admit('signapi.refused', anon), anon);
});

test('a daemon flooded with bad tokens records the budget of refusals, not one per request', { timeout: 120_000 }, async (t) => {
  const d = await start(t, join(tmpDir(t), 'data'), { signingRateLimitPerIp: 0, signingRateLimitPerToken: 0 });
  const n = UNAUTHENTICATED_REFUSALS_PER_MINUTE + 30;
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${d.url}/v1/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer custody_${'x'.repeat(40)}${i}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(r.status, 401);
    await r.arrayBuffer();
  }
  // The audit log appends in order: once this one is written, every admitted refusal before it is too.
  await d.audit.append('test.marker', {});
  const events = readFileSync(join(d.dataDir, 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { event: string; code?: string });
  const refused = events.filter((e) => e.event === 'signapi.refused');
  assert.equal(refused.length, UNAUTHENTICATED_REFUSALS_PER_MINUTE);
  assert.ok(refused.every((e) => e.code === 'ERR_AUTH_TOKEN_INVALID'), JSON.stringify(refused.slice(0, 2)));
  // Stopped with 30 left out and no later refusal to carry them: the count is recorded before daemon.stopped.
  await d.close();
  const tail = readFileSync(join(d.dataDir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .slice(-2)
    .map((l) => JSON.parse(l) as { event: string; refusals_not_recorded?: unknown });
  assert.deepEqual(tail.map((e) => e.event), ['audit.refusals_not_recorded', 'daemon.stopped']);
  assert.deepEqual(tail[0]!.refusals_not_recorded, { 'signapi.refused': 30 });
});
