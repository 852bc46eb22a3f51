/**
 * server/log/key-file — the signing key a daemon keeps in its data directory: created on first start (0600, written
 * atomically and never over an existing file, so two processes starting at once cannot end up with two keys) and
 * reused after. Refused when group or others can read it (as ssh does) or when it names another identity.
 *
 * The file holds one line of secret key text, e.g. the signed-note signer key
 * `PRIVATE+KEY+<name>+<8 hex id>+base64(0x01 || seed)` (Go sumdb/note format: the prefix makes it unmistakable).
 */
import { promises as fsp } from 'node:fs';
import { ConfigError, IoError, isTrustError } from '../../errors.ts';
import { pathExists, readFileBounded, writeFileAtomic } from '../../io/files.ts';

/** KEY_TEXT_MAX_BYTES caps a key file before reading it. */
export const KEY_TEXT_MAX_BYTES = 16 * 1024;

/**
 * loadOrCreateKeyText returns the key text stored at path, creating it with `create()` when the file does not exist.
 * `created` tells whether this call wrote it.
 */
export async function loadOrCreateKeyText(path: string, create: () => string): Promise<{ text: string; created: boolean }> {
  let created = false;
  if (!(await pathExists(path))) {
    try {
      // overwrite:false links the temp file into place: a concurrent creator's key is never clobbered.
      await writeFileAtomic(path, create() + '\n', { mode: 0o600, overwrite: false });
      created = true;
    } catch (e) {
      if (!(isTrustError(e) && e.code === 'ERR_IO_EXISTS')) throw e;
    }
  }
  const st = await fsp.stat(path).catch((e: unknown) => {
    throw new IoError('ERR_IO_READ_FAILED', `cannot stat ${path}`, { cause: e });
  });
  if ((st.mode & 0o077) !== 0) {
    throw new ConfigError('ERR_CONFIG_KEY_PERMISSIONS', `private key ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)})`);
  }
  const raw = await readFileBounded(path, { maxBytes: KEY_TEXT_MAX_BYTES, what: 'key file' });
  const text = raw.toString('utf8').replace(/\r?\n$/, '');
  raw.fill(0);
  if (text.length === 0 || text.includes('\n')) {
    throw new ConfigError('ERR_CONFIG_INVALID', `${path}: expected one line of key text`);
  }
  return { text, created };
}
