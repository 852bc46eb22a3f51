/**
 * io/postgres, the part the three PostgreSQL stores share, on a real server: schema names are checked before any
 * SQL, the description never shows credentials, concurrent first opens of one schema are serialized by the advisory
 * lock (both succeed, the tables are made once), a schema of another version is refused with ERR_CONFIG_INVALID and
 * left as it was, and a failed transaction leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { isTrustError } from '../../src/errors.ts';
import { checkSchemaName, createVersionedSchema, describePostgres, inTransaction, postgresPool, type VersionedSchema } from '../../src/io/postgres.ts';
import { freshSchema, postgresForFile } from '../support/postgres.ts';

const pgsql = postgresForFile();
const skip = pgsql.skip;

test('postgres: schema names and descriptions (no server needed)', () => {
  for (const bad of ['', 'Upper', '1abc', 'a-b', 'a"b', 'a'.repeat(64), 'x; DROP TABLE t']) {
    assert.throws(() => checkSchemaName(bad, 'test schema'), (e: unknown) => isTrustError(e) && e.code === 'ERR_CONFIG_INVALID', bad);
  }
  checkSchemaName('custody_log', 'test schema');
  checkSchemaName('a'.repeat(63), 'test schema');
  const d = describePostgres('postgres://user:s3cret@db.example:5433/custody?sslmode=require&password=x', 'auth');
  assert.equal(d, 'postgres://db.example:5433/custody schema auth');
  assert.equal(describePostgres('not a url s3cret'), 'postgres (connection string not shown)');
});

function kind(schema: string, version: number, made: { n: number }): VersionedSchema {
  return {
    schema,
    where: `test ${schema}`,
    lock: 'custody_test_schema',
    versionQuery: `SELECT schema_version FROM "${schema}".meta WHERE id = 0`,
    version,
    what: 'test schema',
    create: async (c: pg.PoolClient) => {
      const r = await c.query(`SELECT to_regclass('"${schema}".meta') IS NULL AS missing`);
      if ((r.rows[0] as { missing: boolean }).missing) made.n++;
      await c.query(`
        CREATE TABLE IF NOT EXISTS "${schema}".meta (id integer PRIMARY KEY CHECK (id = 0), schema_version integer NOT NULL);
        INSERT INTO "${schema}".meta(id, schema_version) VALUES (0, ${version}) ON CONFLICT (id) DO NOTHING;
      `);
    },
  };
}

test('postgres: concurrent first opens make the schema once; another version is refused and left alone', { skip }, async (t) => {
  const pools = [postgresPool(pgsql.url(), 2), postgresPool(pgsql.url(), 2), postgresPool(pgsql.url(), 2)];
  t.after(() => Promise.all(pools.map((p) => p.end())));
  const schema = freshSchema('io');
  const made = { n: 0 };
  // Connected first, and a create that takes a while, so the three transactions do overlap: without the advisory
  // lock two of them would both find the tables missing (or collide on them).
  await Promise.all(pools.map((p) => p.query('SELECT 1')));
  const slow = (k: VersionedSchema): VersionedSchema => ({
    ...k,
    create: async (c) => {
      await c.query('SELECT pg_sleep(0.2)');
      await k.create(c);
    },
  });
  await Promise.all(pools.map((p) => createVersionedSchema(p, slow(kind(schema, 1, made)))));
  assert.equal(made.n, 1, 'the tables were created by exactly one of the three opens');
  await assert.rejects(createVersionedSchema(pools[0]!, kind(schema, 2, made)), (e: unknown) => isTrustError(e) && e.code === 'ERR_CONFIG_INVALID' && /expected test schema 2, got 1/.test(e.message));
  const v = await pools[0]!.query(`SELECT schema_version FROM "${schema}".meta`);
  assert.deepEqual(v.rows, [{ schema_version: 1 }]);
});

test('postgres: a transaction that throws rolls back and rethrows; one that returns commits', { skip }, async (t) => {
  const pool = postgresPool(pgsql.url(), 2);
  t.after(() => pool.end());
  const schema = freshSchema('tx');
  await inTransaction(pool, async (c) => {
    await c.query(`CREATE SCHEMA "${schema}"`);
    await c.query(`CREATE TABLE "${schema}".t (x integer)`);
  });
  await assert.rejects(
    inTransaction(pool, async (c) => {
      await c.query(`INSERT INTO "${schema}".t VALUES (1)`);
      throw new Error('planted');
    }),
    /planted/,
  );
  assert.equal(await inTransaction(pool, async (c) => (await c.query(`INSERT INTO "${schema}".t VALUES (2) RETURNING x`)).rows.length), 1);
  const r = await pool.query(`SELECT x FROM "${schema}".t ORDER BY x`);
  assert.deepEqual(r.rows, [{ x: 2 }], 'the planted failure left nothing');
});
