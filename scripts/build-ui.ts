/**
 * scripts/build-ui — bundles the dashboard (ui/, browser code) with esbuild into dist/ui/ (docs/dashboard.md).
 * Run by `npm run build` after tsc.
 */
import { bundleUi, UI_DIST_DIR } from '../src/server/ui/assets.ts';

const files = await bundleUi(UI_DIST_DIR);
process.stdout.write(`dashboard: ${[...files].map(([n, b]) => `${n} ${b.length} B`).join(', ')} → ${UI_DIST_DIR}\n`);
