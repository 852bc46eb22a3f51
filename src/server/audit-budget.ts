/**
 * server/audit-budget — how many refusals of unauthenticated requests reach the audit log (audit/audit-log).
 *
 * Each audit record is an fsynced append that publishing waits behind. A client sending bad tokens as fast as the
 * rate limits let it (or from many addresses) would otherwise turn every refused request into a disk flush and a
 * longer queue. So refusals that name no authenticated caller (`caller_id`) are recorded at most
 * {@link UNAUTHENTICATED_REFUSALS_PER_MINUTE} a minute; the first record let through after some were left out
 * carries `refusals_not_recorded: {event: count}`, and a daemon that stops with some left out records them in an
 * `audit.refusals_not_recorded` event first ({@link RefusalBudget.flush}). The window runs on a monotonic clock (a step of the wall clock
 * neither opens nor holds one). Refusals of authenticated callers are always
 * recorded: the per-token limits bound them, and they are the ones an auditor follows up. Only the events of
 * {@link BUDGETED_EVENTS} are counted; everything else the daemon records passes untouched.
 */
import type { JsonObject } from '../encoding/json.ts';

/** UNAUTHENTICATED_REFUSALS_PER_MINUTE: two a second on average, enough to see who knocks and how often. */
export const UNAUTHENTICATED_REFUSALS_PER_MINUTE = 120;

/**
 * BUDGETED_EVENTS are the refusals of client requests of the signing and Certus APIs. The provider's `admin.refused`
 * has a budget of its own (server/provider/plugin, 60 a minute): counted here too, a flood of bad API tokens would
 * hide every admin refusal of that minute.
 */
export const BUDGETED_EVENTS: ReadonlySet<string> = new Set(['signapi.refused']);

const WINDOW_MS = 60_000;

/** RefusalBudget decides, record by record, what the audit log gets (see the module comment). */
export class RefusalBudget {
  readonly #perMinute: number;
  readonly #clock: () => number;
  #windowStart = Number.NEGATIVE_INFINITY;
  #inWindow = 0;
  readonly #left = new Map<string, number>();

  /** clock is in milliseconds, monotonic (default `performance.now`). */
  constructor(perMinute = UNAUTHENTICATED_REFUSALS_PER_MINUTE, clock: () => number = () => performance.now()) {
    this.#perMinute = perMinute;
    this.#clock = clock;
  }

  /** admit returns the fields to record (with the count of what was left out before, if any), or undefined: leave it out. */
  admit(event: string, fields: JsonObject): JsonObject | undefined {
    if (!BUDGETED_EVENTS.has(event) || fields.caller_id !== undefined) return fields;
    const now = this.#clock();
    if (now - this.#windowStart >= WINDOW_MS) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (++this.#inWindow > this.#perMinute) {
      this.#left.set(event, (this.#left.get(event) ?? 0) + 1);
      return undefined;
    }
    const left = this.flush();
    return left === undefined ? fields : { ...fields, refusals_not_recorded: left };
  }

  /** flush returns the counts left out since the last record that carried them (and forgets them), if any. */
  flush(): JsonObject | undefined {
    if (this.#left.size === 0) return undefined;
    const left = Object.fromEntries(this.#left);
    this.#left.clear();
    return left;
  }
}
