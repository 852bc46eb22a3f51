/**
 * io/http-body — reading `fetch()` answers of untrusted HTTP servers (the log client) with a size cap, and naming
 * why a request failed. Provider traffic (`custody fetch`, `custody publish`) goes through io/http-client instead.
 *
 * Trust boundary: the server chooses the body and its Content-Length. The cap is checked against the announced
 * length before reading and against the bytes actually received while streaming, so an endless answer costs at most
 * `maxBytes` of memory.
 */
import { IoError, LimitError, isTrustError } from '../errors.ts';

/**
 * networkReason names why a fetch failed: undici reports "fetch failed" and keeps the reason (ECONNREFUSED, a TLS
 * error, a timeout) in `cause`.
 */
export function networkReason(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } } | null;
  const c = err?.cause;
  if (c?.message) return `${c.code ? `${c.code}: ` : ''}${c.message}`.slice(0, 300);
  return String(err?.message ?? e).slice(0, 300);
}

/**
 * readBodyCapped reads a response body, refusing more than maxBytes (ERR_LIMIT_SIZE, announced or streamed); a
 * broken stream is ERR_IO_NETWORK. `onChunk` is called for every chunk (an idle timer's reset).
 */
export async function readBodyCapped(res: Response, maxBytes: number, url: string, what: string, onChunk?: () => void): Promise<Uint8Array> {
  const announced = Number(res.headers.get('content-length') ?? '0');
  if (announced > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new LimitError('ERR_LIMIT_SIZE', `${url}: the ${what} is ${announced} bytes, over the cap of ${maxBytes}`);
  }
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    for await (const c of (res.body ?? []) as AsyncIterable<Uint8Array>) {
      n += c.length;
      if (n > maxBytes) throw new LimitError('ERR_LIMIT_SIZE', `${url}: the ${what} is over the cap of ${maxBytes} bytes`);
      chunks.push(c);
      onChunk?.();
    }
  } catch (e) {
    if (isTrustError(e)) throw e;
    throw new IoError('ERR_IO_NETWORK', `${url}: ${networkReason(e)}`, { cause: e });
  }
  return Buffer.concat(chunks);
}
