/**
 * fuzz/targets/http-download — the fast download path's reading of a provider's answer (src/io/http-download.ts):
 * the head parser and the in-place body decoder (Content-Length, chunked, close-delimited).
 *
 * Oracles: the parser returns a head, 'incomplete' or undefined (never throws); a head's length is within the input
 * and HEAD_MAX_BYTES; the decoder either refuses with a coded error or gives the same bytes and the same `done`
 * whether the body arrives whole or in three pieces (the split the socket would choose), never more than it was fed.
 */
import { isTrustError } from '../../src/errors.ts';
import { BodyDecoder, HEAD_MAX_BYTES, parseResponseHead, type Framing } from '../../src/io/http-download.ts';
import { enc, expectSame, type FuzzTarget } from '../target.ts';

/** decode feeds `body` in pieces cut at `cuts`, packing the output as the download loop does. */
function decode(framing: Framing, body: Uint8Array, cuts: number[]): { out: string; done: boolean } | string {
  const buf = Buffer.from(body);
  const d = new BodyDecoder(framing, 'fuzz');
  let w = 0;
  let from = 0;
  try {
    for (const to of [...cuts, buf.length]) {
      if (to <= from || d.done) continue;
      buf.copyWithin(w, from, to);
      const k = d.feed(buf, w, to - from);
      expectSame(k >= 0 && k <= to - from, `fed ${to - from} bytes, got ${k}`);
      w += k;
      from = to;
    }
  } catch (e) {
    if (isTrustError(e)) return e.code;
    throw e;
  }
  return { out: buf.subarray(0, w).toString('latin1'), done: d.done };
}

const SEEDS = [
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/octet-stream\r\n\r\nhello',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: 1\r\n\r\n',
  'HTTP/1.1 404 Not Found\r\n\r\n{"ok":false,"code":"ERR_PROVIDER_NOT_FOUND"}',
  'HTTP/1.0 503 Busy\r\nContent-Length: 0\r\n\r\n',
];

export const httpDownloadAnswer: FuzzTarget = {
  name: 'http-download-answer',
  parses: "a provider's answer read by the fast download path (head, chunked/length/close framing)",
  make() {
    return Promise.resolve({
      seeds: SEEDS.map((s) => enc.encode(s)),
      run(input: Uint8Array) {
        const head = parseResponseHead(input);
        if (head === 'incomplete' || head === undefined) return head;
        expectSame(head.headBytes <= input.length && head.headBytes <= HEAD_MAX_BYTES, `head of ${head.headBytes} bytes`);
        const body = input.subarray(head.headBytes);
        const whole = decode(head.framing, body, []);
        const split = decode(head.framing, body, [body.length % 7, Math.floor(body.length / 2), body.length - 1]);
        expectSame(JSON.stringify(whole) === JSON.stringify(split), 'the decoder gives another result when the body arrives in pieces');
        return whole;
      },
    });
  },
};
