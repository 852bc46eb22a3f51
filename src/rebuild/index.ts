/**
 * rebuild — compares two build outputs (directories, tar archives, PSPF packages, SBOMs) and lists every
 * difference. See docs/attestations.md ("Rebuild check").
 */
export { REBUILD_MAX_DECODED_BYTES, REBUILD_MAX_ENTRIES, compareOutputs, detectKind, diffEntries, formatDifference, readOutput } from './compare.ts';
export type { Difference, DifferenceKind, EntryType, OutputEntry, OutputKind, RebuildReport } from './compare.ts';
