/**
 * auth/x509-runtime — @peculiar/x509 (RFC 5280 certificates), loaded with what it needs: the Reflect Metadata
 * functions its injector checks for (auth/reflect-metadata, evaluated first) and Node's WebCrypto as its crypto
 * provider (crypto/webcrypto). Every X.509 structure Custody makes or reads goes through this library: no
 * hand-written DER.
 */
import './reflect-metadata.ts';
import * as x509 from '@peculiar/x509';
import { webcrypto } from '../crypto/index.ts';

let ready = false;

/** x509Lib returns @peculiar/x509 with Node's WebCrypto set as its provider (idempotent). */
export function x509Lib(): typeof x509 {
  if (!ready) {
    x509.cryptoProvider.set(webcrypto());
    ready = true;
  }
  return x509;
}
