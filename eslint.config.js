// typescript-eslint recommendedTypeChecked, zero warnings.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import path from 'node:path';

// The layering of src/ (README "Development"): a module imports only from its own folder or from a lower tier, so
// formats never reach into services and nothing but the CLI and the daemon sees everything. errors.ts sits below
// every tier, and so does version.ts (one constant); index.ts above them all (nothing imports it).
const TIERS = [
  ['crypto'],
  ['encoding'],
  ['io'],
  ['keys', 'tlog', 'hsm'],
  ['note', 'trust', 'archive', 'secrets'],
  ['manifest', 'pkg', 'attest'],
  ['policy', 'sbom'],
  ['log', 'audit', 'client', 'vuln', 'rebuild', 'auth', 'discovery'],
  ['release'],
  ['server'],
  ['cli'],
];
const SRC = path.join(import.meta.dirname, 'src');
function tierOf(file) {
  const rel = path.relative(SRC, file);
  if (rel.startsWith('..')) return undefined;
  const top = rel.split(path.sep)[0];
  if (top === 'errors.ts' || top === 'version.ts') return { name: top, tier: -1 };
  if (top === 'index.ts') return { name: top, tier: TIERS.length };
  const tier = TIERS.findIndex((t) => t.includes(top));
  return { name: top, tier: tier === -1 ? undefined : tier };
}
const layersPlugin = {
  rules: {
    'import-order': {
      meta: { type: 'problem', schema: [], messages: {
        upward: "src/{{from}} may not import from src/{{to}}: imports point down the tiers (README, Development)",
        unknown: 'src/{{name}} is in no tier of eslint.config.js; add it where it belongs',
      } },
      create(context) {
        const from = tierOf(context.filename);
        if (from === undefined) return {};
        const check = (node, source) => {
          if (typeof source !== 'string' || !source.startsWith('.')) return;
          const to = tierOf(path.resolve(path.dirname(context.filename), source));
          if (to === undefined || from.name === to.name) return;
          for (const side of [from, to]) {
            if (side.tier === undefined) {
              context.report({ node, messageId: 'unknown', data: { name: side.name } });
              return;
            }
          }
          if (to.tier >= from.tier) context.report({ node, messageId: 'upward', data: { from: from.name, to: to.name } });
        };
        return {
          ImportDeclaration: (n) => check(n, n.source.value),
          ExportNamedDeclaration: (n) => n.source && check(n, n.source.value),
          ExportAllDeclaration: (n) => check(n, n.source.value),
          ImportExpression: (n) => n.source.type === 'Literal' && check(n, n.source.value),
        };
      },
    },
  },
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '**/.*'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', {
        paths: [{ name: 'node:crypto', message: 'only src/crypto/ may import node:crypto (README, Development)' },
                { name: 'crypto', message: 'only src/crypto/ may import node:crypto (README, Development)' }],
      }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { layers: layersPlugin },
    rules: { 'layers/import-order': 'error' },
  },
  {
    files: ['src/crypto/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'fuzz/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
