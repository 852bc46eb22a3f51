/**
 * crypto/uuid — random (version 4) UUIDs, RFC 9562 §5.4, in lowercase text, from OpenSSL's CSPRNG (node:crypto
 * randomUUID). Node draws the entropy of many UUIDs at once, so one costs a fraction of randomBytes(16): the daemon
 * makes one for every request without an X-Request-ID of its own. Not for secrets: 122 random bits, but a
 * well-known shape, and nothing here is kept secret.
 */
import { randomUUID } from 'node:crypto';

/** randomUuid returns a fresh random UUID such as "0f8fad5b-d9cb-469f-a165-70867728950e". */
export function randomUuid(): string {
  return randomUUID();
}
