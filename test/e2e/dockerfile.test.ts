// The image recipe, checked without a Docker daemon (none runs here): dockerfile-utils' linter, the
// stage structure, the exec-form ENTRYPOINT, a non-root default user, and every build-context COPY
// source present in the repository and not excluded by .dockerignore (Docker's own matching rules).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import dockerignoreModule from '@balena/dockerignore';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';

// A CommonJS module whose exports also carry `.default`: NodeNext types see only the latter.
const dockerignore = dockerignoreModule.default;

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions with continuation lines joined and comments dropped. */
function parse(src: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = src.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = lines[i]!.trim();
      line = `${line.slice(0, -1)} ${next.startsWith('#') ? '' : next}`;
    }
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 });
  }
  return out;
}

/** Instructions per stage, keyed by the stage name. */
function stages(ins: Instruction[]): Map<string, Instruction[]> {
  const out = new Map<string, Instruction[]>();
  let current: Instruction[] | undefined;
  for (const i of ins) {
    if (i.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args.replace(/^--\S+\s+/, ''))!;
      current = [i];
      out.set(m[2] ?? `#${out.size}`, current);
    } else current?.push(i);
  }
  return out;
}

const instructions = parse(text);
const byStage = stages(instructions);

describe('Dockerfile', () => {
  it('passes the dockerfile-utils linter', () => {
    expect(validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('builds on a Node LTS image in stages, the addon toolchain only in the build stages', () => {
    const arg = instructions.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='));
    const image = arg?.args.split('=')[1] ?? '';
    const major = Number(/^node:(\d+)/.exec(image)?.[1]);
    expect(major % 2, `${image} is not an LTS line (even major)`).toBe(0);
    expect(major).toBeGreaterThanOrEqual(22);
    expect([...byStage.keys()]).toEqual(['toolchain', 'build', 'deps', 'runtime']);
    const toolchain = byStage
      .get('toolchain')!
      .map((i) => i.args)
      .join('\n');
    expect(toolchain).toMatch(/apt-get install[^\n]*python3[^\n]*make[^\n]*g\+\+/);
    expect(
      byStage
        .get('deps')!
        .map((i) => i.args)
        .join('\n'),
    ).toMatch(/npm ci --omit=dev/);
    const runtime = byStage.get('runtime')!;
    expect(runtime[0]!.args).toMatch(/^\$\{NODE_IMAGE\} AS runtime$/);
    expect(runtime.some((i) => i.keyword === 'RUN' && /apt-get install|npm (ci|install)/.test(i.args))).toBe(
      false,
    );
  });

  it('copies only built output and production dependencies into the runtime stage', () => {
    const copies = byStage.get('runtime')!.filter((i) => i.keyword === 'COPY');
    for (const c of copies) expect(c.args, `line ${c.line}`).toMatch(/^--from=(build|deps) /);
    const sources = copies.map((c) => c.args.split(/\s+/)[1]);
    expect(sources).toContain('/src/node_modules');
    expect(copies.find((c) => c.args.includes('/src/node_modules'))!.args).toMatch(/^--from=deps /);
    // The bundle (agent/build-bundle.mjs) is what bin/vmprobe.js runs; the tsc output is not shipped.
    expect(sources).toContain('/src/agent/bundle');
    expect(sources).toContain('/src/agent/bin');
    expect(sources).not.toContain('/src/agent/dist');
  });

  it('runs as a numeric non-root user and starts node directly (exec form, no shell)', () => {
    const runtime = byStage.get('runtime')!;
    const user = runtime.filter((i) => i.keyword === 'USER').at(-1)?.args ?? '';
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
    const entrypoint = runtime.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)?.args;
    expect(JSON.parse(entrypoint ?? 'null')).toEqual(['node', 'agent/bin/vmprobe.js']);
    expect(existsSync(join(ROOT, 'agent/bin/vmprobe.js'))).toBe(true);
    expect(JSON.parse(runtime.filter((i) => i.keyword === 'CMD').at(-1)?.args ?? 'null')).toEqual(['agent']);
  });

  it('sends every file a COPY from the build context needs, and keeps the rest out', () => {
    const ig = dockerignore({ ignorecase: false }).add(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
    const contextCopies = instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='));
    expect(contextCopies.length).toBeGreaterThan(3);
    for (const c of contextCopies) {
      const parts = c.args.split(/\s+/);
      for (const src of parts.slice(0, -1)) {
        const path = src.replace(/\/$/, '');
        expect(existsSync(join(ROOT, path)), `line ${c.line}: ${src} missing`).toBe(true);
        expect(ig.ignores(path), `line ${c.line}: ${src} is excluded by .dockerignore`).toBe(false);
      }
    }
    for (const needed of [
      'agent/src/cli/main.ts',
      'shared/src/index.ts',
      'agent/tsconfig.json',
      'test/package.json',
    ]) {
      expect(ig.ignores(needed), needed).toBe(false);
    }
    for (const excluded of [
      'node_modules/x',
      'agent/dist/cli/main.js',
      'agent/bundle/vmprobe.js',
      'agent/test/metrics.test.ts',
      'test/e2e/x.ts',
      '.git/HEAD',
    ]) {
      expect(ig.ignores(excluded), excluded).toBe(true);
    }
  });
});
