/**
 * encoding/time parseDuration: the one duration grammar of every flag (`--expires 30d`, `--check-timeout 500ms`,
 * `--mirror-interval 30`), with its bounds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../../src/encoding/time.ts';
import { isTrustError } from '../../src/errors.ts';
import { assertCode } from '../support/assert.ts';

test('every unit, and a bare number as seconds only where the flag allows it', () => {
  const rows: Array<[string, number]> = [['500ms', 500], ['90s', 90_000], ['15m', 900_000], ['12h', 43_200_000], ['30d', 2_592_000_000], ['2w', 1_209_600_000]];
  for (const [text, ms] of rows) assert.equal(parseDuration(text, 'x'), ms, text);
  assert.equal(parseDuration('30', 'x', { bareSeconds: true }), 30_000);
  assertCode(() => parseDuration('30', 'x'), 'ERR_USAGE_ARGUMENT');
});

test('malformed, zero and out-of-bounds durations are refused, naming the flag, the bounds and the value', () => {
  for (const bad of ['', '0d', '-1s', '1.5s', '1 s', '1S', '1y', 's', '1000000000s', '30d ', '\u0661s']) assertCode(() => parseDuration(bad, '--expires'), 'ERR_USAGE_ARGUMENT');
  assertCode(() => parseDuration('50ms', '--mirror-interval', { minMs: 100, maxMs: 86_400_000 }), 'ERR_USAGE_ARGUMENT');
  assertCode(() => parseDuration('2d', '--mirror-interval', { minMs: 100, maxMs: 86_400_000 }), 'ERR_USAGE_ARGUMENT');
  assert.equal(parseDuration('1d', '--mirror-interval', { minMs: 100, maxMs: 86_400_000 }), 86_400_000);
  try {
    parseDuration('2d', '--mirror-interval', { minMs: 100, maxMs: 86_400_000 });
    assert.fail('accepted');
  } catch (e) {
    assert.ok(isTrustError(e));
    assert.match(e.message, /^--mirror-interval: .* between 100ms and 1d, got "2d"$/);
  }
});
