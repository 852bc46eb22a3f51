/**
 * RFC 7512 pkcs11: URIs (src/hsm/uri.ts): the RFC's own examples, percent-decoding, pin-source forms, and a
 * negative table (class and code per malformed input). Pure parsing: no token needed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isTrustError } from '../../src/errors.ts';
import { URI_MAX_ATTRIBUTES, URI_MAX_CHARS, formatPkcs11Uri, isPkcs11Uri, parsePkcs11Uri } from '../../src/hsm/uri.ts';
import { assertCode } from '../support/assert.ts';

test('RFC 7512 §3 examples parse into their attributes', () => {
  // §3: "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;
  // object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=" (one line).
  const u = parsePkcs11Uri(
    'pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=',
  );
  assert.equal(u.token, 'The Software PKCS#11 Softtoken');
  assert.equal(u.manufacturer, 'Snake Oil, Inc.');
  assert.equal(u.model, '1.0');
  assert.equal(u.object, 'my-certificate');
  assert.equal(u.type, 'cert');
  assert.deepEqual(Buffer.from(u.id!).toString('hex'), '69953e5cf4bdec91');
  assert.equal(u.serial, '');
  assert.deepEqual(u.unknownPath, []);

  assert.deepEqual(parsePkcs11Uri('pkcs11:'), { unknownPath: [] }, 'the empty URI matches everything');
  const q = parsePkcs11Uri('pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1');
  assert.equal(q.modulePath, '/mnt/libmypkcs11.so.1');
  assert.equal(q.type, 'private');
  // §3: a UTF-8 label, percent-encoded.
  assert.equal(parsePkcs11Uri('pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1').token, 'Name with a small A with acute: á');
  assert.equal(parsePkcs11Uri('pkcs11:slot-description=Sun%20Metaslot;slot-id=0').slotId, 0);
  assert.equal(parsePkcs11Uri('pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-version=1').libraryVersion, '1');
});

test('pin-source takes file: paths only; unknown query attributes are ignored, unknown path attributes kept', () => {
  assert.equal(parsePkcs11Uri('pkcs11:token=custody;object=release-1?pin-source=file:pin.txt').pinSource, 'pin.txt');
  assert.equal(parsePkcs11Uri('pkcs11:object=k?pin-source=file:///etc/token_pin').pinSource, '/etc/token_pin');
  assert.equal(parsePkcs11Uri('pkcs11:object=k?pin-source=file:/etc/token_pin').pinSource, '/etc/token_pin');
  assert.equal(parsePkcs11Uri('pkcs11:object=k?pin-source=file:dir%20x/pin').pinSource, 'dir x/pin');
  const both = parsePkcs11Uri('pkcs11:object=k?module-name=softhsm2&pin-source=file:p&x-vendor=1&module-path=/m.so');
  assert.equal(both.pinSource, 'p');
  assert.equal(both.modulePath, '/m.so');
  assert.deepEqual(parsePkcs11Uri('pkcs11:object=k;x-vendor=abc').unknownPath, ['x-vendor']);
  // The scheme and attribute names are ABNF literals: case-insensitive.
  assert.equal(parsePkcs11Uri('PKCS11:Object=k').object, 'k');
  assert.ok(isPkcs11Uri('pkcs11:token=a') && !isPkcs11Uri('keys/a.pem') && !isPkcs11Uri('./pkcs11:x'));
});

test('formatPkcs11Uri round-trips through the parser', () => {
  const text = formatPkcs11Uri({ token: 'my token;x', object: 'release/1 ü', id: Uint8Array.from([0, 255, 16]) });
  assert.equal(text, 'pkcs11:token=my%20token%3Bx;object=release%2F1%20%C3%BC;id=%00%FF%10');
  const u = parsePkcs11Uri(text);
  assert.equal(u.token, 'my token;x');
  assert.equal(u.object, 'release/1 ü');
  assert.deepEqual([...u.id!], [0, 255, 16]);
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 20 }), (token, object, id) => {
      const p = parsePkcs11Uri(formatPkcs11Uri({ token, object, id }));
      assert.equal(p.token, token);
      assert.equal(p.object, object);
      assert.deepEqual([...p.id!], [...id]);
    }),
    { numRuns: 300 },
  );
});

test('bad URIs: one coded refusal per row', () => {
  const rows: Array<[string, string, string]> = [
    ['pkcs11:object=k?pin-value=1234', 'ERR_PKCS11_PIN_IN_URI', 'UsageError'],
    ['pkcs11:object=k?pin-source=file:p&pin-value=1234', 'ERR_PKCS11_PIN_IN_URI', 'UsageError'],
    ['file:k.pem', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=a;object=b', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=a;OBJECT=b', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=a%2', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=a%zz', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=a b', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=a/b', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=%C3%28', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:type=secret', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:slot-id=01', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:slot-id=-1', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:=x', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:9x=1', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=k?pin-source=https://example.com/pin', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=k?pin-source=file://host/pin', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=k?pin-source=file:', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=k?pin-source=file:a&pin-source=file:b', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=k?module-path=%00', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=k?module-path=a;b', 'ERR_PKCS11_URI_INVALID', 'FormatError'],
    ['pkcs11:object=' + 'a'.repeat(URI_MAX_CHARS), 'ERR_PKCS11_URI_TOO_LARGE', 'LimitError'],
    ['pkcs11:' + Array.from({ length: URI_MAX_ATTRIBUTES + 1 }, (_, i) => `x-a${i}=1`).join(';'), 'ERR_PKCS11_URI_TOO_LARGE', 'LimitError'],
  ];
  for (const [uri, code, name] of rows) {
    assertCode(() => parsePkcs11Uri(uri), code as 'ERR_PKCS11_URI_INVALID', name);
  }
  // The refusal names no PIN.
  try {
    parsePkcs11Uri('pkcs11:object=k?pin-value=s3cret-pin');
  } catch (e) {
    assert.ok(isTrustError(e) && !e.message.includes('s3cret-pin'));
  }
});

test('arbitrary text: accepted or a coded refusal, never another exception', () => {
  const alphabet = fc.constantFrom(...'pkcs11:;?&=%/abcAZ09-_.~x!$()*+,@[]|é\0 '.split(''));
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 80 }), (chars) => {
      const s = 'pkcs11:' + chars.join('');
      try {
        parsePkcs11Uri(s);
      } catch (e) {
        assert.ok(isTrustError(e), `uncoded ${String(e)} for ${JSON.stringify(s)}`);
      }
    }),
    { numRuns: 2000 },
  );
});
