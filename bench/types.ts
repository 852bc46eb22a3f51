/** bench/types — the contract of a benchmark section. */
export interface BenchContext {
  /** scratch is a directory the section may fill (removed after the run). */
  scratch: string;
  /** quick is set by `npm run bench -- --quick`: smaller inputs, same shape, for a smoke run. */
  quick: boolean;
  /** log prints progress to stderr. */
  log: (line: string) => void;
  /**
   * record hands one headline figure to bench/compare.md (the one-table summary of every ratio and its target).
   * `id` is one of the FIGURES ids in bench/compare.ts (an unknown id is listed there as unplaced, not dropped);
   * `value` is the number the target is judged on (a ratio as a plain number, 0.93 for 0.93×; a rate in /s; a
   * size in MiB; a latency in ms). `note` is shown beside it (e.g. the spread of several runs, or the raw figures).
   * A section that records nothing still runs; its rows in compare.md read "not measured".
   */
  record: (id: string, value: number, note?: string) => void;
}

export interface BenchSection {
  title: string;
  /** run measures and returns markdown (tables with our figure, the anchor's and the ratio). */
  run: (ctx: BenchContext) => Promise<string>;
}
