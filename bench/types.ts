/** bench/types — the contract of a benchmark section. */
export interface BenchContext {
  /** scratch is a directory the section may fill (removed after the run). */
  scratch: string;
  /** quick is set by `npm run bench -- --quick`: smaller inputs, same shape, for a smoke run. */
  quick: boolean;
  /** log prints progress to stderr. */
  log: (line: string) => void;
}

export interface BenchSection {
  title: string;
  /** run measures and returns markdown (tables with our figure, the anchor's and the ratio). */
  run: (ctx: BenchContext) => Promise<string>;
}
