/**
 * bench/sections/install — `custody install` of a release with one 256 MiB artifact (root fingerprint, manifest and
 * log proof verified, artifact hashed while it streams, fsync, rename into releases/<sequence>, journaled symlink
 * switch) next to what a careful shell script does with the same file from nginx in the same run:
 * `curl -o tmp && sha256sum tmp && mv tmp dest`. The target is ≤ 1.2× their wall time (issue 13).
 *
 * Both run as fresh processes (the built CLI, dist/, as users run it) against loopback servers on this machine;
 * each is run three times into a fresh directory and the median is kept. Where nginx or curl is missing, the anchor
 * is skipped LOUDLY (RESULTS.md says so) and only our time is shown.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveJson } from '../serve-json.ts';
import type { BenchContext, BenchSection } from '../types.ts';

const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIST_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = join(dir, cmd);
    if (spawnSync('test', ['-x', p]).status === 0) return p;
  }
  return undefined;
}

function startNginx(dir: string, root: string, port: number): { stop: () => void } {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  const tmp = join(dir, 'tmp');
  writeFileSync(
    conf,
    `${process.getuid?.() === 0 ? 'user root root;\n' : ''}worker_processes ${cpus().length};
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} error;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  default_type application/octet-stream;
  client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp}; uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};
  server { listen 127.0.0.1:${port}; root ${root}; }
}
`,
  );
  const proc = spawn(which('nginx')!, ['-c', conf, '-p', dir], { stdio: 'ignore' });
  return { stop: () => proc.kill('SIGQUIT') };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const timed = (fn: () => void): number => {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
};

const section: BenchSection = {
  title: 'custody install vs curl -o + sha256sum + mv',
  async run(ctx: BenchContext): Promise<string> {
    const mib = ctx.quick ? 32 : 256;
    const runs = ctx.quick ? 1 : 3;
    const data = join(ctx.scratch, 'install-provider');
    const inc = join(data, 'incoming', 'stable', 'x86_64');
    mkdirSync(inc, { recursive: true });
    const big = Buffer.alloc(mib * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i >> 12) & 0xff;
    writeFileSync(join(inc, 'rootfs.bin'), big);
    ctx.log('install: building dist/ and starting custody serve');
    execFileSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'ignore' });
    const served = await serveJson(['--import', 'tsx', CLI_MAIN], data);
    const { url, trust_fingerprint: fp, log_vkey: vkey } = served.banner;
    const anchorMissing = ['nginx', 'curl', 'sha256sum'].filter((c) => which(c) === undefined);
    let nginx: { stop: () => void } | undefined;
    const ours: number[] = [];
    const theirs: number[] = [];
    try {
      let ngx = '';
      if (anchorMissing.length === 0) {
        const webroot = join(ctx.scratch, 'install-nginx-root');
        mkdirSync(webroot, { recursive: true });
        writeFileSync(join(webroot, 'rootfs.bin'), big);
        const port = 20_000 + Math.floor(Math.random() * 20_000);
        nginx = startNginx(join(ctx.scratch, 'install-nginx'), webroot, port);
        ngx = `http://127.0.0.1:${port}/rootfs.bin`;
        for (let i = 0; i < 50; i++) {
          if ((await fetch(ngx, { method: 'HEAD' }).catch(() => undefined))?.ok) break;
          await new Promise((r) => setTimeout(r, 100));
        }
      } else {
        ctx.log(`install: ANCHOR SKIPPED — ${anchorMissing.join(', ')} not installed; only custody install is timed`);
      }
      for (let i = 0; i < runs; i++) {
        const target = join(ctx.scratch, `install-target-${i}`);
        ours.push(
          timed(() =>
            execFileSync(process.execPath, [DIST_MAIN, 'install', url, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', fp, '--require-log', vkey, '--target', target], {
              cwd: REPO,
              stdio: ['ignore', 'ignore', 'inherit'],
            }),
          ),
        );
        if (i === 0 && !readFileSync(join(target, 'current', 'rootfs.bin')).equals(big)) throw new Error('install wrote other bytes');
        rmSync(target, { recursive: true, force: true });
        if (ngx !== '') {
          const dest = join(ctx.scratch, `curl-dest-${i}`);
          mkdirSync(dest);
          theirs.push(timed(() => execFileSync('sh', ['-c', 'curl -sf -o "$1/.tmp" "$2" && sha256sum "$1/.tmp" > /dev/null && mv "$1/.tmp" "$1/rootfs.bin"', 'sh', dest, ngx])));
          rmSync(dest, { recursive: true, force: true });
        }
      }
    } finally {
      nginx?.stop();
      await served.stop();
    }
    const a = median(ours);
    const lines = [
      `${mib} MiB artifact, loopback, median of ${runs} run(s), fresh target each time; custody install = built CLI (Node start, root fingerprint, manifest + log proof verified, hash while streaming, fsync, rename, journaled switch).`,
      '',
      '| | custody install | curl -o + sha256sum + mv (from nginx) | ratio (wall, ours / theirs; target ≤ 1.2) |',
      '|---|---|---|---|',
    ];
    if (theirs.length === 0) {
      lines.push(`| ${mib} MiB | ${a.toFixed(2)} s | **SKIPPED: ${anchorMissing.join(', ')} not installed** | — |`);
      return lines.join('\n');
    }
    const b = median(theirs);
    ctx.record('install.ratio', a / b, `${a.toFixed(2)} s vs ${b.toFixed(2)} s, ${mib} MiB`);
    lines.push(`| ${mib} MiB | ${a.toFixed(2)} s = ${(mib / a).toFixed(0)} MiB/s | ${b.toFixed(2)} s = ${(mib / b).toFixed(0)} MiB/s | ${(a / b).toFixed(2)}× |`);
    return lines.join('\n');
  },
};

export default section;
