/**
 * cli/commands/demo — `custody demo`: an end-to-end walk through the core in a temporary directory, printing each
 * command and its output.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommandArgs, type Command } from '../context.ts';

export const demo: Command = {
  summary: 'run the end-to-end demo in a temporary directory (keys, a 2-of-3 root, a signed manifest, refusals)',
  usage: `usage: custody demo [--keep] [--json]

Makes three keys, a 2-of-3 trust root, a manifest for sample artifacts, signs it with two keys and verifies it;
then shows a tampered artifact and a one-signature manifest being refused with their error codes.
--keep leaves the temporary directory in place. --json prints {"ok","dir","kept","steps"} at the end (each step's
title, command line, exit code and output).

example:
  custody demo --keep`,
  async run(ctx) {
    const keep = parseCommandArgs(ctx.argv, { keep: { type: 'boolean' } }, false).values.keep === true;
    const steps: Array<{ title: string; argv: string[]; exit: number; output: string }> = [];
    const dir = mkdtempSync(join(tmpdir(), 'custody-demo-'));
    // Imported lazily: the command table imports this module.
    const { runCli } = await import('../run.ts');
    const step = async (title: string, argv: string[], expect: number): Promise<void> => {
      ctx.print('');
      ctx.print(`# ${title}`);
      ctx.print(`$ custody ${argv.join(' ')}`);
      let err = '';
      let out = '';
      const code = await runCli(argv, {
        ...ctx,
        cwd: dir,
        stdout: (s) => {
          out += s;
          ctx.print(s.trimEnd());
        },
        stderr: (s) => (err += s),
      });
      if (err) ctx.print(err.trimEnd());
      steps.push({ title, argv, exit: code, output: (out + err).trimEnd() });
      ctx.print(`(exit ${code}${code === expect ? '' : `, expected ${expect}`})`);
      if (code !== expect) throw new Error(`demo step "${title}" exited ${code}, expected ${expect}`);
    };
    try {
      ctx.print(`custody demo — working in ${dir}`);
      mkdirSync(join(dir, 'art'));
      writeFileSync(join(dir, 'art', 'vmlinuz'), Buffer.alloc(64 * 1024, 'k'));
      writeFileSync(join(dir, 'art', 'initramfs.img'), Buffer.alloc(32 * 1024, 'i'));
      for (const k of ['a', 'b', 'c']) await step(`key ${k}`, ['keygen', '--output', `k/${k}.pem`], 0);
      await step('a 2-of-3 trust root, signed by a and b', [
        'trust', 'init', '--threshold', '2', '--key', 'k/a.pub', '--key', 'k/b.pub', '--key', 'k/c.pub',
        '--expires', '365d', '--sign', 'k/a.pem', '--sign', 'k/b.pem', '--output', 'root.json',
      ], 0);
      await step('a manifest for the artifacts', ['manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--expires', '30d', '--output', 'm0.json'], 0);
      await step('admin (a) signs', ['sign-manifest', '--manifest', 'm0.json', '--key', 'k/a.pem', '--output', 'm1.json'], 0);
      await step('security (b) signs', ['sign-manifest', '--manifest', 'm1.json', '--key', 'k/b.pem', '--output', 'm2.json'], 0);
      await step('2 of 3 signatures: verified', ['verify-manifest', 'm2.json', '--trust', 'root.json'], 0);
      await step('the artifacts match the signed manifest', ['verify', 'm2.json', 'art/vmlinuz', 'art/initramfs.img', '--trust', 'root.json'], 0);
      await step('one signature is not enough: refused', ['verify-manifest', 'm1.json', '--trust', 'root.json'], 1);
      appendFileSync(join(dir, 'art', 'vmlinuz'), 'x');
      await step('a tampered kernel (one byte appended): refused', ['verify', 'm2.json', 'art/vmlinuz', '--trust', 'root.json'], 1);
      ctx.print('');
      ctx.print('demo complete: verified what was signed, refused what was not.');
      ctx.result({ ok: true, dir, kept: keep, steps });
      return 0;
    } finally {
      if (keep) ctx.print(`kept ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    }
  },
};
