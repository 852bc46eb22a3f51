/**
 * Harness for the end-to-end and crash tests (and bench/tlog-soak.ts): start the real `custody log serve` process
 * on a loopback port, write concurrently, kill it with SIGKILL, and audit the result with the independent client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI_MAIN, REPO_ROOT } from '../support/cli.ts';
import { auditLog, httpFetch, mth, openCheckpoint, parseVkey, verifyInclusion, type IndependentKey } from './independent.ts';

export const ORIGIN = 'example.test/log';
export const TOKEN = 'e2e-token-5f1d8a0c2b7e4d9f';

export interface RunningLog {
  proc: ChildProcess;
  url: string;
  vkey: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** writeTokenFile writes the bearer token file (0600) into dir. */
export function writeTokenFile(dir: string): string {
  const f = join(dir, 'token');
  writeFileSync(f, TOKEN + '\n', { mode: 0o600 });
  return f;
}

/** SERVE_CHILD runs the `log serve` command without the CLI dispatcher (faster restarts; see serve-child.ts). */
export const SERVE_CHILD = fileURLToPath(new URL('./serve-child.ts', import.meta.url));

/**
 * startLog spawns `custody log serve --port 0` (the real CLI, or with `fast` the same command through
 * serve-child.ts) and resolves with its URL and verifier key once it listens.
 */
export function startLog(dataDir: string, tokenFile: string, extra: string[] = [], fast = false): Promise<RunningLog> {
  const entry = fast ? [SERVE_CHILD] : [CLI_MAIN, 'log', 'serve'];
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', ...entry, '--data', dataDir, '--port', '0', '--origin', ORIGIN, '--token-file', tokenFile, ...extra],
    // stdin stays open: serve-child exits when it closes, so an aborted test run leaves no log process behind.
    { cwd: REPO_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      if (lines.length >= 3) {
        resolve({ proc, vkey: lines[0]!, url: lines[1]!, stderr: () => err, exited });
      }
    });
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    void exited.then((code) => reject(new Error(`log serve exited with ${code} before listening:\n${err}`)));
  });
}

/** Ack is one acknowledged entry as the writer saw it. */
export interface Ack {
  entry: Buffer;
  index: number;
  checkpoint: string;
  proof: Buffer[];
}

/** addEntry posts one entry; resolves with the ack or null when the request failed (e.g. the process died). */
export async function addEntry(url: string, entry: Buffer): Promise<Ack | null | { status: number; body: string }> {
  let r: Response;
  try {
    r = await fetch(`${url}/add`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: entry });
  } catch {
    return null;
  }
  let text: string;
  try {
    text = await r.text();
  } catch {
    return null;
  }
  if (r.status !== 200) return { status: r.status, body: text };
  const j = JSON.parse(text) as { index: number; checkpoint: string; proof: string[] };
  return { entry, index: j.index, checkpoint: j.checkpoint, proof: j.proof.map((p) => Buffer.from(p, 'base64')) };
}

/** writers runs `n` concurrent writer loops until stop() and collects acknowledgements. */
export function writers(url: string, n: number, tag: string): { acks: Ack[]; failures: number; stop: () => Promise<void> } {
  const acks: Ack[] = [];
  let running = true;
  const state = { acks, failures: 0, stop: async () => {} };
  const loops = Array.from({ length: n }, async (_, w) => {
    for (let i = 0; running; i++) {
      const r = await addEntry(url, Buffer.from(`${tag}/${w}/${i}`));
      if (r === null || !('index' in r)) {
        state.failures++;
        if (r === null) await new Promise((res) => setTimeout(res, 5));
      } else acks.push(r);
    }
  });
  state.stop = async () => {
    running = false;
    await Promise.all(loops);
  };
  return state;
}

/**
 * auditAll checks, independently of Custody's code: the current checkpoint and tiles; every acknowledged entry is at
 * its index with a valid proof against its checkpoint; every checkpoint seen is a prefix of the current tree.
 */
/**
 * AuditMemo carries what earlier audits established (checkpoint signatures, proofs verified against their own
 * checkpoint), so repeated audits stay linear. Entries and consistency are re-checked against the tree every time.
 */
export interface AuditMemo {
  opened: Map<string, ReturnType<typeof openCheckpoint>>;
  provedAcks: WeakSet<Ack>;
}

export function auditMemo(): AuditMemo {
  return { opened: new Map(), provedAcks: new WeakSet() };
}

export async function auditAll(
  url: string,
  vkey: string,
  acks: readonly Ack[],
  checkpoints: readonly string[],
  memo: AuditMemo = auditMemo(),
): Promise<{ size: number; text: string }> {
  const key: IndependentKey = parseVkey(vkey);
  const { checkpoint, leaves, entries, text } = await auditLog(httpFetch(url), key);
  const open = (text: string): ReturnType<typeof openCheckpoint> => {
    let cp = memo.opened.get(text);
    if (!cp) memo.opened.set(text, (cp = openCheckpoint(text, key)));
    return cp;
  };
  for (const a of acks) {
    const cp = open(a.checkpoint);
    if (a.index >= checkpoint.size) throw new Error(`acknowledged entry ${a.index} is beyond the tree (${checkpoint.size})`);
    if (!entries[a.index]!.equals(a.entry)) throw new Error(`entry ${a.index} differs from the acknowledged one`);
    if (memo.provedAcks.has(a)) continue;
    if (!verifyInclusion(leaves[a.index]!, a.index, cp.size, a.proof, cp.root)) throw new Error(`proof of ${a.index} fails`);
    memo.provedAcks.add(a);
  }
  const sizes = new Map<number, Buffer>();
  for (const text of [...checkpoints, ...acks.map((a) => a.checkpoint)]) {
    const cp = open(text);
    if (cp.size > checkpoint.size) throw new Error(`checkpoint ${cp.size} is beyond the current tree ${checkpoint.size}`);
    const prev = sizes.get(cp.size);
    if (prev && !prev.equals(cp.root)) throw new Error(`two checkpoints of size ${cp.size} with different roots`);
    sizes.set(cp.size, cp.root);
  }
  // Every checkpoint ever returned must be a prefix of the current tree: its root is MTH of the first `size` leaves.
  const subtrees = new Map<string, Buffer>();
  for (const [size, root] of sizes) {
    if (!mth(leaves, 0, size, subtrees).equals(root)) throw new Error(`checkpoint of size ${size} is not consistent with the current tree`);
  }
  return { size: checkpoint.size, text };
}

/** mulberry32 is a small seeded PRNG, so a failing kill schedule can be replayed with its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** CrashRunOptions drives {@link crashRun}. */
export interface CrashRunOptions {
  dataDir: string;
  tokenFile: string;
  kills: number;
  writers: number;
  seed: number;
  /** maxAcksPerRound bounds the random kill point, counted in acknowledgements of the round. */
  maxAcksPerRound: number;
  extraArgs?: string[];
  log?: (line: string) => void;
}

/**
 * crashRun starts the log, writes concurrently, kills it with SIGKILL at a random point, restarts it and audits
 * everything acknowledged so far (and every checkpoint ever seen) after each restart.
 */
export async function crashRun(o: CrashRunOptions): Promise<{ acks: number; size: number; kills: number; killedWithInFlight: number }> {
  const rand = mulberry32(o.seed);
  const memo = auditMemo();
  const acks: Ack[] = [];
  const checkpoints: string[] = [];
  let vkey: string | undefined;
  let killedWithInFlight = 0;
  for (let round = 0; round <= o.kills; round++) {
    const log = await startLog(o.dataDir, o.tokenFile, o.extraArgs ?? [], true);
    try {
      if (vkey !== undefined && log.vkey !== vkey) throw new Error('the log key changed across restarts');
      vkey = log.vkey;
      const audit = await auditAll(log.url, vkey, acks, checkpoints, memo);
      if (!checkpoints.includes(audit.text)) checkpoints.push(audit.text);
      if (round === o.kills) {
        o.log?.(`final audit: ${acks.length} acknowledged entries, tree size ${audit.size}`);
        log.proc.kill('SIGTERM');
        await log.exited;
        return { acks: acks.length, size: audit.size, kills: o.kills, killedWithInFlight };
      }
      const w = writers(log.url, o.writers, `r${round}`);
      const target = 1 + Math.floor(rand() * o.maxAcksPerRound);
      while (w.acks.length < target) await new Promise((r) => setTimeout(r, 1));
      // A random sub-millisecond-to-few-ms offset, so kills land anywhere in the batch pipeline.
      const delay = Math.floor(rand() * 4);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      log.proc.kill('SIGKILL');
      await log.exited;
      await w.stop();
      if (w.failures > 0) killedWithInFlight++;
      acks.push(...w.acks);
      o.log?.(`round ${round}: killed after ${w.acks.length} acks (${w.failures} requests cut off)`);
    } catch (e) {
      log.proc.kill('SIGKILL');
      throw new Error(`crash run (seed ${o.seed}) failed in round ${round}: ${(e as Error).message}\n${log.stderr().slice(-2000)}`, { cause: e });
    }
  }
  throw new Error('unreachable');
}
