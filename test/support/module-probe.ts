/**
 * test/support/module-probe — preloaded into every process of a `custody serve` under test
 * (`NODE_OPTIONS=--import …/module-probe.ts`, with CUSTODY_TEST_MODULE_PROBE naming a directory): a cluster worker,
 * each time its leader asks it for metrics (server/ui/counts), writes the files of its CommonJS module cache
 * (`require.cache`: every package loaded, through `require` or `import`) to DIR/<pid>.json. Test-only: nothing in
 * src/ knows of it.
 */
import cluster from 'node:cluster';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const dir = process.env.CUSTODY_TEST_MODULE_PROBE;
if (dir !== undefined && cluster.isWorker) {
  const cache = createRequire(import.meta.url).cache;
  process.on('message', (m: { type?: unknown }) => {
    if (m.type === 'metrics') writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(Object.keys(cache)));
  });
}
