/**
 * ui/verify — what the dashboard checks in the browser, with the same rules as the Node client: TUF 1.0 root.json
 * (§4.3: key ids recomputed, threshold of distinct root keys over TUF canonical JSON, expiry; Custody's
 * `x-custody-revoked` and key windows, docs/trust.md), Custody manifests (docs/manifest.md: threshold of distinct
 * `targets` keys over `custody-manifest:v1:` ‖ RFC 8785 JCS of the body, expiry, channel/arch) and their
 * transparency-log inclusion (`custody.manifest/v1` entry, c2sp.org/tlog-proof@v1 against a checkpoint signed by the
 * pinned log key). Each step is reported as a named check so the page can show which one failed.
 */
import { UiError } from './errors.ts';
import { ed25519Verify, fromHex, hex, sha256, utf8 } from './bytes.ts';
import { canonicalJcs, canonicalTuf, type JsonValue } from './canonical.ts';
import { leafHash, verifyInclusion } from './merkle.ts';
import { parseJson } from './json.ts';
import { openCheckpoint, parseProofFile, type VerifiedCheckpoint, type VerifierKey } from './note.ts';

type Obj = { [k: string]: JsonValue };

function obj(v: JsonValue | undefined, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UiError(`${what}: expected an object`);
  return v;
}

function str(v: JsonValue | undefined, what: string): string {
  if (typeof v !== 'string') throw new UiError(`${what}: expected a string`);
  return v;
}

/** date reads a timestamp (RFC 3339 as the Node code writes it); an unreadable one is refused, never Invalid Date. */
function date(v: string, what: string): Date {
  const d = new Date(v);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(v) || Number.isNaN(d.getTime())) throw new UiError(`${what}: expected an RFC 3339 time`);
  return d;
}

/** RootKey is an Ed25519 key of a root. */
export interface RootKey {
  id: string;
  publicKey: Uint8Array;
  notBefore?: Date;
  notAfter?: Date;
}

/** Root is a parsed, self-verified trust root. */
export interface Root {
  version: number;
  expires: Date;
  keys: Map<string, RootKey>;
  roles: Map<string, { keyids: string[]; threshold: number }>;
  revoked: Set<string>;
  signed: Obj;
}

/** tufKeyId is hex SHA-256 of the TUF canonical JSON of {keytype, keyval: {public}, scheme} (docs/trust.md). */
export async function tufKeyId(publicKeyHex: string): Promise<string> {
  const doc: JsonValue = { keytype: 'ed25519', keyval: { public: publicKeyHex }, scheme: 'ed25519' };
  return hex(await sha256(utf8(canonicalTuf(doc))));
}

/** parseRoot reads root.json (≤ 1 MiB), recomputes the key ids and checks the root's own signatures and expiry. */
export async function parseRoot(text: string, now: Date): Promise<Root> {
  if (text.length > 1024 * 1024) throw new UiError('root.json over 1 MiB');
  const doc = obj(parseJson(text, 'root.json', 1024 * 1024), 'root');
  const signed = obj(doc.signed, 'root.signed');
  if (signed._type !== 'root') throw new UiError('not a root (signed._type)');
  const keys = new Map<string, RootKey>();
  for (const [id, kv] of Object.entries(obj(signed.keys, 'keys'))) {
    const k = obj(kv, `key ${id}`);
    if (k.keytype !== 'ed25519' || k.scheme !== 'ed25519') continue;
    const pub = str(obj(k.keyval, 'keyval').public, 'keyval.public');
    if ((await tufKeyId(pub)) !== id) throw new UiError(`key id ${id.slice(0, 16)}… does not match its key`);
    const key: RootKey = { id, publicKey: fromHex(pub, 32) };
    if (typeof k['x-custody-not-before'] === 'string') key.notBefore = date(k['x-custody-not-before'], `key ${id.slice(0, 16)} x-custody-not-before`);
    if (typeof k['x-custody-not-after'] === 'string') key.notAfter = date(k['x-custody-not-after'], `key ${id.slice(0, 16)} x-custody-not-after`);
    keys.set(id, key);
  }
  const roles = new Map<string, { keyids: string[]; threshold: number }>();
  for (const [name, rv] of Object.entries(obj(signed.roles, 'roles'))) {
    const r = obj(rv, `role ${name}`);
    const keyids = Array.isArray(r.keyids) ? r.keyids.filter((x): x is string => typeof x === 'string') : [];
    const threshold = typeof r.threshold === 'number' && Number.isSafeInteger(r.threshold) && r.threshold >= 1 ? r.threshold : NaN;
    if (Number.isNaN(threshold)) throw new UiError(`role ${name}: bad threshold`);
    roles.set(name, { keyids, threshold });
  }
  const revoked = new Set(Array.isArray(signed['x-custody-revoked']) ? signed['x-custody-revoked'].filter((x): x is string => typeof x === 'string') : []);
  const root: Root = {
    version: typeof signed.version === 'number' ? signed.version : NaN,
    expires: date(str(signed.expires, 'expires'), 'expires'),
    keys,
    roles,
    revoked,
    signed,
  };
  const sigs = Array.isArray(doc.signatures) ? doc.signatures : [];
  const message = utf8(canonicalTuf(signed));
  const counted = await countThreshold(
    root,
    'root',
    sigs.map((s) => {
      const o = obj(s, 'signature');
      return { keyId: str(o.keyid, 'keyid'), sigHex: str(o.sig, 'sig') };
    }),
    message,
    now,
    false,
  );
  if (counted.valid.length < counted.threshold) throw new UiError(`root signed by ${counted.valid.length}/${counted.threshold} root keys`);
  if (now.getTime() >= root.expires.getTime()) throw new UiError(`root expired at ${root.expires.toISOString()}`);
  return root;
}

/** Candidate is one signature to count. */
interface Candidate {
  keyId: string;
  sigHex: string;
  publicKeyHex?: string;
}

/**
 * countThreshold counts signatures over `message` by distinct, unrevoked, in-window keys of `role` (as
 * src/trust/threshold.ts). With `hints`, a key id naming no key of the role is resolved by the claimed public key.
 */
export async function countThreshold(
  root: Root,
  role: string,
  sigs: readonly Candidate[],
  message: Uint8Array,
  now: Date,
  hints: boolean,
): Promise<{ valid: string[]; threshold: number; bad: number }> {
  const r = root.roles.get(role);
  if (r === undefined) throw new UiError(`the root has no ${role} role`);
  const seen = new Set<string>();
  const valid: string[] = [];
  let bad = 0;
  for (const s of sigs.slice(0, 64)) {
    let key = r.keyids.includes(s.keyId) ? root.keys.get(s.keyId) : undefined;
    if (key === undefined && hints && s.publicKeyHex !== undefined) {
      key = r.keyids.map((id) => root.keys.get(id)).find((k) => k !== undefined && hex(k.publicKey) === s.publicKeyHex);
    }
    if (key === undefined || root.revoked.has(key.id)) continue;
    if (s.publicKeyHex !== undefined && s.publicKeyHex !== hex(key.publicKey)) continue;
    if ((key.notBefore && now < key.notBefore) || (key.notAfter && now >= key.notAfter)) continue;
    const kb = hex(key.publicKey);
    if (seen.has(kb)) continue;
    let sig: Uint8Array;
    try {
      sig = fromHex(s.sigHex, 64);
    } catch {
      bad++;
      continue;
    }
    if (await ed25519Verify(key.publicKey, sig, message)) {
      seen.add(kb);
      valid.push(key.id);
    } else bad++;
  }
  return { valid, threshold: r.threshold, bad };
}

/** CheckName names the steps of a release verification, in order. */
export type CheckName = 'root' | 'signatures' | 'target' | 'expiry' | 'checkpoint' | 'inclusion';

/** CHECK_LABELS are the human names of the checks. */
export const CHECK_LABELS: Record<CheckName, string> = {
  root: 'trust root matches the pinned fingerprint and is signed by its root keys',
  signatures: 'threshold of targets signatures over the canonical manifest bytes',
  target: 'manifest is for this channel and architecture',
  expiry: 'manifest is not expired and not from the future',
  checkpoint: 'checkpoint signed by the pinned log key',
  inclusion: 'manifest entry included in the signed checkpoint',
};

/** CheckResult is the outcome of one check. */
export interface CheckResult {
  name: CheckName;
  ok: boolean;
  detail: string;
}

/** ReleaseInputs are the documents a release verification looks at (all served by the untrusted daemon). */
export interface ReleaseInputs {
  channel: string;
  arch: string;
  rootText: string;
  manifestText: string;
  proofText: string;
  pinnedFingerprint: string;
  logKey: VerifierKey;
  now: Date;
}

/** ReleaseVerdict is what a release verification found. */
export interface ReleaseVerdict {
  ok: boolean;
  checks: CheckResult[];
  digest?: string;
  signers?: string[];
  checkpoint?: VerifiedCheckpoint;
  index?: number;
}

/** manifestSignedBytes is `custody-manifest:v1:` ‖ JCS(document without signatures). */
export function manifestSignedBytes(doc: Obj): Uint8Array {
  const body: Obj = {};
  for (const [k, v] of Object.entries(doc)) if (k !== 'signatures') body[k] = v;
  return utf8('custody-manifest:v1:' + canonicalJcs(body));
}

/**
 * verifyRelease runs the checks in order, calling `report` after each; it stops at the first failure (later checks
 * would rest on it) and returns every result.
 */
export async function verifyRelease(i: ReleaseInputs, report: (c: CheckResult) => void = () => undefined): Promise<ReleaseVerdict> {
  const checks: CheckResult[] = [];
  const out: ReleaseVerdict = { ok: false, checks };
  const step = async (name: CheckName, f: () => Promise<string>): Promise<boolean> => {
    let c: CheckResult;
    try {
      c = { name, ok: true, detail: await f() };
    } catch (e) {
      // Only refusals of the input fail a check; anything else is a bug of this code, shown as such by the page.
      if (!(e instanceof UiError)) throw e;
      c = { name, ok: false, detail: e.message };
    }
    checks.push(c);
    report(c);
    return c.ok;
  };
  let root: Root | undefined;
  let doc: Obj = {};
  let signed: Uint8Array = new Uint8Array();
  if (
    !(await step('root', async () => {
      const fp = 'sha256:' + hex(await sha256(utf8(i.rootText)));
      if (fp !== i.pinnedFingerprint) throw new UiError(`root fingerprint ${fp} is not the pinned ${i.pinnedFingerprint}`);
      root = await parseRoot(i.rootText, i.now);
      return `root v${root.version}, ${fp.slice(0, 19)}…`;
    }))
  ) return out;
  if (
    !(await step('signatures', async () => {
      if (i.manifestText.length > 1024 * 1024) throw new UiError('manifest over 1 MiB');
      doc = obj(parseJson(i.manifestText, 'manifest'), 'manifest');
      signed = manifestSignedBytes(doc);
      const sigs = (Array.isArray(doc.signatures) ? doc.signatures : []).map((s) => {
        const o = obj(s, 'signature');
        const c: Candidate = { keyId: str(o.key_id, 'key_id'), sigHex: str(o.signature, 'signature') };
        if (o.algorithm !== 'ed25519') c.sigHex = '';
        if (typeof o.public_key === 'string') c.publicKeyHex = o.public_key;
        return c;
      });
      const r = await countThreshold(root!, 'targets', sigs, signed, i.now, true);
      if (r.valid.length < r.threshold) {
        throw new UiError(`signed by ${r.valid.length}/${r.threshold} targets keys${r.bad ? `; ${r.bad} signature(s) do not verify over this manifest` : ''}`);
      }
      out.signers = r.valid;
      out.digest = 'sha256:' + hex(await sha256(signed));
      return `signed by ${r.valid.length}/${r.threshold}: ${r.valid.map((k) => k.slice(0, 8)).join(', ')}`;
    }))
  ) return out;
  if (
    !(await step('target', () => {
      if (doc.channel !== i.channel || doc.arch !== i.arch) throw new UiError(`manifest is for ${String(doc.channel)}/${String(doc.arch)}`);
      return Promise.resolve(`${i.channel}/${i.arch}`);
    }))
  ) return out;
  if (
    !(await step('expiry', async () => {
      const exp = date(str(doc.expires_at, 'expires_at'), 'expires_at');
      const created = date(str(doc.created_at, 'created_at'), 'created_at');
      if (!(i.now < exp)) throw new UiError(`expired at ${exp.toISOString()}`);
      if (created.getTime() > i.now.getTime() + 5 * 60_000) throw new UiError(`created_at ${created.toISOString()} is in the future`);
      return `expires ${exp.toISOString()}`;
    }))
  ) return out;
  let proof: ReturnType<typeof parseProofFile> | undefined;
  if (
    !(await step('checkpoint', async () => {
      proof = parseProofFile(i.proofText);
      out.checkpoint = await openCheckpoint(proof.checkpoint, i.logKey);
      return `${out.checkpoint.origin} size ${out.checkpoint.size}`;
    }))
  ) return out;
  if (
    !(await step('inclusion', async () => {
      const entry = utf8(`custody.manifest/v1\nchannel ${String(doc.channel)}\narch ${String(doc.arch)}\nsequence ${String(doc.sequence)}\ndigest ${out.digest!}\n`);
      const cp = out.checkpoint!;
      if (!(await verifyInclusion(await leafHash(entry), proof!.index, cp.size, proof!.proof, cp.rootHash))) {
        throw new UiError(`the inclusion proof for index ${proof!.index} does not lead to the checkpoint's root`);
      }
      out.index = proof!.index;
      return `index ${proof!.index} of ${cp.size}`;
    }))
  ) return out;
  out.ok = true;
  return out;
}
