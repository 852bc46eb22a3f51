/**
 * manifest/state — the verifier's memory for rollback protection: for each channel/arch the highest manifest
 * `sequence` accepted and the digest of its signed bytes.
 *
 *   { "state_version": 1, "manifests": { "stable/x86_64": { "sequence": 1795305600, "digest": "sha256:<hex>" } } }
 *
 * Written atomically; a missing file is an empty state.
 */
import { isJsonObject, parseJsonObject, type JsonObject } from '../encoding/json.ts';
import { FormatError } from '../errors.ts';
import { readFileIfExists, writeFileAtomic } from '../io/files.ts';
import type { VerifiedManifest } from './verify.ts';

export interface SeenManifest {
  sequence: number;
  digest: string;
}

export interface VerifierState {
  manifests: Map<string, SeenManifest>;
}

export const STATE_MAX_BYTES = 4 * 1024 * 1024;

/** stateKey names a manifest stream. */
export function stateKey(channel: string, arch: string): string {
  return `${channel}/${arch}`;
}

/** loadState reads a state file; a missing file yields an empty state. */
export async function loadState(path: string): Promise<VerifierState> {
  const manifests = new Map<string, SeenManifest>();
  const bytes = await readFileIfExists(path, { maxBytes: STATE_MAX_BYTES, what: 'state file' });
  if (!bytes) return { manifests };
  const doc = parseJsonObject(bytes, { what: 'state file' });
  const m = doc.manifests;
  if (doc.state_version !== 1 || !isJsonObject(m)) throw new FormatError('ERR_FORMAT_SCHEMA', `state file ${path} has an unknown shape`);
  for (const [k, v] of Object.entries(m)) {
    if (!isJsonObject(v) || typeof v.sequence !== 'number' || typeof v.digest !== 'string') {
      throw new FormatError('ERR_FORMAT_SCHEMA', `state file ${path}: entry ${k} is malformed`);
    }
    manifests.set(k, { sequence: v.sequence, digest: v.digest });
  }
  return { manifests };
}

/** recordManifest remembers a verified manifest (only ever raising the sequence). */
export function recordManifest(state: VerifierState, vm: VerifiedManifest): void {
  const k = stateKey(vm.manifest.channel, vm.manifest.arch);
  const prev = state.manifests.get(k);
  if (!prev || vm.manifest.sequence > prev.sequence) state.manifests.set(k, { sequence: vm.manifest.sequence, digest: vm.digest });
}

/** saveState writes the state atomically. */
export async function saveState(path: string, state: VerifierState): Promise<void> {
  const manifests: JsonObject = {};
  for (const [k, v] of [...state.manifests].sort(([a], [b]) => (a < b ? -1 : 1))) manifests[k] = { sequence: v.sequence, digest: v.digest };
  await writeFileAtomic(path, JSON.stringify({ state_version: 1, manifests }, null, 2) + '\n', { mode: 0o600 });
}
