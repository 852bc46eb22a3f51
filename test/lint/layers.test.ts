/**
 * The layering of src/ is enforced by the `layers/import-order` rule in eslint.config.js: this test pins that an
 * upward import (a format reaching into a service, a service into the CLI) is an error, and a downward one is not.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const root = path.resolve(import.meta.dirname, '../..');

async function layerErrors(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  assert.ok(result);
  return result.messages.filter((m) => m.ruleId === 'layers/import-order').map((m) => m.message);
}

test('layers: an upward import fails lint, a downward one passes', async () => {
  const up = await layerErrors('src/tlog/merkle.ts', "import '../log/sequencer.ts';\nimport '../server/http.ts';\n");
  assert.deepEqual(up, [
    'src/tlog may not import from src/log: imports point down the tiers (README, Development)',
    'src/tlog may not import from src/server: imports point down the tiers (README, Development)',
  ]);
  const sideways = await layerErrors('src/note/note.ts', "import '../trust/root.ts';\n");
  assert.equal(sideways.length, 1, 'modules of one tier do not import each other');
  const down = await layerErrors('src/log/client.ts', "import '../tlog/merkle.ts';\nimport '../errors.ts';\nimport './storage.ts';\n");
  assert.deepEqual(down, []);
  const root = await layerErrors('src/crypto/hash.ts', "import '../errors.ts';\nimport '../version.ts';\n");
  assert.deepEqual(root, [], 'errors.ts and version.ts sit below every tier');
});
