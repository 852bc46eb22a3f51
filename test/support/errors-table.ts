/** test/support/errors-table — renders the docs/errors.md code table from src/errors.ts. */
import { ERROR_CODES, EXIT_CODES, type ErrorCode, type ErrorKind } from '../../src/errors.ts';

const CLASS: Record<ErrorKind, string> = {
  verification: 'VerificationError',
  policy: 'PolicyError',
  format: 'FormatError',
  limit: 'LimitError',
  config: 'ConfigError',
  usage: 'UsageError',
  io: 'IoError',
  internal: '`Error` (a bug)',
};

export function renderErrorTable(): string {
  const rows = ['| code | class | HTTP | exit | hint |', '|---|---|---|---|---|'];
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const [kind, status, hint] = ERROR_CODES[code];
    rows.push(`| \`${code}\` | ${CLASS[kind]} | ${status} | ${EXIT_CODES[kind]} | ${hint.replace(/\|/g, '\\|')} |`);
  }
  return rows.join('\n') + '\n';
}
