/**
 * ui/main — the operator dashboard (docs/dashboard.md): five pages over the daemon's own routes, each verifying in
 * the browser what matters (signatures, expiry, Merkle proofs, the audit chain) with ui/verify, ui/note and
 * ui/merkle. Trust comes from pins kept in localStorage (the root fingerprint and the log key, pinned on the first
 * visit or set by the operator on the Trust page); the admin token lives in sessionStorage only and is sent only to
 * this origin. No inline script or style (the page runs under a strict CSP); DOM built with createElement.
 */
import { parseConsistencyAnswer, parseInfo, parseProofAnswer, type Info } from './api.ts';
import { parseAuditEvents, verifyAuditChain } from './audit.ts';
import { fromBase64, hex, sha256, toBase64, utf8 } from './bytes.ts';
import type { JsonValue } from './canonical.ts';
import { parseJson } from './json.ts';
import { leafHash, verifyConsistency, verifyInclusion } from './merkle.ts';
import { openCheckpoint, parseProofFile, parseVerifierKey, parseWitnessKey, type VerifiedCheckpoint, type VerifierKey } from './note.ts';
import { parsePrometheusText, sum, type Sample } from './prom.ts';
import { CHECK_LABELS, parseRoot, verifyRelease, type CheckName, type Root } from './verify.ts';

type Child = Node | string;
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...kids: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of kids) e.append(c);
  return e;
}
function svg(tag: string, attrs: Record<string, string>, ...kids: Child[]): SVGElement {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of kids) e.append(c);
  return e;
}

const MAX_TEXT = 2 * 1024 * 1024;
/** getText fetches a same-origin path (never another origin) with a size cap. */
async function getText(path: string, init: RequestInit = {}): Promise<string> {
  if (!path.startsWith('/') || path.startsWith('//')) throw new Error('only same-origin paths are fetched');
  const r = await fetch(path, { ...init, credentials: 'same-origin', redirect: 'error', cache: 'no-cache' });
  const t = await r.text();
  if (t.length > MAX_TEXT) throw new Error(`${path}: answer too large`);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${t.slice(0, 200)}`);
  return t;
}
async function getInfo(): Promise<Info> {
  return parseInfo(await getText('/'));
}

// ---- pins (localStorage: public values only) and the admin token (sessionStorage) ----
/**
 * Pins are what this browser trusts. The root fingerprint and the log key are pinned on the first visit from what the
 * daemon announces (trust on first use, said on the page). Witness keys never are: a witness is worth something only
 * as a party independent of the log's operator, so its key must come from the witness's operator (the line `custody
 * witness serve` prints), pasted on the Trust page; a key announced by the daemon would be the log's own word.
 */
interface Pins {
  fingerprint: string;
  vkey: string;
  /** witnesses are cosignature/v1 verifier keys (c2sp.org/tlog-cosignature), as the operator pasted them. */
  witnesses: string[];
  firstUse: boolean;
}
const PIN_KEY = 'custody.pins';
function savePins(p: Omit<Pins, 'firstUse'>): void {
  localStorage.setItem(PIN_KEY, JSON.stringify({ fingerprint: p.fingerprint, vkey: p.vkey, witnesses: p.witnesses }));
}
function loadPins(info: Info): Pins {
  const raw = localStorage.getItem(PIN_KEY);
  if (raw !== null) {
    try {
      const p = JSON.parse(raw) as { fingerprint?: unknown; vkey?: unknown; witnesses?: unknown };
      if (typeof p.fingerprint === 'string' && typeof p.vkey === 'string') {
        const witnesses = Array.isArray(p.witnesses) ? p.witnesses.filter((w): w is string => typeof w === 'string').slice(0, 32) : [];
        return { fingerprint: p.fingerprint, vkey: p.vkey, witnesses, firstUse: false };
      }
    } catch {
      // replaced below
    }
  }
  const pins = { fingerprint: info.trust.fingerprint, vkey: info.log.vkey, witnesses: [] };
  savePins(pins);
  return { ...pins, firstUse: true };
}
/** witnessKeys parses the pinned witness keys (a malformed one is skipped: the Trust page refuses to save those). */
async function witnessKeys(pins: Pins): Promise<VerifierKey[]> {
  const out: VerifierKey[] = [];
  for (const w of pins.witnesses) out.push(...(await parseWitnessKey(w).then((k) => [k], () => [])));
  return out;
}
function adminToken(): string | undefined {
  return sessionStorage.getItem('custody.admin') ?? undefined;
}

// ---- checkpoints seen (localStorage): the monitor's memory ----
interface SeenCheckpoint {
  size: number;
  root: string;
  at: number;
}
const SEEN_KEY = 'custody.checkpoints';
function seenCheckpoints(): SeenCheckpoint[] {
  try {
    const v = JSON.parse(localStorage.getItem(SEEN_KEY) ?? '[]') as SeenCheckpoint[];
    return Array.isArray(v) ? v.filter((c) => Number.isSafeInteger(c.size) && typeof c.root === 'string') : [];
  } catch {
    return [];
  }
}
function remember(cp: VerifiedCheckpoint): void {
  const all = seenCheckpoints();
  const last = all[all.length - 1];
  if (last?.size === cp.size && last.root === toBase64(cp.rootHash)) return;
  all.push({ size: cp.size, root: toBase64(cp.rootHash), at: Date.now() });
  localStorage.setItem(SEEN_KEY, JSON.stringify(all.slice(-200)));
}

async function latestCheckpoint(pins: Pins, witnesses: readonly VerifierKey[] = []): Promise<VerifiedCheckpoint> {
  return openCheckpoint(await getText('/log/checkpoint'), await parseVerifierKey(pins.vkey), witnesses);
}

function status(ok: boolean | undefined, text: string): HTMLElement {
  return el('span', { class: ok === undefined ? 'pending' : ok ? 'ok' : 'bad' }, `${ok === undefined ? '…' : ok ? '✓' : '✗'} ${text}`);
}
function countdown(expires: string): string {
  const ms = Date.parse(expires) - Date.now();
  if (ms <= 0) return 'expired';
  const d = Math.floor(ms / 86_400_000);
  const h = Math.floor((ms % 86_400_000) / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  return `${d}d ${h}h ${m}m`;
}
function cell(label: string, ...kids: Child[]): HTMLTableCellElement {
  return el('td', { 'data-label': label }, ...kids);
}
function table(headers: string[], rows: HTMLTableRowElement[], caption: string): HTMLElement {
  return el('div', { class: 'scroll' }, el('table', { class: 'stack' }, el('caption', { class: 'muted' }, caption), el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col' }, h)))), el('tbody', {}, ...rows)));
}

// ---- pages ----
async function releasesPage(main: HTMLElement, info: Info, pins: Pins): Promise<void> {
  main.append(el('h2', {}, 'Releases'));
  if (pins.firstUse) main.append(el('p', { class: 'muted' }, 'First visit: the trust-root fingerprint and log key served now were pinned in this browser (trust on first use). Check them on the Trust page.'));
  let root: Root | undefined;
  try {
    root = await parseRoot(await getText('/trust/root.json'), new Date());
  } catch {
    root = undefined;
  }
  const rows = info.releases.map((r) => {
    const id = `${r.channel}-${r.arch}`;
    const btn = el('button', { type: 'button', 'data-verify': id, 'aria-controls': `v-${id}` }, 'Verify in browser');
    const out = el('div', { id: `v-${id}`, class: 'verify-out' });
    btn.addEventListener('click', () => void verifyOne(r, out, pins, root));
    return el('tr', {},
      cell('Channel/arch', el('strong', {}, `${r.channel}/${r.arch}`)),
      cell('Version', r.version),
      cell('Sequence', String(r.sequence)),
      cell('Expires', el('span', { 'data-expires': r.expiresAt, title: r.expiresAt }, countdown(r.expiresAt))),
      cell('Log index', String(r.logIndex)),
      cell('Verify', btn, out));
  });
  main.append(table(['Channel/arch', 'Version', 'Sequence', 'Expires in', 'Log index', 'Verify'], rows, `${info.releases.length} release(s); the list is the server's claim — verify each.`));
}

async function verifyOne(r: Info['releases'][number], out: HTMLElement, pins: Pins, root: Root | undefined): Promise<void> {
  out.replaceChildren();
  const list = el('ul', { class: 'checks', 'aria-label': `checks for ${r.channel}/${r.arch}` });
  const items = new Map<CheckName, HTMLLIElement>();
  for (const name of Object.keys(CHECK_LABELS) as CheckName[]) {
    const li = el('li', { 'data-check': name, 'data-status': 'pending' }, status(undefined, CHECK_LABELS[name]));
    items.set(name, li);
    list.append(li);
  }
  const verdict = el('p', { class: 'verdict', role: 'status' }, 'verifying…');
  out.append(list, verdict);
  try {
    const [rootText, manifestText, proofText] = await Promise.all([getText('/trust/root.json'), getText(r.manifestUrl), getText(`${r.manifestUrl}.tlog-proof`)]);
    const v = await verifyRelease({ channel: r.channel, arch: r.arch, rootText, manifestText, proofText, pinnedFingerprint: pins.fingerprint, logKey: await parseVerifierKey(pins.vkey), now: new Date() }, (c) => {
      const li = items.get(c.name)!;
      li.setAttribute('data-status', c.ok ? 'pass' : 'fail');
      li.replaceChildren(status(c.ok, `${CHECK_LABELS[c.name]} — ${c.detail}`));
    });
    if (v.ok) {
      verdict.replaceChildren(el('span', { class: 'ok', 'data-verdict': 'verified' }, `✓ release verified: ${r.channel}/${r.arch}`));
      if (v.checkpoint) remember(v.checkpoint);
      // Verified above: the manifest's signed body (parsed again only to list it).
      const doc = parseJson(manifestText, 'manifest') as { artifacts?: Record<string, { filename?: unknown; size_bytes?: unknown; hash?: unknown }> };
      out.append(el('h3', {}, 'Signed by'), el('ul', {}, ...(v.signers ?? []).map((k) => el('li', {}, el('code', {}, k), ' ', el('span', { class: 'muted' }, keyName(root, k))))));
      out.append(table(['Name', 'File', 'Size', 'SHA-256'], Object.entries(doc.artifacts ?? {}).map(([n, a]) => el('tr', {}, cell('Name', n), cell('File', String(a.filename)), cell('Size', `${String(a.size_bytes)} B`), cell('SHA-256', el('code', {}, String(a.hash))))), 'Artifacts (signed)'));
    } else {
      const failed = v.checks.find((c) => !c.ok);
      verdict.replaceChildren(el('span', { class: 'bad', 'data-verdict': 'failed', 'data-failed-check': failed?.name ?? '' }, `✗ verification failed at “${failed?.name ?? '?'}”: ${failed?.detail ?? ''}`));
    }
  } catch (e) {
    verdict.replaceChildren(el('span', { class: 'bad', 'data-verdict': 'failed', 'data-failed-check': 'fetch' }, `✗ ${String(e)}`));
  }
}

function keyName(root: Root | undefined, id: string): string {
  if (root === undefined) return '';
  const roles = [...root.roles].filter(([, r]) => r.keyids.includes(id)).map(([n]) => n);
  const k = (root.signed.keys as Record<string, Record<string, JsonValue>> | undefined)?.[id];
  const name = typeof k?.['x-custody-name'] === 'string' ? `${k['x-custody-name']} · ` : '';
  return `${name}${roles.join(', ')} key`;
}

async function logPage(main: HTMLElement, pins: Pins): Promise<void> {
  main.append(el('h2', {}, 'Transparency log'));
  const before = seenCheckpoints();
  const witnesses = await witnessKeys(pins);
  const cp = await latestCheckpoint(pins, witnesses);
  const prev = before[before.length - 1];
  main.append(el('div', { class: 'card' }, el('h3', {}, 'Latest checkpoint'), status(true, `signed by the pinned log key ${pins.vkey.split('+')[0] ?? ''}`), el('pre', { 'data-checkpoint': '' }, cp.note)));
  main.append(el('h3', {}, 'Witness cosignatures'), cosignatureList(cp, witnesses));
  const cons = el('p', { 'data-consistency': '' });
  main.append(el('h3', {}, 'Consistency with your last visit'), cons);
  if (prev === undefined) cons.append(status(undefined, 'first visit: this checkpoint is remembered for the next one'));
  else if (prev.size > cp.size) cons.append(status(false, `the log shrank: ${prev.size} → ${cp.size}`));
  else if (prev.size === 0) cons.append(status(true, `size 0 → ${cp.size}: every tree extends the empty one`));
  else {
    const p = parseConsistencyAnswer(await getText(`/ui/api/log/consistency?from=${prev.size}&to=${cp.size}`));
    const ok = await verifyConsistency(prev.size, cp.size, p.proof, fromBase64(prev.root, 32), cp.rootHash);
    cons.setAttribute('data-ok', String(ok));
    cons.append(status(ok, ok ? `size ${prev.size} → ${cp.size}: append-only` : `size ${prev.size} → ${cp.size}: NOT consistent — the log forked or was rewritten`));
    if (!ok) {
      chart(main, before);
      return;
    }
  }
  remember(cp);
  chart(main, seenCheckpoints());
  // Entry lookup by index or manifest digest.
  const input = el('input', { id: 'lookup', name: 'lookup', placeholder: 'index or sha256:…', autocomplete: 'off' });
  const res = el('div', { 'aria-live': 'polite' });
  const form = el('form', { role: 'search' }, el('label', { for: 'lookup' }, 'Entry index or manifest digest'), input, el('button', { type: 'submit' }, 'Look up'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void lookup(input.value.trim(), cp, res);
  });
  main.append(el('h3', {}, 'Entry lookup'), form, res);
}

/**
 * cosignatureList shows each witness cosignature of the checkpoint (c2sp.org/tlog-cosignature) with its verdict under
 * the pinned witness keys — verified, INVALID, or not pinned here (never counted) — and how many pinned witnesses
 * cosigned.
 */
function cosignatureList(cp: VerifiedCheckpoint, witnesses: readonly VerifierKey[]): HTMLElement {
  const box = el('div', { 'data-witnesses': '' });
  const good = new Set(cp.cosignatures.filter((c) => c.verified === true).map((c) => `${c.name}+${c.keyId}`));
  box.append(el('p', { 'data-witnessed': `${good.size}/${witnesses.length}` }, status(witnesses.length === 0 ? undefined : good.size === witnesses.length,
    witnesses.length === 0
      ? 'no witness keys pinned in this browser (pin them on the Trust page)'
      : `${good.size} of ${witnesses.length} pinned witness(es) cosigned this checkpoint`)));
  if (cp.cosignatures.length === 0) box.append(el('p', { class: 'muted' }, 'no cosignatures on this checkpoint'));
  else {
    box.append(el('ul', {}, ...cp.cosignatures.map((c) => {
      const verdict = c.verified === undefined ? 'unpinned' : c.verified ? 'verified' : 'invalid';
      const text = `${c.name} (${c.keyId}) at ${new Date(c.time * 1000).toISOString()} — ${verdict === 'unpinned' ? 'witness key not pinned here' : verdict === 'verified' ? 'verified' : 'INVALID: the signature does not verify under the pinned key'}`;
      return el('li', { 'data-cosignature': c.name, 'data-status': verdict }, status(c.verified, text));
    })));
  }
  return box;
}

async function lookup(q: string, cp: VerifiedCheckpoint, res: HTMLElement): Promise<void> {
  res.replaceChildren(status(undefined, 'looking up…'));
  try {
    let index: number;
    if (/^(?:0|[1-9][0-9]{0,15})$/.test(q)) index = Number(q);
    else {
      const info = await getInfo();
      const r = info.releases.find((x) => x.digest === q);
      if (r === undefined) throw new Error('no current release has that manifest digest (only current releases are indexed by digest)');
      index = r.logIndex;
    }
    const p = parseProofAnswer(await getText(`/ui/api/log/proof?index=${index}&size=${cp.size}`));
    const entry = p.entry;
    const ok = await verifyInclusion(await leafHash(entry), index, cp.size, p.proof, cp.rootHash);
    res.replaceChildren(status(ok, `entry ${index} ${ok ? 'is included in' : 'is NOT proven in'} the checkpoint of size ${cp.size}`), el('pre', { 'data-entry': String(index) }, new TextDecoder().decode(entry)));
  } catch (e) {
    res.replaceChildren(status(false, String(e)));
  }
}

function chart(main: HTMLElement, seen: SeenCheckpoint[]): void {
  main.append(el('h3', {}, 'Tree size over time (checkpoints this browser verified)'));
  if (seen.length === 0) return;
  const W = 600;
  const H = 160;
  const t0 = seen[0]!.at;
  const t1 = Math.max(seen[seen.length - 1]!.at, t0 + 1);
  const max = Math.max(1, ...seen.map((s) => s.size));
  const pts = seen.map((s) => `${(20 + ((s.at - t0) / (t1 - t0)) * (W - 40)).toFixed(1)},${(H - 20 - (s.size / max) * (H - 40)).toFixed(1)}`).join(' ');
  main.append(svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `tree size from ${seen[0]!.size} to ${seen[seen.length - 1]!.size} over ${seen.length} verified checkpoints` },
    svg('polyline', { points: seen.length === 1 ? `${pts} ${W - 20},${pts.split(',')[1] ?? ''}` : pts }),
    svg('text', { x: '4', y: '14' }, `max ${max}`),
    svg('text', { x: '4', y: String(H - 4) }, new Date(t0).toISOString().slice(0, 16))));
}

async function auditPage(main: HTMLElement, pins: Pins): Promise<void> {
  main.append(el('h2', {}, 'Audit'));
  const anchorOut = el('div', { class: 'card' });
  main.append(anchorOut);
  let head: { seq: number; head: string } | undefined;
  try {
    const a = parseJson(await getText('/audit/anchor'), 'audit anchor') as { entry?: unknown; proof?: unknown };
    const m = typeof a.entry === 'string' ? /^custody\.audit\/v1\nseq (0|[1-9][0-9]{0,15})\nhead ([0-9a-f]{64})\n$/.exec(a.entry) : null;
    if (!m || typeof a.proof !== 'string') throw new Error('malformed anchor');
    const pf = parseProofFile(a.proof);
    const cp = await openCheckpoint(pf.checkpoint, await parseVerifierKey(pins.vkey));
    const ok = await verifyInclusion(await leafHash(utf8(m[0])), pf.index, cp.size, pf.proof, cp.rootHash);
    if (!ok) throw new Error('the anchor inclusion proof does not verify');
    head = { seq: Number(m[1]), head: m[2]! };
    anchorOut.append(status(true, `anchored head: record ${head.seq}, hash ${head.head.slice(0, 16)}… logged at index ${pf.index}`));
  } catch (e) {
    anchorOut.append(status(false, `audit anchor: ${String(e)}`));
  }
  const tokenInput = el('input', { id: 'token', type: 'password', autocomplete: 'off' });
  const form = el('form', {}, el('label', { for: 'token' }, 'Admin token (kept for this tab only)'), tokenInput, el('button', { type: 'submit' }, 'Show events'));
  const out = el('div', {});
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (tokenInput.value !== '') sessionStorage.setItem('custody.admin', tokenInput.value);
    tokenInput.value = '';
    void auditEvents(out, head);
  });
  main.append(el('h3', {}, 'Newest events (admin)'), form, out);
  if (adminToken() !== undefined) void auditEvents(out, head);
}

async function auditEvents(out: HTMLElement, head: { seq: number; head: string } | undefined): Promise<void> {
  out.replaceChildren(status(undefined, 'loading…'));
  try {
    const text = await getText('/admin/v1/audit/events?limit=500', { headers: { authorization: `Bearer ${adminToken() ?? ''}` } });
    const recs = parseAuditEvents(text);
    // Re-hash every record and check each links to the one before (docs/audit.md).
    const chainOk = (await verifyAuditChain(recs)).ok;
    const anchored = head !== undefined && recs.some(({ rec }) => rec.seq === head.seq && rec.hash === head.head);
    const filter = el('input', { id: 'filter', placeholder: 'event name contains…' });
    const tbody = el('tbody', {});
    const render = (): void => {
      tbody.replaceChildren(...recs.slice().reverse().filter(({ rec }) => String(rec.event).includes(filter.value)).slice(0, 200).map(({ rec }) => {
        const { seq, time, event, hash: _h, prev: _p, ...fields } = rec;
        return el('tr', {}, cell('Seq', String(seq)), cell('Time', String(time)), cell('Event', String(event)), cell('Fields', el('code', {}, JSON.stringify(fields))));
      }));
    };
    filter.addEventListener('input', render);
    render();
    out.replaceChildren(
      el('p', { 'data-audit-chain': String(chainOk) }, status(chainOk, chainOk ? `${recs.length} records re-hashed and chained in the browser` : 'the audit chain does NOT verify')),
      el('p', {}, status(head === undefined ? undefined : anchored, anchored ? 'the anchored head is one of these records' : 'the anchored head is not among these records (older, or missing)')),
      el('div', { class: 'row' }, el('label', { for: 'filter' }, 'Filter'), filter),
      el('div', { class: 'scroll' }, el('table', { class: 'stack' }, el('thead', {}, el('tr', {}, ...['Seq', 'Time', 'Event', 'Fields'].map((h) => el('th', { scope: 'col' }, h)))), tbody)),
    );
  } catch (e) {
    out.replaceChildren(status(false, String(e)));
  }
}

async function trustPage(main: HTMLElement, info: Info, pins: Pins): Promise<void> {
  main.append(el('h2', {}, 'Trust'));
  const rootText = await getText('/trust/root.json');
  const fp = 'sha256:' + hex(await sha256(utf8(rootText)));
  main.append(el('div', { class: 'card' },
    el('p', {}, status(fp === pins.fingerprint, `served root fingerprint ${fp} ${fp === pins.fingerprint ? 'matches' : 'does NOT match'} the pin`)),
    el('p', {}, 'Pinned log key: ', el('code', {}, pins.vkey), pins.vkey === info.log.vkey ? '' : ' (the server now announces another key!)')));
  const fpIn = el('input', { id: 'pin-fp', value: pins.fingerprint, size: '40' });
  const vkIn = el('input', { id: 'pin-vkey', value: pins.vkey, size: '40' });
  const wIn = el('textarea', { id: 'pin-witnesses', rows: '3', cols: '60', spellcheck: 'false', 'aria-describedby': 'pin-witnesses-help' });
  wIn.value = pins.witnesses.join('\n');
  const formOut = el('p', { role: 'status', 'data-pins-saved': '' });
  const form = el('form', {},
    el('label', { for: 'pin-fp' }, 'Root fingerprint'), fpIn,
    el('label', { for: 'pin-vkey' }, 'Log key'), vkIn,
    el('label', { for: 'pin-witnesses' }, 'Witness keys (one per line)'), wIn,
    el('p', { id: 'pin-witnesses-help', class: 'muted' }, 'cosignature/v1 verifier keys (name+id+key, type 0x04) as each witness\'s operator publishes them (`custody witness serve` prints it). The daemon never supplies these: take them from the witness.'),
    el('button', { type: 'submit' }, 'Save pins'), formOut);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void (async () => {
      const witnesses = wIn.value.split('\n').map((l) => l.trim()).filter((l) => l !== '');
      try {
        if (witnesses.length > 32) throw new Error('at most 32 witness keys');
        for (const w of witnesses) await parseWitnessKey(w).catch((e: unknown) => Promise.reject(new Error(`${w.slice(0, 60)}: ${e instanceof Error ? e.message : String(e)}`)));
        await parseVerifierKey(vkIn.value.trim());
      } catch (e) {
        formOut.replaceChildren(status(false, `not saved: ${e instanceof Error ? e.message : String(e)}`));
        return;
      }
      savePins({ fingerprint: fpIn.value.trim(), vkey: vkIn.value.trim(), witnesses: [...new Set(witnesses)] });
      location.reload();
    })();
  });
  main.append(form);
  // Versions: walk /trust/1.root.json … while they exist; each must verify under its own keys.
  const versions: Array<{ n: number; root?: Root; err?: string }> = [];
  for (let n = 1; n <= 64; n++) {
    let t: string;
    try {
      t = await getText(`/trust/${n}.root.json`);
    } catch {
      break;
    }
    try {
      versions.push({ n, root: await parseRoot(t, new Date(0)) });
    } catch (e) {
      versions.push({ n, err: String(e) });
    }
  }
  main.append(el('h3', {}, 'Rotation history'), versions.length === 0 ? el('p', { class: 'muted' }, 'only the current root is published') : el('ul', {}, ...versions.map((v) => el('li', {}, status(v.root !== undefined, `version ${v.n}: ${v.root ? `expires ${v.root.expires.toISOString()}, ${v.root.keys.size} keys` : v.err ?? ''}`)))));
  try {
    const root = await parseRoot(rootText, new Date());
    main.append(el('h3', {}, `Current root: version ${root.version}, expires ${root.expires.toISOString()}`));
    main.append(table(['Role', 'Threshold', 'Keys'], [...root.roles].map(([name, r]) => el('tr', {}, cell('Role', name), cell('Threshold', `${r.threshold} of ${r.keyids.length}`), cell('Keys', ...r.keyids.map((k) => el('div', {}, el('code', {}, k), root.revoked.has(k) ? ' (revoked)' : ''))))), 'Roles'));
  } catch (e) {
    main.append(status(false, `current root: ${String(e)}`));
  }
}

/** MetricsSample is what the Health page remembers of one /metrics answer (sessionStorage, this tab only). */
interface MetricsSample {
  at: number;
  requests: number;
  limited: number;
}
const METRICS_KEY = 'custody.metrics';
/** HEALTH_REFRESH_MS: the Health page re-reads /metrics this often while it is shown. */
const HEALTH_REFRESH_MS = 15_000;

/** perMinute is the rate of a counter between the oldest sample of the last 10 minutes and now ('—' without one). */
function perMinute(samples: readonly MetricsSample[], now: MetricsSample, pick: (s: MetricsSample) => number): string {
  const old = samples.find((s) => now.at - s.at <= 600_000 && now.at - s.at >= 1_000);
  if (old === undefined || pick(now) < pick(old)) return '— (needs a second reading)';
  return `${((pick(now) - pick(old)) / ((now.at - old.at) / 60_000)).toFixed(1)} per minute (over ${Math.round((now.at - old.at) / 1000)} s)`;
}

async function metricsTable(): Promise<HTMLElement> {
  // Prometheus text from /metrics: the daemon's own figures (not verified; informative).
  let m: Sample[];
  try {
    m = parsePrometheusText(await getText('/metrics'));
  } catch (e) {
    return el('p', {}, status(false, `/metrics: ${e instanceof Error ? e.message : String(e)}`));
  }
  const now: MetricsSample = { at: Date.now(), requests: sum(m, 'custody_http_requests_total'), limited: sum(m, 'custody_http_rate_limited_total') };
  let samples: MetricsSample[] = [];
  try {
    const v = JSON.parse(sessionStorage.getItem(METRICS_KEY) ?? '[]') as unknown;
    if (Array.isArray(v)) samples = v.filter((x): x is MetricsSample => typeof x === 'object' && x !== null && typeof (x as MetricsSample).at === 'number');
  } catch {
    samples = [];
  }
  const requestsRate = perMinute(samples, now, (s) => s.requests);
  const limitedRate = perMinute(samples, now, (s) => s.limited);
  sessionStorage.setItem(METRICS_KEY, JSON.stringify([...samples.filter((s) => now.at - s.at <= 600_000), now].slice(-80)));
  const ms = (seconds: number, count: number): string => (count === 0 ? '—' : `${((seconds / count) * 1000).toFixed(2)} ms`);
  const rows: Array<[string, string, string]> = [
    ['requests', 'requests answered, all processes', `${now.requests} · ${requestsRate}`],
    ['requests-read', '… by the read path (manifests, artifacts, blobs; the workers)', String(sum(m, 'custody_http_requests_total', { handler: 'read' }))],
    ['requests-app', '… by the daemon routes (admin, log, info, dashboard)', String(sum(m, 'custody_http_requests_total', { handler: 'app' }))],
    ['rate-limited', 'refused 429 by the rate limits', `${now.limited} · ${limitedRate}`],
    ['refused-429', 'all 429 answers (rate limits and per-route limits)', String(sum(m, 'custody_http_requests_total', { status: '429' }))],
    ['latency', 'mean latency of the daemon routes', ms(sum(m, 'custody_http_request_duration_seconds_sum'), sum(m, 'custody_http_request_duration_seconds_count'))],
    ['log-size', 'log size', String(sum(m, 'custody_log_size'))],
    ['appends', 'log appends since start', String(sum(m, 'custody_log_appends_since_start'))],
    ['commit', 'log group commits (fsync): count, mean time', `${sum(m, 'custody_log_commit_seconds_count')}, ${ms(sum(m, 'custody_log_commit_seconds_sum'), sum(m, 'custody_log_commit_seconds_count'))}`],
    ['processes', 'processes reporting', String(sum(m, 'custody_metrics_processes'))],
  ];
  return table(['Metric', 'Value'], rows.map(([id, k, v]) => el('tr', { 'data-metric': id }, cell('Metric', k), cell('Value', v))), `From /metrics (Prometheus), read ${new Date(now.at).toISOString().slice(11, 19)} UTC; refreshed every ${HEALTH_REFRESH_MS / 1000} s`);
}

async function healthPage(main: HTMLElement, gen: number): Promise<void> {
  main.append(el('h2', {}, 'Health'));
  const r = await fetch('/health', { cache: 'no-store' });
  const h = parseJson(await r.text(), '/health') as { status?: unknown; checks?: Record<string, JsonValue> };
  const st = String(h.status);
  main.append(el('p', { 'data-health': st }, status(st === 'healthy', `${st} (HTTP ${r.status})`)));
  main.append(table(['Check', 'Value'], Object.entries(h.checks ?? {}).map(([k, v]) => el('tr', {}, cell('Check', k), cell('Value', String(v)))), 'Readiness checks'));
  const box = el('div', { 'data-metrics': '' }, await metricsTable());
  main.append(box);
  const refresh = (): void => {
    if (gen !== routeGeneration) return;
    void metricsTable().then((t) => {
      if (gen !== routeGeneration) return;
      box.replaceChildren(t);
      setTimeout(refresh, HEALTH_REFRESH_MS);
    });
  };
  setTimeout(refresh, HEALTH_REFRESH_MS);
}

// ---- router ----
const PAGES = ['releases', 'log', 'audit', 'trust', 'health'] as const;
let routeGeneration = 0;
/** route renders the page named by the hash into a detached container and shows it unless a newer route started. */
async function route(): Promise<void> {
  const gen = ++routeGeneration;
  const shown = document.getElementById('main')!;
  const page = (PAGES as readonly string[]).includes(location.hash.slice(2)) ? location.hash.slice(2) : 'releases';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#/${page}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  shown.removeAttribute('data-ready');
  shown.setAttribute('data-page', page);
  document.title = `Custody — ${page}`;
  const main = el('div', {});
  try {
    const info = await getInfo();
    const pins = loadPins(info);
    if (page === 'releases') await releasesPage(main, info, pins);
    else if (page === 'log') await logPage(main, pins);
    else if (page === 'audit') await auditPage(main, pins);
    else if (page === 'trust') await trustPage(main, info, pins);
    else await healthPage(main, gen);
  } catch (e) {
    main.append(status(false, String(e)));
  }
  if (gen !== routeGeneration) return;
  shown.replaceChildren(main);
  shown.setAttribute('data-ready', 'true');
}
window.addEventListener('hashchange', () => {
  void route().then(() => document.getElementById('main')?.focus());
});
setInterval(() => {
  for (const s of document.querySelectorAll('[data-expires]')) s.textContent = countdown(s.getAttribute('data-expires') ?? '');
}, 30_000);
void route();
