/**
 * test/support/secrets-rewrap-child — a child process for test/secrets/crash.test.ts: it rotates the KEK of the store
 * in argv[2] (keyring passphrase from CUSTODY_PASSPHRASE) and, when argv[3] is N > 0, kills itself with SIGKILL at
 * the N-th step of the rotation (SecretStore's onStep, a library option production code never sets). With N = 0 it
 * finishes and prints the number of steps it saw.
 */
import { openSecretStore } from '../../src/secrets/open.ts';

const [dir, at] = [process.argv[2]!, Number(process.argv[3])];
const { store } = await openSecretStore({ dir, passphrase: { env: process.env } });
let n = 0;
const steps: string[] = [];
await store.rotateKek({
  onStep: (s) => {
    n++;
    steps.push(s.at);
    if (n === at) process.kill(process.pid, 'SIGKILL');
  },
});
process.stdout.write(JSON.stringify({ steps }) + '\n');
