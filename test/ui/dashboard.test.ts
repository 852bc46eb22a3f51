/**
 * test/ui/dashboard — the operator dashboard (docs/dashboard.md) in real headless Chromium (playwright-core driving
 * Debian's chromium) against a real `custody serve` child process (two workers) with releases, a log and an audit
 * trail made here, reached through a proxy this test controls: every page loads; in-browser verification passes for
 * a good release and fails, naming the check, on a tampered manifest, proof or checkpoint; the log page checks
 * consistency with the previous visit; the audit chain verifies; no request leaves the origin; a screenshot of each
 * page is written to a temp directory (its path is printed). Skipped loudly where chromium is missing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { PrivateKey } from '../../src/crypto/ed25519.ts';
import { sha256 } from '../../src/crypto/hash.ts';
import { cosignCheckpoint, formatCosignatureVerifierKey, newCosigner } from '../../src/note/cosignature.ts';
import { serveChild } from '../provider/harness.ts';
import { chromiumMissing, launchChromium } from '../support/chromium.ts';
import { tmpDir } from '../support/tmp.ts';

const missing = chromiumMissing();
if (missing !== undefined) process.stderr.write(`\n*** test/ui/dashboard: ${missing} ***\n\n`);

type Tamper = 'none' | 'manifest' | 'proof' | 'checkpoint' | 'cosign' | 'cosign-bad';

/** WITNESS is a witness the test plays: the proxy adds its cosignature/v1 line to the checkpoints it relays. */
const WITNESS_NAME = 'witness.example/dashboard';
const WITNESS_KEY = PrivateKey.fromSeed(sha256('dashboard test witness'));
const WITNESS_VKEY = formatCosignatureVerifierKey(WITNESS_NAME, WITNESS_KEY.publicKey);

/** cosign adds the witness's cosignature to a checkpoint note; `bad` flips one bit of its Ed25519 signature. */
function cosign(note: string, bad: boolean): string {
  const text = note.slice(0, note.indexOf('\n\n') + 1);
  let line = cosignCheckpoint(text, newCosigner(WITNESS_NAME, WITNESS_KEY), Math.floor(Date.now() / 1000));
  if (bad) {
    const raw = Buffer.from(line.slice(line.lastIndexOf(' ') + 1, -1), 'base64');
    raw[raw.length - 1]! ^= 1;
    line = `${line.slice(0, line.lastIndexOf(' '))} ${raw.toString('base64')}\n`;
  }
  return note + line;
}

/** startProxy forwards every request to `target`, rewriting the release documents as `mode()` says. */
async function startProxy(target: string, mode: () => Tamper): Promise<{ url: string; server: Server }> {
  const t = new URL(target);
  const server = createServer((req, res) => {
    // No revalidation: a 304 would let the browser reuse the untampered copy it cached before.
    const headers = { ...req.headers, host: t.host };
    delete headers['if-none-match'];
    delete headers['if-modified-since'];
    const up = request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers }, (ur: IncomingMessage) => {
      const m = mode();
      const path = req.url ?? '';
      const rewrite =
        (m === 'manifest' && path.endsWith('/manifest.json')) ||
        ((m === 'proof' || m === 'checkpoint') && path.endsWith('/manifest.json.tlog-proof')) ||
        ((m === 'cosign' || m === 'cosign-bad') && path === '/log/checkpoint');
      if (!rewrite) {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        let body = Buffer.concat(chunks).toString('utf8');
        if (m === 'manifest') body = body.replace(/"version": "([^"]*)"/, '"version": "$1-evil"');
        if (m === 'proof') body = body.replace(/\nindex (\d+)\n([A-Za-z0-9+/])/, (_s, i: string, c: string) => `\nindex ${i}\n${c === 'A' ? 'B' : 'A'}`);
        if (m === 'checkpoint') body = body.replace(/\n\n([^\n]+)\n(\d+)\n/, (_s, o: string, n: string) => `\n\n${o}\n${Number(n) + 1}\n`);
        if (m === 'cosign' || m === 'cosign-bad') body = cosign(body, m === 'cosign-bad');
        const headers = { ...ur.headers, 'content-length': String(Buffer.byteLength(body)) };
        delete headers.etag;
        res.writeHead(ur.statusCode ?? 502, headers);
        res.end(body);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function open(page: Page, url: string, hash: string): Promise<void> {
  // The same URL again is a same-document navigation (no hashchange, no new render): reload instead.
  const target = `${url}/ui/#/${hash}`;
  if (page.url() === target) await page.reload();
  else await page.goto(target);
  await page.waitForSelector(`main[data-page="${hash}"][data-ready="true"]`, { timeout: 60_000 });
}

async function verifyRelease(page: Page, id: string): Promise<{ verdict: string; failed: string | null }> {
  await page.click(`button[data-verify="${id}"]`);
  const v = await page.waitForSelector(`#v-${id} [data-verdict]`, { timeout: 60_000 });
  return { verdict: (await v.getAttribute('data-verdict')) ?? '', failed: await v.getAttribute('data-failed-check') };
}

describe('dashboard in Chromium', { skip: missing }, () => {
  test('every page loads and verifies; tampering is named; nothing leaves the origin', { timeout: 300_000 }, async (t) => {
    const dir = tmpDir(t);
    const data = join(dir, 'data');
    const incoming = join(data, 'incoming', 'stable', 'x86_64');
    mkdirSync(incoming, { recursive: true });
    for (const [name, body] of Object.entries({ vmlinuz: 'kernel', 'initramfs.img': 'initramfs', 'rootfs.img': 'rootfs', 'boot.cfg': 'cfg', 'notes.txt': 'notes' })) {
      writeFileSync(join(incoming, name), body.repeat(100));
    }
    const served = await serveChild(t, dir, ['--data', data, '--no-sample', '--rate-limit-per-ip', '0', '--workers', '2']);
    let tamper: Tamper = 'none';
    const proxy = await startProxy(served.info.url, () => tamper);
    t.after(() => proxy.server.close());
    const shots = mkdtempSync(join(tmpdir(), 'custody-dashboard-shots-'));
    process.stdout.write(`# dashboard screenshots: ${shots}\n`);

    const b = await launchChromium();
    t.after(() => b.close());
    const page = await b.browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });

    const first = await page.goto(`${proxy.url}/ui/`);
    const csp = first?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);

    // Releases: the good release verifies, every check passes.
    await open(page, proxy.url, 'releases');
    assert.deepEqual(await verifyRelease(page, 'stable-x86_64'), { verdict: 'verified', failed: null });
    const statuses: string[] = [];
    for (const li of await page.locator('#v-stable-x86_64 [data-check]').all()) {
      statuses.push(`${await li.getAttribute('data-check')}:${await li.getAttribute('data-status')}`);
    }
    assert.deepEqual(statuses, ['root:pass', 'signatures:pass', 'target:pass', 'expiry:pass', 'checkpoint:pass', 'inclusion:pass']);
    assert.equal(await page.locator('#v-stable-x86_64 table tbody tr').count(), 5, 'five signed artifacts listed');
    await page.screenshot({ path: join(shots, 'releases.png'), fullPage: true });

    // Tampered documents through the proxy: the failing check is named.
    for (const [mode, check] of [['manifest', 'signatures'], ['proof', 'inclusion'], ['checkpoint', 'checkpoint']] as const) {
      tamper = mode;
      await open(page, proxy.url, 'releases');
      assert.deepEqual(await verifyRelease(page, 'stable-x86_64'), { verdict: 'failed', failed: check }, `tampered ${mode}`);
      if (mode === 'manifest') await page.screenshot({ path: join(shots, 'releases-tampered.png'), fullPage: true });
    }
    tamper = 'none';

    // Log: first visit remembers the checkpoint; the log grows (a new release); the next visit proves consistency.
    await open(page, proxy.url, 'log');
    assert.match((await page.textContent('[data-consistency]')) ?? '', /first visit|append-only/, (await page.textContent('main')) ?? '');
    writeFileSync(join(incoming, 'notes.txt'), 'new notes');
    const token = readFileSync(served.info.token_file, 'utf8').trim();
    const rescan = await fetch(`${served.info.url}/admin/v1/rescan`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(rescan.status, 200);
    await open(page, proxy.url, 'log');
    assert.equal(await page.getAttribute('[data-consistency]', 'data-ok'), 'true');
    await page.fill('#lookup', '0');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-entry="0"]');
    assert.match((await page.textContent('main')) ?? '', /entry 0 is included/);
    await page.screenshot({ path: join(shots, 'log.png'), fullPage: true });

    // Audit: the anchor verifies; with the admin token (this tab only) the chain is re-hashed in the browser.
    await open(page, proxy.url, 'audit');
    assert.match((await page.textContent('main')) ?? '', /✓ anchored head/);
    await page.fill('#token', token);
    await page.click('form button[type="submit"]');
    await page.waitForSelector('[data-audit-chain]');
    assert.equal(await page.getAttribute('[data-audit-chain]', 'data-audit-chain'), 'true');
    assert.equal(await page.evaluate('localStorage.getItem("custody.admin")'), null, 'the token is never in localStorage');
    await page.screenshot({ path: join(shots, 'audit.png'), fullPage: true });

    await open(page, proxy.url, 'trust');
    assert.match((await page.textContent('main')) ?? '', /matches the pin/);
    // Witness keys: a malformed one is refused; the witness's own key is pinned by the operator (never by the daemon).
    await page.fill('#pin-witnesses', 'witness.example/x+00000000+AAAA');
    await page.click('text=Save pins');
    await page.waitForSelector('[data-pins-saved] .bad');
    await page.fill('#pin-witnesses', WITNESS_VKEY);
    await page.click('text=Save pins');
    await page.waitForFunction(`JSON.parse(localStorage.getItem('custody.pins') ?? '{}').witnesses?.[0] === ${JSON.stringify(WITNESS_VKEY)}`);
    await open(page, proxy.url, 'trust');
    assert.equal(await page.inputValue('#pin-witnesses'), WITNESS_VKEY);
    await page.screenshot({ path: join(shots, 'trust.png'), fullPage: true });

    // Witness cosignatures, verified in the browser under the pinned key (c2sp.org/tlog-cosignature, WebCrypto
    // Ed25519): the proxy plays the witness; a cosignature with one flipped bit is reported INVALID.
    await open(page, proxy.url, 'log');
    assert.equal(await page.getAttribute('[data-witnessed]', 'data-witnessed'), '0/1', 'no cosignature yet: 0 of 1 pinned witness');
    tamper = 'cosign';
    await open(page, proxy.url, 'log');
    assert.equal(await page.locator('[data-cosignature]').count(), 1, (await page.textContent('main')) ?? '');
    assert.equal(await page.getAttribute(`[data-cosignature="${WITNESS_NAME}"]`, 'data-status'), 'verified');
    assert.equal(await page.getAttribute('[data-witnessed]', 'data-witnessed'), '1/1');
    await page.screenshot({ path: join(shots, 'log-witnessed.png'), fullPage: true });
    tamper = 'cosign-bad';
    await open(page, proxy.url, 'log');
    assert.equal(await page.getAttribute(`[data-cosignature="${WITNESS_NAME}"]`, 'data-status'), 'invalid');
    assert.match((await page.textContent(`[data-cosignature="${WITNESS_NAME}"]`)) ?? '', /INVALID/);
    assert.equal(await page.getAttribute('[data-witnessed]', 'data-witnessed'), '0/1');
    tamper = 'none';

    await open(page, proxy.url, 'health');
    assert.equal(await page.getAttribute('[data-health]', 'data-health'), 'healthy');
    assert.match((await page.textContent('main')) ?? '', /log size\s*\d+/, 'figures from /metrics are shown');
    // The workers' read path (the release documents the browser fetched) is in the leader's /metrics.
    const readCount = Number((await page.textContent('[data-metric="requests-read"] td:last-child')) ?? 'NaN');
    assert.ok(readCount > 0, `read-path requests ${readCount}`);
    assert.match((await page.textContent('[data-metric="processes"]')) ?? '', /3$/, 'the leader and two workers report');
    await page.screenshot({ path: join(shots, 'health.png'), fullPage: true });

    // Phone width: the releases page still verifies, the table stacks.
    await page.setViewportSize({ width: 380, height: 800 });
    await open(page, proxy.url, 'releases');
    assert.equal((await verifyRelease(page, 'stable-x86_64')).verdict, 'verified');
    await page.screenshot({ path: join(shots, 'releases-phone.png'), fullPage: true });

    // Keyboard: from a fresh load, Tab reaches the skip link, then the pages; Enter opens one.
    await page.reload();
    await page.waitForSelector('main[data-ready="true"]');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Log');
    await page.keyboard.press('Enter');
    await page.waitForSelector('main[data-page="log"][data-ready="true"]');

    const foreign = requests.filter((u) => !u.startsWith(`${proxy.url}/`));
    assert.deepEqual(foreign, [], 'no request leaves the origin');
    assert.ok(requests.length > 20, `recorded ${requests.length} requests`);
    assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy/i.test(e)), [], 'no CSP violations');
  });
});
