/**
 * cli/progress — one progress bar per artifact download on a terminal (bytes, rate, ETA), drawn by cli-progress on
 * stderr; nothing at all when stderr is not a terminal or `--json` is given (stdout carries only the result).
 */
import type { SingleBar } from 'cli-progress';
import type { DownloadProgress } from '../client/provider-client.ts';
import type { CommandContext } from './context.ts';

/** ProgressSink receives fetchRelease's progress events; stop() ends the bars (idempotent) before other output. */
export interface ProgressSink {
  onProgress: ((p: DownloadProgress) => void) | undefined;
  stop: () => void;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** humanBytes formats a byte count with a binary unit ("12.3 MiB"). */
export function humanBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${UNITS[u]}`;
}

function eta(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const t = Math.round(s);
  return `${String(Math.floor(t / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
}

/** progressBars returns a sink drawing bars on ctx.terminal, or an inert one (no terminal, or --json). */
export async function progressBars(ctx: CommandContext): Promise<ProgressSink> {
  const stream = ctx.terminal;
  if (stream === undefined || ctx.json) return { onProgress: undefined, stop: () => undefined };
  // Loaded only when a bar is drawn: scripts and pipes never pay for it.
  const { MultiBar } = (await import('cli-progress')).default;
  const multi = new MultiBar({
    stream,
    hideCursor: true,
    clearOnComplete: false,
    stopOnComplete: false,
    fps: 10,
    format: (_o, params, payload: { filename: string; rate: number }) => {
      const left = params.total - params.value;
      const pct = `${String(Math.floor(params.progress * 100)).padStart(3)}%`;
      const tail = `${pct} ${humanBytes(params.value)}/${humanBytes(params.total)} ${humanBytes(payload.rate)}/s ETA ${eta(payload.rate > 0 ? left / payload.rate : Infinity)}`;
      const name = payload.filename.length > 24 ? payload.filename.slice(0, 23) + '…' : payload.filename;
      // The bar takes what the terminal's width leaves (cli-progress cuts longer lines), 5 to 30 cells.
      const width = Math.max(5, Math.min(30, (stream.columns || 80) - name.length - tail.length - 3));
      const filled = Math.round(params.progress * width);
      return `${name} ${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${tail}`;
    },
  });
  const bars = new Map<string, { bar: SingleBar; start: number }>();
  let stopped = false;
  return {
    onProgress: (p) => {
      if (stopped) return;
      const key = `${p.provider} ${p.name}`;
      let b = bars.get(key);
      if (b === undefined) {
        b = { bar: multi.create(p.total, 0, { filename: p.filename, rate: 0 }), start: Date.now() };
        bars.set(key, b);
      }
      const secs = (Date.now() - b.start) / 1000;
      b.bar.update(p.received, { filename: p.done === false ? `${p.filename} (failed)` : p.filename, rate: secs > 0 ? p.received / secs : 0 });
      if (p.done !== undefined) bars.delete(key);
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      multi.stop();
    },
  };
}
