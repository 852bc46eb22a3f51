/**
 * auth/x509-runtime — @peculiar/x509 (RFC 5280 certificates), loaded with what it needs: the Reflect Metadata
 * functions its injector checks for (auth/reflect-metadata, evaluated first) and Node's WebCrypto as its crypto
 * provider (crypto/webcrypto). Every X.509 structure Custody makes or reads goes through this library: no
 * hand-written DER.
 */
import './reflect-metadata.ts';
import { createRequire } from 'node:module';
import type * as X509 from '@peculiar/x509';
import { webcrypto } from '../crypto/index.ts';

let x509: typeof X509 | undefined;

/**
 * x509Lib returns @peculiar/x509 with Node's WebCrypto set as its provider (idempotent). The library (some 200
 * modules with its ASN.1 schemas) is required on first use, so a daemon without OIDC or a keyless CA never loads it
 * (issue 9: the daemon's memory).
 */
export function x509Lib(): typeof X509 {
  if (x509 === undefined) {
    const lib = createRequire(import.meta.url)('@peculiar/x509') as typeof X509;
    lib.cryptoProvider.set(webcrypto());
    x509 = lib;
  }
  return x509;
}
