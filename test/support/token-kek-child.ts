/**
 * test/support/token-kek-child — a child process for test/secrets/token-kek-crash.test.ts, run with SOFTHSM2_CONF
 * naming its own copy of the token directory and CUSTODY_PASSPHRASE the keyring's passphrase.
 * - `rotate STORE N TO`: rotates the store's KEK to TO (`file` or a pkcs11: URI) and, when N > 0, kills itself with
 *   SIGKILL at the N-th step (SecretStore's onStep); with N = 0 it finishes and prints the steps it saw.
 * - `check STORE TOKEN`: reads every secret, then runs rewrap, reads them again, and prints what it found, including
 *   the labels of the secret key objects left in TOKEN.
 */
import { createRequire } from 'node:module';
import { openSecretStore } from '../../src/secrets/open.ts';

const [mode, dir] = [process.argv[2]!, process.argv[3]!];
const pkcs11 = { cwd: process.cwd(), env: process.env };
const { store } = await openSecretStore({ dir, passphrase: { env: process.env }, pkcs11 });
const dec = new TextDecoder();

function tokenSecretKeyLabels(token: string): string[] {
  const p = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
  const lib = new p.PKCS11();
  lib.load(process.env.CUSTODY_PKCS11_MODULE!);
  try {
    lib.C_Initialize();
  } catch {
    // initialized by the store already
  }
  const slot = lib.C_GetSlotList(true).find((sl) => lib.C_GetTokenInfo(sl).label.trim() === token)!;
  const s = lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION);
  try {
    lib.C_Login(s, p.CKU_USER, process.env.TEST_USER_PIN);
  } catch {
    // already logged in
  }
  lib.C_FindObjectsInit(s, [{ type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }]);
  const objs = lib.C_FindObjects(s, 16);
  lib.C_FindObjectsFinal(s);
  return objs.map((o) => lib.C_GetAttributeValue(s, o, [{ type: p.CKA_LABEL }])[0]!.value.toString()).sort();
}

if (mode === 'rotate') {
  const at = Number(process.argv[4]);
  const toArg = process.argv[5]!;
  const to = toArg === 'file' ? ({ kind: 'file' } as const) : ({ kind: 'pkcs11', uri: toArg } as const);
  let n = 0;
  const steps: string[] = [];
  await store.rotateKek({
    to,
    onStep: (s) => {
      n++;
      steps.push(s.at);
      if (n === at) process.kill(process.pid, 'SIGKILL');
    },
  });
  process.stdout.write(JSON.stringify({ steps }) + '\n');
} else {
  const readAll = async (): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const s of await store.list()) out[s.name] = dec.decode(await store.get(s.name));
    return out;
  };
  const before = await readAll();
  const keksBefore = store.keyring.entries().map((e) => e.id);
  const namedBefore = [...new Set((await store.list()).map((s) => s.kekId))];
  const report = await store.rewrap();
  const after = await readAll();
  const keks = store.keyring.entries().map((e) => ({ id: e.id, kind: e.kind }));
  const kekIds = [...new Set((await store.list()).map((s) => s.kekId))];
  process.stdout.write(JSON.stringify({ before, keksBefore, namedBefore, report, after, keks, kekIds, tokenKeys: tokenSecretKeyLabels(process.argv[4]!) }) + '\n');
}
store.keyring.close();
