/**
 * server/log/witness-client — how the log obtains cosignatures before publishing a checkpoint (c2sp.org/tlog-witness
 * `add-checkpoint`, client side). For each configured witness it sends `old <size>` (the size that witness last
 * cosigned for us, 0 until known), the consistency proof from there and the signed checkpoint; on 409 with
 * `text/x.tlog.size` it learns the witness's size and retries once with a proof from that size. Returned signature
 * lines are verified (cosignature/v1 under the configured witness key) before they count; lines from other keys are
 * ignored, as the spec asks. The checkpoint is published only when at least `threshold` witnesses cosigned.
 *
 * Trust boundary: witness answers are untrusted (size cap, strict parsing, signature verification). A witness that
 * is down or slow only withholds its own cosignature (bounded by the per-request timeout).
 */
import { encodeBase64 } from '../../encoding/bytes.ts';
import { IoError, UsageError, isTrustError } from '../../errors.ts';
import { parseCosignatureVerifierKey, verifyCosignature, type CosignatureVerifier } from '../../note/cosignature.ts';
import { formatNote, parseNote } from '../../note/note.ts';
import type { CheckpointCosigner, CosignRequest, SequencerLogger } from '../../log/sequencer.ts';

/** MAX_WITNESS_RESPONSE_BYTES caps a witness answer. */
export const MAX_WITNESS_RESPONSE_BYTES = 64 * 1024;

/** WitnessEndpoint is one configured witness: its cosignature key and its submission prefix URL. */
export interface WitnessEndpoint {
  verifier: CosignatureVerifier;
  /** url is the submission prefix; requests go to `<url>/add-checkpoint`. */
  url: string;
}

/** parseWitnessSpec parses `--witness VKEY@URL` (the vkey contains no "@"). */
export function parseWitnessSpec(spec: string): WitnessEndpoint {
  const at = spec.indexOf('@');
  if (at < 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected --witness <witness vkey>@<url>');
  const verifier = parseCosignatureVerifierKey(spec.slice(0, at));
  const url = spec.slice(at + 1).replace(/\/+$/, '');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError('ERR_USAGE_ARGUMENT', `--witness: expected an http(s) URL after "@", got ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError('ERR_USAGE_ARGUMENT', `--witness: expected an http(s) URL, got ${u.protocol}`);
  }
  return { verifier, url };
}

/** WitnessPoolOptions configures a {@link WitnessPool}. */
export interface WitnessPoolOptions {
  witnesses: readonly WitnessEndpoint[];
  /** threshold is how many witnesses must cosign (1 ≤ threshold ≤ witnesses). */
  threshold: number;
  timeoutMs: number;
  now: () => number;
  logger?: SequencerLogger | undefined;
  fetch?: typeof fetch;
}

/** WitnessPool is the sequencer's {@link CheckpointCosigner} over C2SP witnesses. */
export class WitnessPool implements CheckpointCosigner {
  readonly #o: WitnessPoolOptions;
  /** known maps a witness URL to the size it last cosigned for this log (learned from 200 and 409 answers). */
  readonly #known = new Map<string, number>();

  constructor(options: WitnessPoolOptions) {
    const n = options.witnesses.length;
    if (!Number.isInteger(options.threshold) || options.threshold < 1 || options.threshold > n) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `--witness-threshold: expected 1 to ${n}, got ${String(options.threshold)}`);
    }
    this.#o = options;
  }

  async cosign(req: CosignRequest): Promise<string> {
    const note = parseNote(req.text);
    const results = await Promise.allSettled(this.#o.witnesses.map((w) => this.#one(w, req, note.text)));
    const lines: string[] = [];
    const failures: string[] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') lines.push(r.value);
      else failures.push(`${this.#o.witnesses[i]!.verifier.name}: ${(r.reason as Error).message}${isTrustError(r.reason) ? ` [${r.reason.code}]` : ''}`);
    });
    if (lines.length < this.#o.threshold) {
      throw new IoError(
        'ERR_WITNESS_THRESHOLD_UNMET',
        `cosigned by ${lines.length}/${this.#o.witnesses.length} witnesses, threshold ${this.#o.threshold}`,
        { details: { cosigned: lines.length, threshold: this.#o.threshold, failures } },
      );
    }
    if (failures.length > 0) this.#o.logger?.warn({ failures }, 'some witnesses did not cosign');
    // Append the cosignatures as further signature lines of the same note.
    const extra = parseNote(note.text + '\n' + lines.join('')).signatures;
    return formatNote({ text: note.text, signatures: [...note.signatures, ...extra] });
  }

  /** one obtains and verifies one witness's cosignature line. */
  async #one(w: WitnessEndpoint, req: CosignRequest, text: string): Promise<string> {
    const fetchImpl = this.#o.fetch ?? fetch;
    let old = this.#known.get(w.url) ?? 0;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (old > req.size) {
        throw new IoError('ERR_WITNESS_RESPONSE', `the witness holds size ${old}, above this log's ${req.size}`);
      }
      const proof = old === 0 || old === req.size ? [] : await req.prove(old);
      const body = `old ${old}\n${proof.map((h) => encodeBase64(h) + '\n').join('')}\n${req.text}`;
      let res: Response;
      try {
        res = await fetchImpl(`${w.url}/add-checkpoint`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'text/plain; charset=utf-8' },
          signal: AbortSignal.timeout(this.#o.timeoutMs),
        });
      } catch (e) {
        throw new IoError('ERR_IO_NETWORK', `cannot reach witness ${w.url}: ${(e as Error).message}`, { cause: e });
      }
      const answer = await res.text().catch(() => '');
      if (answer.length > MAX_WITNESS_RESPONSE_BYTES) throw new IoError('ERR_WITNESS_RESPONSE', 'the witness answer is too large');
      if (res.status === 409 && (res.headers.get('content-type') ?? '').startsWith('text/x.tlog.size')) {
        // c2sp.org/tlog-witness: 409 carries the witness's latest cosigned size; retry from there.
        const m = /^(0|[1-9][0-9]{0,15})\n$/.exec(answer);
        if (!m) throw new IoError('ERR_WITNESS_RESPONSE', 'malformed 409 size answer');
        old = Number(m[1]);
        this.#known.set(w.url, old);
        continue;
      }
      if (res.status !== 200) {
        throw new IoError('ERR_WITNESS_RESPONSE', `witness answered HTTP ${res.status}: ${answer.slice(0, 200)}`, {
          details: { status: res.status },
        });
      }
      for (const line of answer.split('\n')) {
        if (line === '') continue;
        try {
          verifyCosignature(text, line, w.verifier, { now: Math.floor(this.#o.now() / 1000) });
          this.#known.set(w.url, req.size);
          return line + '\n';
        } catch (e) {
          // Lines from other keys are ignored (c2sp.org/tlog-witness); a bad line from our key is a failure.
          if (isTrustError(e) && e.code === 'ERR_COSIGNATURE_INVALID' && !line.includes(` ${w.verifier.name} `)) continue;
          throw e;
        }
      }
      throw new IoError('ERR_WITNESS_RESPONSE', 'the witness answered without a cosignature by its key');
    }
    throw new IoError('ERR_WITNESS_RESPONSE', 'the witness kept answering 409');
  }
}
