/**
 * note/note: c2sp.org/signed-note — the published golang.org/x/mod sumdb/note example (key and signature, byte
 * exact), sign/open round trips, unknown and bad signatures, key texts, and a table of malformed notes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import {
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  formatNote,
  formatSignerKey,
  formatVerifierKey,
  isValidKeyName,
  newNoteSigner,
  newNoteVerifier,
  noteKeyId,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type NoteSigner,
} from '../../src/note/note.ts';
import { assertCode } from '../support/assert.ts';

// Published example of golang.org/x/mod/sumdb/note (package documentation): signer key, verifier key, signed note.
const GO_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const GO_ENOCH = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
// The c2sp.org/signed-note example (no key published): parses, and is refused for lack of a known key.
const C2SP_NOTE =
  'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n' +
  '— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n';

const key = (seed: string): PrivateKey => PrivateKey.fromSeed(sha256(seed));

describe('published examples', () => {
  test('golang.org/x/mod sumdb/note: the key texts, the signature and opening are byte exact', () => {
    const signer = parseSignerKey(GO_SKEY);
    const verifier = parseVerifierKey(GO_VKEY);
    assert.equal(signer.keyId, 0xc74f20a3);
    assert.equal(verifier.keyId, 0xc74f20a3);
    assert.equal(formatVerifierKey('PeterNeumann', signer.publicKey), GO_VKEY);
    assert.equal(signNote(GO_TEXT, [signer]), GO_TEXT + '\n' + GO_SIG);
    const opened = openNote(GO_TEXT + '\n' + GO_SIG, [verifier]);
    assert.equal(opened.text, GO_TEXT);
    assert.deepEqual(
      opened.verified.map((s) => [s.name, s.keyId]),
      [['PeterNeumann', 0xc74f20a3]],
    );
    // The doubly signed version: EnochRoot's key is unknown, so its signature is ignored.
    const doubly = openNote(new TextEncoder().encode(GO_TEXT + '\n' + GO_SIG + GO_ENOCH), [verifier]);
    assert.equal(doubly.verified.length, 1);
    assert.deepEqual(doubly.unverified.map((s) => s.name), ['EnochRoot']);
  });

  test('c2sp.org/signed-note example parses; with no known key it is refused', () => {
    const n = parseNote(C2SP_NOTE);
    assert.equal(n.text, 'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n');
    assert.equal(n.signatures.length, 1);
    assert.equal(n.signatures[0]!.name, 'quasimodo.example/salvatore');
    assertCode(() => openNote(C2SP_NOTE, [parseVerifierKey(GO_VKEY)]), 'ERR_NOTE_UNKNOWN_KEY', 'VerificationError');
  });
});

describe('sign and open', () => {
  const a = newNoteSigner('example.com/a', key('a'));
  const b = newNoteSigner('example.com/b', key('b'));
  const va = newNoteVerifier('example.com/a', a.publicKey);
  const vb = newNoteVerifier('example.com/b', b.publicKey);
  const text = 'hello\nworld\n';

  test('round trip with two signers; either key opens; both verify once', () => {
    const signed = signNote(text, [a, b]);
    assert.equal(openNote(signed, [va]).text, text);
    assert.equal(openNote(signed, [vb]).verified[0]!.verifier, vb);
    assert.equal(openNote(signed, [va, vb]).verified.length, 2);
    // Adding a signature to a parsed note keeps the others; re-signing by the same key replaces its line.
    const c = newNoteSigner('example.com/c', key('c'));
    const more = signNote(parseNote(signed), [c, a]);
    const parsed = parseNote(more);
    assert.deepEqual(parsed.signatures.map((s) => s.name), ['example.com/b', 'example.com/c', 'example.com/a']);
  });

  test('key texts round trip and ids match the spec formula', () => {
    const pk = key('k');
    const skey = formatSignerKey('example.com/k', pk);
    assert.match(skey, /^PRIVATE\+KEY\+example\.com\/k\+[0-9a-f]{8}\+A/);
    const s = parseSignerKey(skey);
    const vkey = formatVerifierKey('example.com/k', pk.publicKey);
    const v = parseVerifierKey(vkey);
    assert.equal(s.keyId, v.keyId);
    const id = sha256(Buffer.concat([Buffer.from('example.com/k\n'), Buffer.from([1]), pk.publicKey.raw]));
    assert.equal(v.keyId, Buffer.from(id).readUInt32BE(0));
    assert.equal(noteKeyId('example.com/k', 1, pk.publicKey.raw), v.keyId);
    assert.equal(openNote(signNote('x\n', [s]), [v]).text, 'x\n');
  });

  test('unknown keys are ignored, even when they share a name or an id with a known key', () => {
    const impostorName = newNoteSigner('example.com/a', key('impostor')); // same name, other id
    const impostorId: NoteSigner = { name: 'example.com/z', keyId: a.keyId, sign: (t) => a.sign(t) }; // same id, other name
    const signed = signNote(text, [impostorName, impostorId, a]);
    const opened = openNote(signed, [va]);
    assert.equal(opened.verified.length, 1);
    assert.equal(opened.unverified.length, 2);
  });

  test('a known key with a bad signature rejects the whole note, even beside a good one', () => {
    const bad: NoteSigner = { name: b.name, keyId: b.keyId, sign: () => new Uint8Array(64) };
    assertCode(() => openNote(signNote(text, [a, bad]), [va, vb]), 'ERR_NOTE_SIGNATURE_INVALID', 'VerificationError');
    // Wrong-length signature from a known key: invalid, not a crash.
    const short: NoteSigner = { name: b.name, keyId: b.keyId, sign: () => new Uint8Array(10) };
    assertCode(() => openNote(signNote(text, [a, short]), [va, vb]), 'ERR_NOTE_SIGNATURE_INVALID');
    // The text changed after signing.
    const signed = signNote(text, [a]);
    assertCode(() => openNote(signed.replace('hello', 'jello'), [va]), 'ERR_NOTE_SIGNATURE_INVALID');
    // A good line and a bad copy by the same key: refused, the bad copy does not hide.
    const good = signNote(text, [a]);
    const goodLine = good.slice(text.length + 1);
    const badLine = signNote(text, [{ name: a.name, keyId: a.keyId, sign: () => new Uint8Array(64).fill(1) }]).slice(text.length + 1);
    assertCode(() => openNote(text + '\n' + goodLine + badLine, [va]), 'ERR_NOTE_SIGNATURE_INVALID');
  });

  test('a repeated signature counts once', () => {
    const signed = signNote(text, [a]);
    const line = signed.slice(text.length + 1);
    const opened = openNote(signed + line + line, [va]);
    assert.equal(opened.verified.length, 1);
  });

  test('no known signature, and ambiguous verifier configuration', () => {
    assertCode(() => openNote(signNote(text, [a]), [vb]), 'ERR_NOTE_UNKNOWN_KEY');
    assertCode(() => openNote(signNote(text, [a]), []), 'ERR_NOTE_UNKNOWN_KEY');
    assertCode(() => openNote(signNote(text, [a]), [va, newNoteVerifier('example.com/a', a.publicKey)]), 'ERR_CONFIG_INVALID');
  });
});

describe('malformed notes and keys', () => {
  const a = newNoteSigner('example.com/a', key('a'));
  const va = newNoteVerifier('example.com/a', a.publicKey);
  const good = signNote('text\n', [a]);
  const line = good.slice('text\n\n'.length);
  const b64 = line.slice('— example.com/a '.length, -1);

  test('negative table of notes', () => {
    const rows: [string, string | Uint8Array, string][] = [
      ['no blank line', 'text\n' + line, 'ERR_NOTE_MALFORMED'],
      ['missing final newline', good.slice(0, -1), 'ERR_NOTE_MALFORMED'],
      ['no signatures', 'text\n\n', 'ERR_NOTE_MALFORMED'],
      ['hyphen instead of em dash', `text\n\n- example.com/a ${b64}\n`, 'ERR_NOTE_MALFORMED'],
      ['en dash instead of em dash', `text\n\n– example.com/a ${b64}\n`, 'ERR_NOTE_MALFORMED'],
      ['em dash without space', `text\n\n—example.com/a ${b64}\n`, 'ERR_NOTE_MALFORMED'],
      ['missing signature', `text\n\n— example.com/a\n`, 'ERR_NOTE_MALFORMED'],
      ['empty signature', `text\n\n— example.com/a \n`, 'ERR_NOTE_MALFORMED'],
      ['two spaces', `text\n\n— example.com/a  ${b64}\n`, 'ERR_NOTE_MALFORMED'],
      ['plus in name', `text\n\n— example.com+a ${b64}\n`, 'ERR_NOTE_MALFORMED'],
      ['non-canonical base64', `text\n\n— example.com/a ${b64.slice(0, -2)}x=\n`, 'ERR_NOTE_MALFORMED'],
      ['unpadded base64', `text\n\n— example.com/a ${b64.replace(/=+$/, '')}\n`, 'ERR_NOTE_MALFORMED'],
      ['signature shorter than 5 bytes', `text\n\n— example.com/a AAAAAA==\n`, 'ERR_NOTE_MALFORMED'],
      ['trailing junk line', good + 'junk\n', 'ERR_NOTE_MALFORMED'],
      ['control character in text', 'te\x01xt\n\n' + line, 'ERR_NOTE_MALFORMED'],
      ['carriage return line ending', good.replace('text\n', 'text\r\n'), 'ERR_NOTE_MALFORMED'],
      ['tab in text', 'te\txt\n\n' + line, 'ERR_NOTE_MALFORMED'],
      ['invalid UTF-8', Uint8Array.of(0xff, 0x0a, 0x0a, ...new TextEncoder().encode(line)), 'ERR_NOTE_MALFORMED'],
      ['lone surrogate', 'te\ud800xt\n\n' + line, 'ERR_NOTE_MALFORMED'],
      ['too many signatures', 'text\n\n' + line.repeat(MAX_NOTE_SIGNATURES + 1), 'ERR_LIMIT_COUNT'],
      ['oversized', 'x'.repeat(MAX_NOTE_BYTES) + '\n\n' + line, 'ERR_LIMIT_SIZE'],
      ['oversized bytes', new Uint8Array(MAX_NOTE_BYTES + 1).fill(0x61), 'ERR_LIMIT_SIZE'],
    ];
    for (const [name, input, code] of rows) {
      try {
        assertCode(() => openNote(input, [va]), code as 'ERR_NOTE_MALFORMED');
      } catch (e) {
        throw new Error(`row "${name}": ${(e as Error).message}`, { cause: e });
      }
    }
    // Exactly the cap of signatures is fine.
    assert.equal(openNote('text\n\n' + line.repeat(MAX_NOTE_SIGNATURES), [va]).verified.length, 1);
  });

  test('signing refuses texts and names that would make an unopenable note', () => {
    assertCode(() => signNote('no newline', [a]), 'ERR_NOTE_MALFORMED');
    assertCode(() => signNote('', [a]), 'ERR_NOTE_MALFORMED');
    assertCode(() => signNote('bell\x07\n', [a]), 'ERR_NOTE_MALFORMED');
    assertCode(() => signNote('text\n', []), 'ERR_NOTE_MALFORMED');
    assertCode(() => formatNote({ text: 'x\n', signatures: [{ name: 'a b', keyId: 1, signature: new Uint8Array(1) }] }), 'ERR_NOTE_MALFORMED');
    for (const name of ['', 'a b', 'a+b', 'a\u00a0b', 'a\u2003b', 'a\nb', 'a\x01b', '\ud800']) {
      assert.equal(isValidKeyName(name), false, JSON.stringify(name));
      assertCode(() => newNoteSigner(name, key('x')), 'ERR_NOTE_KEY_INVALID');
    }
    assert.equal(isValidKeyName('example.com/log42'), true);
    assert.equal(isValidKeyName('oid/1.3.6.1.4.1'), true);
  });

  test('negative table of key texts', () => {
    const vkey = formatVerifierKey('example.com/a', a.publicKey);
    const [name, id, k] = vkey.split('+') as [string, string, string];
    const rows: [string, () => unknown, string][] = [
      ['no plus', () => parseVerifierKey('abc'), 'ERR_NOTE_KEY_INVALID'],
      ['empty name', () => parseVerifierKey(`+${id}+${k}`), 'ERR_NOTE_KEY_INVALID'],
      ['uppercase id', () => parseVerifierKey(`${name}+${id.toUpperCase().replace(/^[0-9]/, 'A')}+${k}`), 'ERR_NOTE_KEY_INVALID'],
      ['short id', () => parseVerifierKey(`${name}+${id.slice(1)}+${k}`), 'ERR_NOTE_KEY_INVALID'],
      ['wrong id', () => parseVerifierKey(`${name}+00000000+${k}`), 'ERR_NOTE_KEY_INVALID'],
      ['other name, same key', () => parseVerifierKey(`example.com/b+${id}+${k}`), 'ERR_NOTE_KEY_INVALID'],
      ['bad base64', () => parseVerifierKey(`${name}+${id}+${k.slice(1)}`), 'ERR_NOTE_KEY_INVALID'],
      ['empty key', () => parseVerifierKey(`${name}+${id}+`), 'ERR_NOTE_KEY_INVALID'],
      ['other type byte (0x05)', () => parseVerifierKey(`${name}+${id}+B${k.slice(1)}`), 'ERR_KEY_UNSUPPORTED'],
      ['short key', () => parseVerifierKey(`${name}+${id}+AQID`), 'ERR_NOTE_KEY_INVALID'],
      ['oversized', () => parseVerifierKey('a'.repeat(5000)), 'ERR_NOTE_KEY_INVALID'],
      ['signer without prefix', () => parseSignerKey(GO_VKEY), 'ERR_NOTE_KEY_INVALID'],
      ['signer wrong id', () => parseSignerKey(GO_SKEY.replace('c74f20a3', 'c74f20a4')), 'ERR_NOTE_KEY_INVALID'],
    ];
    for (const [label, fn, code] of rows) {
      try {
        assertCode(fn, code as 'ERR_NOTE_KEY_INVALID');
      } catch (e) {
        throw new Error(`row "${label}": ${(e as Error).message}`, { cause: e });
      }
    }
  });

  test('signer key errors never echo the secret', () => {
    try {
      parseSignerKey(GO_SKEY.replace('c74f20a3', 'c74f20a4'));
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(!(e as Error).message.includes('AYEKFALV'), 'message must not contain the key');
    }
  });
});
