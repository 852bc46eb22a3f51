/**
 * server/young-generation — keeps V8's young generation at its initial size while the daemon starts (V8 heap
 * flag `--semi-space-growth-factor`, read each time the new space would grow; Node 20 / V8 11.3).
 *
 * Why: starting `custody serve` loads several hundred modules and imports and hashes the artifacts it finds, which
 * grows the leader's new space to its maximum (2 × 16 MiB semi-spaces), and V8 never gives those pages back: the
 * leader then holds ~30 MiB it does not use while its workers serve downloads (issue 9: 1,000 concurrent downloads
 * of 1 GiB within 300 MiB over all processes; bench/sections/provider-memory). `--max-semi-space-size` would do the
 * same but only on the command line (workers get it from server/cluster); a process cannot change its own maximum.
 * Growth is allowed again once the daemon has started, so a later allocation burst (log appends, a release) grows
 * the new space exactly as before. Only memory and GC timing change; no data or check does.
 */
import { setFlagsFromString } from 'node:v8';

/** V8_SEMI_SPACE_GROWTH_FACTOR is V8's default for the flag (flag-definitions.h, V8 11.x). */
const V8_SEMI_SPACE_GROWTH_FACTOR = 2;

/** NOTHING_HELD is what holdYoungGeneration returns when it leaves V8's flags alone. */
export const NOTHING_HELD = (): void => undefined;

/**
 * holdYoungGeneration stops the new space from growing and returns the function that allows it again. It does
 * nothing (and returns a no-op) when the operator set the flag or a young-generation size themselves.
 */
export function holdYoungGeneration(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): () => void {
  const own = (a: string): boolean => /^--(semi[-_]space[-_]growth[-_]factor|max[-_]semi[-_]space[-_]size|min[-_]semi[-_]space[-_]size)\b/.test(a);
  if (execArgv.some(own) || nodeOptions.split(/\s+/).some(own)) return NOTHING_HELD;
  setFlagsFromString('--semi-space-growth-factor=1');
  let held = true;
  return () => {
    if (held) setFlagsFromString(`--semi-space-growth-factor=${V8_SEMI_SPACE_GROWTH_FACTOR}`);
    held = false;
  };
}
