/**
 * Every code of src/errors.ts is asserted by some test (issue 8, item 12): a code nobody provokes is a refusal whose
 * path may be dead or wrong, and a new code must come with its test.
 *
 * What counts as an assertion: the code written as a whole string literal (`'ERR_X'`, `"ERR_X"`, or a template
 * with no substitutions), inside a regular-expression literal (`/\[ERR_X\]/`), or in brackets as the CLI prints it
 * inside a longer expected output (`'custody: error: … [ERR_X]\n'`), in a test file under test/ — the forms
 * `assertCode(fn, 'ERR_X')`, `{ code: 'ERR_X' }`, `assert.equal(e.code, 'ERR_X')`, `assert.match(stderr, /\[ERR_X\]/)`
 * and `assert.equal(stderr, '… [ERR_X]\n…')` take. The files are parsed with the TypeScript compiler, so comments do not
 * count, and neither does a code that is only part of a longer string (a test title such as "… is refused with
 * ERR_X"). Not scanned: this file, and test/support/errors-table.ts (it renders the docs table from the code list).
 * The scan cannot tell a literal that is compared from one that is merely listed; reviewers keep that honest, and
 * the test/errors/ files hold the tests written to provoke the codes nothing else reached.
 *
 * Only the codes of ERROR_CODES are required; a retired code (kept out of the table so it is never reused) needs no
 * test. ERR_INTERNAL is the one code no public path produces on purpose (it reports a bug); test/errors/internal.test.ts
 * provokes it with an output stream that throws a plain Error.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { ERROR_CODES } from '../src/errors.ts';

const TEST_DIR = import.meta.dirname;
const NOT_SCANNED = new Set(['errors-coverage.test.ts', join('support', 'errors-table.ts')]);
const CODE_RE = /ERR_[A-Z0-9_]+/g;
/** BRACKETED_RE finds the code as the CLI prints it, `… [ERR_X]`, inside a longer expected output. */
const BRACKETED_RE = /\[(ERR_[A-Z0-9_]+)\]/g;

/** codesIn lists the codes a parsed file names: whole string literals, regex literals, and `[ERR_X]` in strings. */
function codesIn(source: ts.SourceFile): string[] {
  const codes: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateLiteralToken(node)) {
      if (/^ERR_[A-Z0-9_]+$/.test(node.text)) codes.push(node.text);
      for (const m of node.text.matchAll(BRACKETED_RE)) codes.push(m[1]!);
    } else if (ts.isRegularExpressionLiteral(node)) {
      for (const m of node.text.matchAll(CODE_RE)) codes.push(m[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return codes;
}

/** assertedCodes maps every code literal found in test/**\/*.ts to the first file naming it. */
function assertedCodes(): Map<string, string> {
  const found = new Map<string, string>();
  const files = (readdirSync(TEST_DIR, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts') && !NOT_SCANNED.has(f))
    .sort();
  for (const f of files) {
    const source = ts.createSourceFile(f, readFileSync(join(TEST_DIR, f), 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    for (const code of codesIn(source)) if (!found.has(code)) found.set(code, f);
  }
  return found;
}

test('every error code is asserted by its exact string in some test', () => {
  const asserted = assertedCodes();
  const missing = Object.keys(ERROR_CODES).filter((c) => !asserted.has(c));
  assert.deepEqual(missing, [], `codes no test asserts (write a test that provokes each one):\n  ${missing.join('\n  ')}`);
});

test('the scan sees literals and regexes but not comments or titles', () => {
  const source = ts.createSourceFile(
    'x.ts',
    "// 'ERR_A_B'\ntest('refused with ERR_C_D', () => { f('ERR_E_F'); g(/\\[ERR_G_H\\]/); h(`ERR_I_J`); i(`x ${y} [ERR_K_L]\\n`); });\n",
    ts.ScriptTarget.Latest,
  );
  const seen = codesIn(source);
  assert.deepEqual(seen, ['ERR_E_F', 'ERR_G_H', 'ERR_I_J', 'ERR_K_L']);
});
