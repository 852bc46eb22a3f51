/**
 * server/witness/store — the witness's durable memory: for each log origin, the size and root of the latest
 * checkpoint it cosigned (C2SP tlog-witness "the witness is only required to keep track of the latest checkpoint").
 *
 * Duties: `update` is an atomic check-and-set (one SQLite `BEGIN IMMEDIATE` transaction): the caller's check runs
 * against the row as it is inside the transaction, so two concurrent requests can never roll the size back (the race
 * the spec describes: A checked at N, B stored N+K, A stores N). The new row is durable (WAL, synchronous=FULL) before
 * `update` returns, hence before the cosignature is sent ("the witness MUST persist the new checkpoint before
 * responding").
 */
import Database from 'better-sqlite3';
import { IoError, TrustError } from '../../errors.ts';

/** WitnessedState is the latest cosigned tree of one log. */
export interface WitnessedState {
  size: number;
  root: Uint8Array;
}

/** WitnessStore keeps the latest cosigned size and root per origin. */
export class WitnessStore {
  readonly #db: Database.Database;
  readonly #get: Database.Statement<[string], { size: number; root: Buffer }>;
  readonly #put: Database.Statement<[string, number, Uint8Array]>;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#get = db.prepare('SELECT size, root FROM witnessed WHERE origin = ?');
    this.#put = db.prepare(
      'INSERT INTO witnessed(origin, size, root) VALUES (?, ?, ?) ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root',
    );
  }

  /** open creates or opens the witness database at path (':memory:' for tests). */
  static open(path: string): WitnessStore {
    try {
      const db = new Database(path);
      db.pragma('busy_timeout = 5000');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec('CREATE TABLE IF NOT EXISTS witnessed (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL)');
      return new WitnessStore(db);
    } catch (e) {
      throw new IoError('ERR_IO_WRITE_FAILED', `cannot open the witness database ${path}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** get returns the latest cosigned state of origin, or null if it never cosigned one. */
  get(origin: string): WitnessedState | null {
    const r = this.#get.get(origin);
    return r === undefined ? null : { size: r.size, root: new Uint8Array(r.root) };
  }

  /**
   * update runs `check(current)` and, if it returns a new state, stores it — atomically. `check` throws a coded error
   * to refuse; whatever it returns besides null is stored before update returns.
   */
  update<T>(origin: string, check: (current: WitnessedState | null) => { next: WitnessedState | null; result: T }): T {
    try {
      return this.#db
        .transaction(() => {
          const { next, result } = check(this.get(origin));
          if (next !== null) this.#put.run(origin, next.size, next.root);
          return result;
        })
        .immediate();
    } catch (e) {
      if (e instanceof TrustError) throw e;
      throw new IoError('ERR_IO_WRITE_FAILED', `witness database: ${(e as Error).message}`, { cause: e });
    }
  }

  close(): void {
    this.#db.close();
  }
}
