/**
 * ui/main — the operator dashboard (docs/dashboard.md): five pages over the daemon's own routes, each verifying in
 * the browser what matters (signatures, expiry, Merkle proofs, the audit chain) with ui/verify, ui/note and
 * ui/merkle. Trust comes from pins kept in localStorage (the root fingerprint and the log key, pinned on the first
 * visit or set by the operator on the Trust page); the admin token lives in sessionStorage only and is sent only to
 * this origin. No inline script or style (the page runs under a strict CSP); DOM built with createElement.
 */
import { fromBase64, hex, sha256, toBase64, utf8 } from './bytes.ts';
import { canonicalJcs, type JsonValue } from './canonical.ts';
import { leafHash, verifyConsistency, verifyInclusion } from './merkle.ts';
import { openCheckpoint, parseVerifierKey, type VerifiedCheckpoint } from './note.ts';
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

interface Info {
  trust: { fingerprint: string; root_url: string };
  log: { url: string; vkey: string; tree_size: number };
  releases: Array<{ channel: string; arch: string; version: string; sequence: number; digest: string; expires_at: string; log_index: number; manifest_url: string }>;
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
async function getJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  return JSON.parse(await getText(path, init)) as T;
}

// ---- pins (localStorage: public values only) and the admin token (sessionStorage) ----
interface Pins {
  fingerprint: string;
  vkey: string;
  firstUse: boolean;
}
const PIN_KEY = 'custody.pins';
function loadPins(info: Info): Pins {
  const raw = localStorage.getItem(PIN_KEY);
  if (raw !== null) {
    try {
      const p = JSON.parse(raw) as { fingerprint: string; vkey: string };
      if (typeof p.fingerprint === 'string' && typeof p.vkey === 'string') return { ...p, firstUse: false };
    } catch {
      // replaced below
    }
  }
  localStorage.setItem(PIN_KEY, JSON.stringify({ fingerprint: info.trust.fingerprint, vkey: info.log.vkey }));
  return { fingerprint: info.trust.fingerprint, vkey: info.log.vkey, firstUse: true };
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

async function latestCheckpoint(pins: Pins): Promise<VerifiedCheckpoint> {
  return openCheckpoint(await getText('/log/checkpoint'), await parseVerifierKey(pins.vkey));
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
      cell('Expires', el('span', { 'data-expires': r.expires_at, title: r.expires_at }, countdown(r.expires_at))),
      cell('Log index', String(r.log_index)),
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
    const [rootText, manifestText, proofText] = await Promise.all([getText('/trust/root.json'), getText(r.manifest_url), getText(`${r.manifest_url}.tlog-proof`)]);
    const v = await verifyRelease({ channel: r.channel, arch: r.arch, rootText, manifestText, proofText, pinnedFingerprint: pins.fingerprint, logKey: await parseVerifierKey(pins.vkey), now: new Date() }, (c) => {
      const li = items.get(c.name)!;
      li.setAttribute('data-status', c.ok ? 'pass' : 'fail');
      li.replaceChildren(status(c.ok, `${CHECK_LABELS[c.name]} — ${c.detail}`));
    });
    if (v.ok) {
      verdict.replaceChildren(el('span', { class: 'ok', 'data-verdict': 'verified' }, `✓ release verified: ${r.channel}/${r.arch}`));
      if (v.checkpoint) remember(v.checkpoint);
      const doc = JSON.parse(manifestText) as { artifacts: Record<string, { filename: string; size_bytes: number; hash: string }> };
      out.append(el('h3', {}, 'Signed by'), el('ul', {}, ...(v.signers ?? []).map((k) => el('li', {}, el('code', {}, k), ' ', el('span', { class: 'muted' }, keyName(root, k))))));
      out.append(table(['Name', 'File', 'Size', 'SHA-256'], Object.entries(doc.artifacts).map(([n, a]) => el('tr', {}, cell('Name', n), cell('File', a.filename), cell('Size', `${a.size_bytes} B`), cell('SHA-256', el('code', {}, a.hash)))), 'Artifacts (signed)'));
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
  const cp = await latestCheckpoint(pins);
  const prev = before[before.length - 1];
  main.append(el('div', { class: 'card' }, el('h3', {}, 'Latest checkpoint'), status(true, `signed by the pinned log key ${pins.vkey.split('+')[0] ?? ''}`), el('pre', { 'data-checkpoint': '' }, cp.note)));
  main.append(el('h3', {}, 'Witness cosignatures'), cp.cosignatures.length === 0 ? el('p', { class: 'muted' }, 'none on this checkpoint') : el('ul', {}, ...cp.cosignatures.map((c) => el('li', {}, `${c.name} (${c.keyId}) at ${new Date(c.time * 1000).toISOString()} — ${c.verified === undefined ? 'witness key not pinned here' : c.verified ? 'verified' : 'INVALID'}`))));
  const cons = el('p', { 'data-consistency': '' });
  main.append(el('h3', {}, 'Consistency with your last visit'), cons);
  if (prev === undefined) cons.append(status(undefined, 'first visit: this checkpoint is remembered for the next one'));
  else if (prev.size > cp.size) cons.append(status(false, `the log shrank: ${prev.size} → ${cp.size}`));
  else if (prev.size === 0) cons.append(status(true, `size 0 → ${cp.size}: every tree extends the empty one`));
  else {
    const p = await getJson<{ proof: string[] }>(`/ui/api/log/consistency?from=${prev.size}&to=${cp.size}`);
    const ok = await verifyConsistency(prev.size, cp.size, p.proof.map((h) => fromBase64(h, 32)), fromBase64(prev.root, 32), cp.rootHash);
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

async function lookup(q: string, cp: VerifiedCheckpoint, res: HTMLElement): Promise<void> {
  res.replaceChildren(status(undefined, 'looking up…'));
  try {
    let index: number;
    if (/^(?:0|[1-9][0-9]{0,15})$/.test(q)) index = Number(q);
    else {
      const info = await getJson<Info>('/');
      const r = info.releases.find((x) => x.digest === q);
      if (r === undefined) throw new Error('no current release has that manifest digest (only current releases are indexed by digest)');
      index = r.log_index;
    }
    const p = await getJson<{ entry: string; proof: string[] }>(`/ui/api/log/proof?index=${index}&size=${cp.size}`);
    const entry = fromBase64(p.entry);
    const ok = await verifyInclusion(await leafHash(entry), index, cp.size, p.proof.map((h) => fromBase64(h, 32)), cp.rootHash);
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
    const a = await getJson<{ entry: string; proof: string }>('/audit/anchor');
    const m = /^custody\.audit\/v1\nseq (0|[1-9][0-9]*)\nhead ([0-9a-f]{64})\n$/.exec(a.entry);
    if (!m) throw new Error('malformed anchor entry');
    const { parseProofFile } = await import('./note.ts');
    const pf = parseProofFile(a.proof);
    const cp = await openCheckpoint(pf.checkpoint, await parseVerifierKey(pins.vkey));
    const ok = await verifyInclusion(await leafHash(utf8(a.entry)), pf.index, cp.size, pf.proof, cp.rootHash);
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
    const recs = text.split('\n').filter((l) => l !== '').map((l) => ({ line: l, rec: JSON.parse(l) as Record<string, JsonValue> }));
    // Re-hash every record and check each links to the one before (docs/audit.md).
    let chainOk = true;
    let prevHash: string | undefined;
    for (const { line, rec } of recs) {
      const body = { ...rec };
      delete body.hash;
      const h = hex(await sha256(utf8('custody-audit:v1:' + canonicalJcs(body))));
      if (h !== rec.hash || canonicalJcs(rec) !== line || (prevHash !== undefined && rec.prev !== prevHash)) chainOk = false;
      prevHash = String(rec.hash);
    }
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
  const form = el('form', {}, el('label', { for: 'pin-fp' }, 'Root fingerprint'), fpIn, el('label', { for: 'pin-vkey' }, 'Log key'), vkIn, el('button', { type: 'submit' }, 'Save pins'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    localStorage.setItem(PIN_KEY, JSON.stringify({ fingerprint: fpIn.value.trim(), vkey: vkIn.value.trim() }));
    location.reload();
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

async function healthPage(main: HTMLElement): Promise<void> {
  main.append(el('h2', {}, 'Health'));
  const r = await fetch('/health', { cache: 'no-store' });
  const h = (await r.json()) as { status: string; checks: Record<string, JsonValue> };
  main.append(el('p', { 'data-health': h.status }, status(h.status === 'healthy', `${h.status} (HTTP ${r.status})`)));
  main.append(table(['Check', 'Value'], Object.entries(h.checks).map(([k, v]) => el('tr', {}, cell('Check', k), cell('Value', String(v)))), 'Readiness checks'));
  // Prometheus text from /metrics: the daemon's own figures (not verified; informative).
  const text = await getText('/metrics').catch(() => '');
  const sum = (name: string): number => text.split('\n').filter((l) => l.startsWith(name)).reduce((a, l) => a + (Number(l.split(' ').pop()) || 0), 0);
  const rows: Array<[string, string]> = [
    ['requests answered (admin, log, info, dashboard routes)', String(sum('custody_http_requests_total{'))],
    ['of which refused 429 (rate limited)', String(sum('custody_http_requests_total{method="GET",status="429"}') + sum('custody_http_requests_total{method="POST",status="429"}'))],
    ['mean latency', `${((sum('custody_http_request_duration_seconds_sum') / Math.max(1, sum('custody_http_request_duration_seconds_count'))) * 1000).toFixed(1)} ms`],
    ['log size', String(sum('custody_log_size '))],
    ['log appends since start', String(sum('custody_log_appends_since_start '))],
  ];
  main.append(table(['Metric', 'Value'], rows.map(([k, v]) => el('tr', {}, cell('Metric', k), cell('Value', v))), 'From /metrics (Prometheus)'));
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
    const info = await getJson<Info>('/');
    const pins = loadPins(info);
    if (page === 'releases') await releasesPage(main, info, pins);
    else if (page === 'log') await logPage(main, pins);
    else if (page === 'audit') await auditPage(main, pins);
    else if (page === 'trust') await trustPage(main, info, pins);
    else await healthPage(main);
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
