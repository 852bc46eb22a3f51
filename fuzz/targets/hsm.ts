/**
 * fuzz/targets/hsm — RFC 7512 pkcs11: URIs (src/hsm/uri.ts), the only untrusted text the PKCS#11 signer parses: the
 * URI a user pastes for --key / keygen --pkcs11. Differential oracle: an accepted URI re-formatted from its token,
 * object and id parses back to the same values.
 */
import { formatPkcs11Uri, parsePkcs11Uri } from '../../src/hsm/uri.ts';
import { lineMutations } from '../structured.ts';
import { dec, enc, expectSame, sameModel, type FuzzTarget } from '../target.ts';

const SEEDS = [
  'pkcs11:token=custody;object=release-1?pin-source=file:pin.txt',
  'pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=',
  'pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1&pin-source=file:///etc/token_pin',
  'pkcs11:slot-description=Sun%20Metaslot;slot-id=0;library-version=1.2;x-vendor=a?module-name=softhsm2',
  'pkcs11:',
];

export const pkcs11Uri: FuzzTarget = {
  name: 'pkcs11-uri',
  parses: 'RFC 7512 pkcs11: URIs (hsm/uri)',
  make() {
    return Promise.resolve({
      seeds: SEEDS.map((s) => enc.encode(s)),
      structured: lineMutations(SEEDS),
      run(input: Uint8Array) {
        const u = parsePkcs11Uri(dec.decode(input));
        const back = parsePkcs11Uri(formatPkcs11Uri({ token: u.token, object: u.object, id: u.id, type: u.type }));
        expectSame(sameModel([back.token, back.object, back.id, back.type], [u.token, u.object, u.id, u.type]), 'format/parse round trip');
        return u;
      },
    });
  },
};
