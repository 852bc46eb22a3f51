/**
 * test/support/assert — `assertCode` plays the role of sigstore's `toThrowWithCode`: the thrown value must be a
 * TrustError of the given code (and, optionally, class name).
 */
import assert from 'node:assert/strict';
import { isTrustError, type ErrorCode } from '../../src/errors.ts';

export function assertCode(fn: () => unknown, code: ErrorCode, name?: string): void {
  let threw = false;
  try {
    fn();
  } catch (e) {
    threw = true;
    assert.ok(isTrustError(e), `expected a TrustError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (name) assert.equal(e.name, name);
  }
  assert.ok(threw, `expected ${code} to be thrown`);
}

export async function assertRejectsCode(p: Promise<unknown> | (() => Promise<unknown>), code: ErrorCode): Promise<void> {
  let threw = false;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    threw = true;
    assert.ok(isTrustError(e), `expected a TrustError ${code}, got ${String((e as Error)?.stack ?? e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
  }
  assert.ok(threw, `expected ${code} to be thrown`);
}
