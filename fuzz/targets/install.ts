/**
 * fuzz/targets/install — the install target's journal and state (src/client/install-state.ts, DIR/install.json):
 * any input either parses to a state that formats back to a document parsing to the same state, or is refused with
 * ERR_INSTALL_JOURNAL_INVALID; the --check command splitter (src/client/health-check.ts) never throws anything but
 * a usage error.
 */
import { splitCommand } from '../../src/client/health-check.ts';
import { emptyInstallState, formatInstallState, parseInstallState } from '../../src/client/install-state.ts';
import { isTrustError } from '../../src/errors.ts';
import { jsonFieldMutations } from '../structured.ts';
import { dec, enc, expectSame, type FuzzTarget } from '../target.ts';

export const installJournal: FuzzTarget = {
  name: 'install-journal',
  parses: 'install target journal and state (DIR/install.json) and --check command lines',
  make() {
    const a = emptyInstallState();
    const b = emptyInstallState();
    b.channel = 'stable';
    b.arch = 'x86_64';
    b.highest.set('stable/x86_64', { sequence: 1795315711, digest: `sha256:${'ab'.repeat(32)}` });
    b.history = [1795229311, 1795315711];
    b.rejected = [{ sequence: 1795316000, reason: 'check', at: '2026-12-01T21:00:00.000Z' }];
    b.pending = { op: 'install', from: 1795229311, to: 1795315711, step: 'check', check: true };
    const texts = [formatInstallState(a), formatInstallState(b)];
    return Promise.resolve({
      seeds: [...texts.map((t) => enc.encode(t)), enc.encode(`sh -c 'echo "a b" \\x'`)],
      structured: jsonFieldMutations(texts.map((t) => JSON.parse(t) as never)),
      run(input: Uint8Array) {
        try {
          splitCommand(dec.decode(input));
        } catch (e) {
          if (!isTrustError(e) || e.code !== 'ERR_USAGE_ARGUMENT') throw e;
        }
        const s = parseInstallState(input);
        const again = parseInstallState(enc.encode(formatInstallState(s)));
        expectSame(JSON.stringify({ ...again, highest: [...again.highest] }) === JSON.stringify({ ...s, highest: [...s.highest] }), 'formatInstallState(parseInstallState(x)) parses differently');
        return s;
      },
    });
  },
};
