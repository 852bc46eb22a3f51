/**
 * auth/x509-runtime — @peculiar/x509 (RFC 5280 certificates), loaded with what it needs: the Reflect Metadata
 * functions its injector checks for (auth/reflect-metadata, evaluated first) and Node's WebCrypto as its crypto
 * provider (crypto/webcrypto). Every X.509 structure Custody makes or reads goes through this library: no
 * hand-written DER.
 */
import './reflect-metadata.ts';
import { createRequire } from 'node:module';
import type * as Asn1Schema from '@peculiar/asn1-schema';
import type * as Asn1X509 from '@peculiar/asn1-x509';
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

/** Asn1 is the part of @peculiar's ASN.1 layer Custody uses beside x509: the converter and DirectoryString. */
export interface Asn1 {
  AsnConvert: typeof Asn1Schema.AsnConvert;
  DirectoryString: typeof Asn1X509.DirectoryString;
}

let asn1: Asn1 | undefined;

/**
 * asn1Lib returns @peculiar/asn1-schema's converter and @peculiar/asn1-x509's DirectoryString, required on first use
 * like x509Lib: imported at module load they cost every daemon process (leader and each worker, which import the
 * signing routes) some 10 MiB of memory and tens of milliseconds of start-up without a keyless CA in sight.
 */
export function asn1Lib(): Asn1 {
  if (asn1 === undefined) {
    const require = createRequire(import.meta.url);
    const schema = require('@peculiar/asn1-schema') as typeof Asn1Schema;
    const x509asn1 = require('@peculiar/asn1-x509') as typeof Asn1X509;
    asn1 = { AsnConvert: schema.AsnConvert, DirectoryString: x509asn1.DirectoryString };
  }
  return asn1;
}
