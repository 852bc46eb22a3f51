/**
 * scripts/gen-errors-doc — rewrites the generated table in docs/errors.md from src/errors.ts.
 * Run `npm run docs:errors` after adding a code; test/errors.test.ts fails while the two disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderErrorTable } from '../test/support/errors-table.ts';

const path = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
const doc = readFileSync(path, 'utf8');
const start = doc.indexOf('<!-- codes:begin -->');
const end = doc.indexOf('<!-- codes:end -->');
if (start < 0 || end < 0) throw new Error('docs/errors.md lacks the codes markers');
writeFileSync(path, doc.slice(0, start) + '<!-- codes:begin -->\n' + renderErrorTable() + doc.slice(end));
