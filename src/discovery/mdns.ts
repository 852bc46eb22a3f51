/**
 * discovery/mdns — providers on the local network over multicast DNS service discovery (RFC 6762 mDNS, RFC 6763
 * DNS-SD), as Phase describes it: service type `_phase-image._tcp.local.`, one instance per channel/arch served,
 * TXT keys `channel`, `arch`, `version`, `http_port` (RFC 6763 §6 key=value strings).
 *
 * Responder (`custody serve --mdns`): listens on 224.0.0.251:5353 and answers a PTR question for the service type
 * with, per channel/arch, a PTR record (service → instance `<channel>-<arch>-<id>._phase-image._tcp.local`), an SRV
 * record (port = http_port) and a TXT record. A question sent from a port other than 5353 is a one-shot legacy
 * unicast query (RFC 6762 §6.7): the answer goes back to that address and port, with the question's id and question.
 * Browser (`custody discover --mdns`): sends one such query and collects answers until its timeout; a provider's URL
 * is `http://<source address of the answer>:<http_port>/`.
 *
 * Trust boundary: mDNS is unauthenticated, and everyone on the link can answer. A URL found here is only a place to
 * ask (everything fetched is verified); the parser is bounded (MDNS_MAX_PACKET_BYTES, MDNS_MAX_RECORDS, names of
 * at most 255 bytes, compression pointers only backwards and at most MDNS_MAX_POINTER_JUMPS per name) and TXT values
 * are checked (channel/arch names, a port 1–65535) before use; at most MDNS_MAX_PROVIDERS answers are kept.
 */
import { createSocket, type Socket } from 'node:dgram';
import { FormatError } from '../errors.ts';

export const MDNS_ADDRESS = '224.0.0.251';
export const MDNS_PORT = 5353;
/** MDNS_SERVICE is the DNS-SD service type of Custody (and Phase) providers. */
export const MDNS_SERVICE = '_phase-image._tcp.local';
export const MDNS_MAX_PACKET_BYTES = 9000;
export const MDNS_MAX_RECORDS = 256;
export const MDNS_MAX_POINTER_JUMPS = 16;
export const MDNS_MAX_PROVIDERS = 64;
const TYPE_PTR = 12;
const TYPE_TXT = 16;
const TYPE_SRV = 33;
const CLASS_IN = 1;
const NAME_CHARS = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** DnsRecord is one parsed question or resource record (rdata kept raw; PTR/SRV targets decoded). */
export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: Uint8Array;
  /** target is the decoded name of a PTR or SRV record. */
  target?: string;
  /** port of an SRV record. */
  port?: number;
  /** txt holds the strings of a TXT record. */
  txt?: string[];
}

/** DnsMessage is a parsed mDNS message. */
export interface DnsMessage {
  id: number;
  response: boolean;
  questions: Array<{ name: string; type: number }>;
  answers: DnsRecord[];
}

function bad(what: string): FormatError {
  return new FormatError('ERR_DISCOVERY_MDNS', `mDNS message: ${what}`);
}

/** readName decodes a (possibly compressed, RFC 1035 §4.1.4) name at `off`; returns it and the offset after it. */
function readName(b: Uint8Array, off: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = off;
  let next = -1;
  let jumps = 0;
  let length = 0;
  for (;;) {
    if (pos >= b.length) throw bad('name runs past the end');
    const len = b[pos]!;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= b.length) throw bad('truncated pointer');
      const to = ((len & 0x3f) << 8) | b[pos + 1]!;
      // Only backwards, and a bounded number of times: no loops, no forward references.
      if (to >= pos || ++jumps > MDNS_MAX_POINTER_JUMPS) throw bad('bad compression pointer');
      if (next < 0) next = pos + 2;
      pos = to;
      continue;
    }
    if (len > 63) throw bad('label over 63 bytes');
    if (pos + 1 + len > b.length) throw bad('label runs past the end');
    length += len + 1;
    if (length > 255) throw bad('name over 255 bytes');
    labels.push(Buffer.from(b.subarray(pos + 1, pos + 1 + len)).toString('latin1'));
    pos += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), next };
}

/** parseDnsMessage reads an mDNS message (bounded; see the module doc). Throws ERR_DISCOVERY_MDNS. */
export function parseDnsMessage(b: Uint8Array): DnsMessage {
  if (b.length > MDNS_MAX_PACKET_BYTES) throw bad(`over ${MDNS_MAX_PACKET_BYTES} bytes`);
  if (b.length < 12) throw bad('shorter than a header');
  const u16 = (o: number): number => {
    if (o + 2 > b.length) throw bad('truncated');
    return (b[o]! << 8) | b[o + 1]!;
  };
  const id = u16(0);
  const flags = u16(2);
  const qd = u16(4);
  const an = u16(6) + u16(8) + u16(10);
  if (qd + an > MDNS_MAX_RECORDS) throw bad(`over ${MDNS_MAX_RECORDS} records`);
  let off = 12;
  const questions: DnsMessage['questions'] = [];
  for (let i = 0; i < qd; i++) {
    const n = readName(b, off);
    questions.push({ name: n.name, type: u16(n.next) });
    u16(n.next + 2);
    off = n.next + 4;
  }
  const answers: DnsRecord[] = [];
  for (let i = 0; i < an; i++) {
    const n = readName(b, off);
    const type = u16(n.next);
    const cls = u16(n.next + 2) & 0x7fff; // the top bit is mDNS's cache-flush / unicast-response bit
    const ttl = u16(n.next + 4) * 65536 + u16(n.next + 6);
    const rdlen = u16(n.next + 8);
    const start = n.next + 10;
    if (start + rdlen > b.length) throw bad('record data runs past the end');
    const data = b.subarray(start, start + rdlen);
    const r: DnsRecord = { name: n.name, type, class: cls, ttl, data };
    if (type === TYPE_PTR) r.target = readName(b, start).name;
    else if (type === TYPE_SRV) {
      if (rdlen < 7) throw bad('short SRV record');
      r.port = u16(start + 4);
      r.target = readName(b, start + 6).name;
    } else if (type === TYPE_TXT) {
      const txt: string[] = [];
      for (let p = 0; p < data.length; ) {
        const l = data[p]!;
        if (p + 1 + l > data.length) throw bad('TXT string runs past its record');
        txt.push(Buffer.from(data.subarray(p + 1, p + 1 + l)).toString('latin1'));
        p += 1 + l;
      }
      r.txt = txt;
    }
    answers.push(r);
    off = start + rdlen;
  }
  return { id, response: (flags & 0x8000) !== 0, questions, answers };
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((l) => l.length > 0);
  return Buffer.concat([...parts.map((l) => Buffer.concat([Buffer.of(l.length), Buffer.from(l, 'latin1')])), Buffer.of(0)]);
}

function rr(name: string, type: number, ttl: number, data: Buffer, cacheFlush = false): Buffer {
  const h = Buffer.alloc(10);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(CLASS_IN | (cacheFlush ? 0x8000 : 0), 2);
  h.writeUInt32BE(ttl, 4);
  h.writeUInt16BE(data.length, 8);
  return Buffer.concat([encodeName(name), h, data]);
}

function header(id: number, flags: number, qd: number, an: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  return h;
}

/** MdnsAdvert is one channel/arch a responder advertises. */
export interface MdnsAdvert {
  channel: string;
  arch: string;
  version: string;
}

/** formatAnswer builds the answer to a PTR question for the service (uncompressed names). */
export function formatAnswer(id: number, adverts: readonly MdnsAdvert[], o: { httpPort: number; host: string; instanceId: string; question?: boolean }): Buffer {
  const records: Buffer[] = [];
  for (const a of adverts) {
    const instance = `${a.channel}-${a.arch}-${o.instanceId}.${MDNS_SERVICE}`;
    records.push(rr(MDNS_SERVICE, TYPE_PTR, 120, encodeName(instance)));
    const srv = Buffer.alloc(6);
    srv.writeUInt16BE(0, 0);
    srv.writeUInt16BE(0, 2);
    srv.writeUInt16BE(o.httpPort, 4);
    records.push(rr(instance, TYPE_SRV, 120, Buffer.concat([srv, encodeName(`${o.host}.local`)]), true));
    const txt = [`channel=${a.channel}`, `arch=${a.arch}`, `version=${a.version}`, `http_port=${o.httpPort}`].map((s) => Buffer.concat([Buffer.of(s.length), Buffer.from(s, 'latin1')]));
    records.push(rr(instance, TYPE_TXT, 120, Buffer.concat(txt), true));
  }
  // RFC 6762 §6.7: a legacy unicast answer repeats the question.
  const q = o.question === true ? [Buffer.concat([encodeName(MDNS_SERVICE), Buffer.from([0, TYPE_PTR, 0, CLASS_IN])])] : [];
  return Buffer.concat([header(id, 0x8400, q.length, records.length), ...q, ...records]);
}

/** formatQuery builds a PTR question for the service. */
export function formatQuery(id: number): Buffer {
  return Buffer.concat([header(id, 0, 1, 0), encodeName(MDNS_SERVICE), Buffer.from([0, TYPE_PTR, 0, CLASS_IN])]);
}

/** MdnsProvider is one provider an answer named. */
export interface MdnsProvider {
  url: string;
  channel: string;
  arch: string;
  version: string;
}

/** providersOf reads the TXT records of an answer from `address` (only well-formed ones; see the module doc). */
export function providersOf(m: DnsMessage, address: string): MdnsProvider[] {
  const out: MdnsProvider[] = [];
  if (!m.response) return out;
  const host = address.includes(':') ? `[${address}]` : address;
  for (const r of m.answers) {
    if (r.type !== TYPE_TXT || r.txt === undefined || !r.name.endsWith(`.${MDNS_SERVICE}`)) continue;
    const kv = new Map<string, string>();
    for (const s of r.txt) {
      const eq = s.indexOf('=');
      if (eq > 0 && !kv.has(s.slice(0, eq).toLowerCase())) kv.set(s.slice(0, eq).toLowerCase(), s.slice(eq + 1));
    }
    const channel = kv.get('channel');
    const arch = kv.get('arch');
    const port = kv.get('http_port');
    const version = kv.get('version') ?? '';
    if (channel === undefined || arch === undefined || port === undefined || !NAME_CHARS.test(channel) || !NAME_CHARS.test(arch)) continue;
    if (!/^[1-9][0-9]{0,4}$/.test(port) || Number(port) > 65_535 || !/^[\x21-\x7e]{0,64}$/.test(version)) continue;
    out.push({ url: `http://${host}:${port}/`, channel, arch, version });
  }
  return out;
}

/** startMdnsResponder answers PTR questions for the service with what `adverts` returns now. */
export async function startMdnsResponder(o: { adverts: () => readonly MdnsAdvert[]; httpPort: number; host: string; instanceId: string; port?: number }): Promise<{ stop: () => Promise<void> }> {
  const sock: Socket = createSocket({ type: 'udp4', reuseAddr: true });
  sock.on('message', (msg, rinfo) => {
    let m: DnsMessage;
    try {
      m = parseDnsMessage(msg);
    } catch {
      return; // not ours to answer: a malformed packet is dropped
    }
    if (m.response || !m.questions.some((q) => q.name === MDNS_SERVICE && (q.type === TYPE_PTR || q.type === 255))) return;
    const adverts = o.adverts();
    if (adverts.length === 0) return;
    const legacy = rinfo.port !== MDNS_PORT;
    const answer = formatAnswer(legacy ? m.id : 0, adverts, { httpPort: o.httpPort, host: o.host, instanceId: o.instanceId, question: legacy });
    sock.send(answer, legacy ? rinfo.port : (o.port ?? MDNS_PORT), legacy ? rinfo.address : MDNS_ADDRESS);
  });
  sock.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(o.port ?? MDNS_PORT, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  try {
    sock.addMembership(MDNS_ADDRESS);
  } catch {
    /* no multicast route: only unicast questions reach us */
  }
  return { stop: () => new Promise<void>((r) => sock.close(() => r())) };
}

/** browseMdns asks once and collects providers of channel/arch until timeoutMs (at most MDNS_MAX_PROVIDERS). */
export async function browseMdns(o: { channel: string; arch: string; timeoutMs: number; target?: { address: string; port: number } }): Promise<MdnsProvider[]> {
  const sock = createSocket({ type: 'udp4' });
  const found = new Map<string, MdnsProvider>();
  const id = Math.floor(Math.random() * 65_536);
  sock.on('message', (msg, rinfo) => {
    try {
      const m = parseDnsMessage(msg);
      if (m.id !== id) return;
      for (const p of providersOf(m, rinfo.address)) {
        if (p.channel === o.channel && p.arch === o.arch && found.size < MDNS_MAX_PROVIDERS) found.set(p.url, p);
      }
    } catch {
      /* a malformed answer is ignored */
    }
  });
  sock.on('error', () => undefined);
  await new Promise<void>((r) => sock.bind(0, r));
  const t = o.target ?? { address: MDNS_ADDRESS, port: MDNS_PORT };
  sock.send(formatQuery(id), t.port, t.address);
  await new Promise((r) => setTimeout(r, o.timeoutMs));
  await new Promise<void>((r) => sock.close(() => r()));
  return [...found.values()];
}
