/**
 * Compiles policies/rego/*.rego to policies/rego/bundle/policy.wasm with the
 * project's pinned OPA CLI (scripts/install-opa.sh), and records the sha256 of
 * every source next to it (policy.wasm.json), so a test can tell a stale bundle
 * without needing OPA.
 *
 *   node scripts/build-rego.ts                 build the default bundle
 *   node scripts/build-rego.ts --src D --out O build a deployment's own bundle
 *   node scripts/build-rego.ts --check         exit 1 if the committed bundle is stale
 *
 * Built-ins: `opa build -t wasm` on its own does NOT refuse a built-in the wasm
 * target lacks; it compiles it as an "SDK-dependent" import that only fails when
 * evaluated. So the build (1) passes a capabilities file whose built-ins are the
 * ones @open-policy-agent/opa-wasm declares, making OPA reject anything else at
 * compile time, and (2) reads the compiled module's list of SDK-dependent
 * built-ins and refuses any the JavaScript SDK does not implement. Either way the
 * error names the built-in.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_SRC = path.join(ROOT, 'policies/rego');
export const DEFAULT_OUT = path.join(ROOT, 'policies/rego/bundle');
export const ENTRYPOINTS = ['aidops/authz/decision', 'aidops/authz/batch'] as const;

export class RegoBuildError extends Error {
  override name = 'RegoBuildError' as const;
  readonly builtins: readonly string[];
  constructor(message: string, builtins: readonly string[] = []) {
    super(message);
    this.builtins = builtins;
  }
}

export interface BundleManifest {
  opaVersion: string;
  entrypoints: string[];
  /** sha256 per source file name. */
  sources: Record<string, string>;
  /** sha256 over the sorted `name:sha256` lines: the freshness key. */
  sourcesDigest: string;
  wasmSha256: string;
  /** Built-ins the module calls back into JavaScript for (must all be in the SDK). */
  sdkBuiltins: string[];
}

const sha256 = (b: string | Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Source files that go into the bundle: *.rego, tests excluded. */
export function regoSources(srcDir: string): string[] {
  return readdirSync(srcDir)
    .filter((f) => f.endsWith('.rego') && !f.endsWith('_test.rego'))
    .sort();
}

export function sourcesDigest(srcDir: string): { sources: Record<string, string>; digest: string } {
  const sources: Record<string, string> = {};
  for (const f of regoSources(srcDir)) sources[f] = sha256(readFileSync(path.join(srcDir, f)));
  const digest = sha256(
    Object.entries(sources)
      .map(([f, h]) => `${f}:${h}\n`)
      .join(''),
  );
  return { sources, digest };
}

/** Is the bundle in `outDir` built from exactly the sources in `srcDir`? */
export function bundleIsCurrent(srcDir = DEFAULT_SRC, outDir = DEFAULT_OUT): { current: boolean; why?: string } {
  const mf = path.join(outDir, 'policy.wasm.json');
  const wasm = path.join(outDir, 'policy.wasm');
  if (!existsSync(mf) || !existsSync(wasm)) return { current: false, why: 'no built bundle' };
  const m = JSON.parse(readFileSync(mf, 'utf8')) as BundleManifest;
  if (sha256(readFileSync(wasm)) !== m.wasmSha256)
    return { current: false, why: 'policy.wasm does not match its manifest' };
  const now = sourcesDigest(srcDir);
  if (now.digest !== m.sourcesDigest) {
    const changed = [...new Set([...Object.keys(now.sources), ...Object.keys(m.sources)])].filter(
      (f) => now.sources[f] !== m.sources[f],
    );
    return { current: false, why: `sources changed since the build: ${changed.join(', ')}` };
  }
  return { current: true };
}

/** Built-ins the JavaScript SDK implements for the wasm module. */
/** The SDK package root (its `exports` hide capabilities.json and builtins/, so resolve the main file). */
function sdkDir(): string {
  const req = createRequire(import.meta.url);
  return path.resolve(path.dirname(req.resolve('@open-policy-agent/opa-wasm')), '..');
}

export function sdkImplementedBuiltins(): Set<string> {
  const req = createRequire(import.meta.url);
  return new Set(Object.keys(req(path.join(sdkDir(), 'src/builtins/index.js')) as Record<string, unknown>));
}

// The project's lib (ES2024, no DOM) types WebAssembly only as a namespace; this is the part used here.
interface WasmApi {
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Reads the list of SDK-dependent built-ins a compiled OPA module imports. */
export function sdkBuiltinsOf(wasm: Uint8Array): string[] {
  const memory = new WA.Memory({ initial: 5 });
  const stub = () => {
    throw new Error('builtin called during inspection');
  };
  const inst = new WA.Instance(new WA.Module(wasm), {
    env: {
      memory,
      opa_abort: stub,
      opa_println: stub,
      opa_builtin0: stub,
      opa_builtin1: stub,
      opa_builtin2: stub,
      opa_builtin3: stub,
      opa_builtin4: stub,
    },
  });
  const ex = inst.exports as Record<string, (...a: number[]) => number>;
  const addr = ex.opa_json_dump!(ex.builtins!());
  const bytes = new Uint8Array(memory.buffer);
  let end = addr;
  while (bytes[end] !== 0) end++;
  const map = JSON.parse(new TextDecoder().decode(bytes.subarray(addr, end))) as Record<string, number>;
  return Object.keys(map).sort();
}

export function opaPath(): string {
  const p = process.env.OPA ?? path.join(ROOT, '.tools/bin/opa');
  if (!existsSync(p))
    throw new RegoBuildError(`OPA CLI not found at ${p}; run scripts/install-opa.sh (or set OPA=...)`);
  return p;
}

/** Capabilities = this OPA's language features + only the built-ins the wasm SDK declares. */
function wasmCapabilities(opa: string, dir: string): string {
  const current = JSON.parse(execFileSync(opa, ['capabilities', '--current'], { encoding: 'utf8' })) as Record<
    string,
    unknown
  >;
  const sdkCaps = JSON.parse(readFileSync(path.join(sdkDir(), 'capabilities.json'), 'utf8')) as Record<string, unknown>;
  const file = path.join(dir, 'capabilities.json');
  writeFileSync(file, JSON.stringify({ ...current, builtins: sdkCaps.builtins }));
  return file;
}

export function buildRego(srcDir = DEFAULT_SRC, outDir = DEFAULT_OUT): BundleManifest {
  const opa = opaPath();
  const files = regoSources(srcDir);
  if (files.length === 0) throw new RegoBuildError(`no .rego files in ${srcDir}`);
  const tmp = mkdtempSync(path.join(tmpdir(), 'aidops-rego-'));
  try {
    const caps = wasmCapabilities(opa, tmp);
    const tarball = path.join(tmp, 'bundle.tar.gz');
    const args = ['build', '-t', 'wasm', '--capabilities', caps, '-o', tarball];
    for (const e of ENTRYPOINTS) args.push('-e', e);
    const r = spawnSync(opa, [...args, ...files.map((f) => path.join(srcDir, f))], { encoding: 'utf8' });
    if (r.status !== 0) {
      const out = `${r.stdout}${r.stderr}`;
      const missing = [...out.matchAll(/undefined function ([\w.]+)/g)].map((m) => m[1] ?? '');
      if (missing.length > 0) {
        throw new RegoBuildError(
          `refused: the policy uses built-in(s) the wasm target lacks: ${[...new Set(missing)].join(', ')}\n${out.trim()}`,
          [...new Set(missing)],
        );
      }
      throw new RegoBuildError(`opa build failed:\n${out.trim()}`);
    }
    execFileSync('tar', ['-xzf', tarball, '-C', tmp, '/policy.wasm'], { stdio: 'pipe' });
    const wasm = readFileSync(path.join(tmp, 'policy.wasm'));
    const sdk = sdkBuiltinsOf(wasm);
    const have = sdkImplementedBuiltins();
    const lacking = sdk.filter((b) => !have.has(b));
    if (lacking.length > 0) {
      throw new RegoBuildError(
        `refused: the policy uses built-in(s) the wasm target lacks: ${lacking.join(', ')} (neither compiled into wasm nor implemented by @open-policy-agent/opa-wasm)`,
        lacking,
      );
    }
    const version = /Version: (\S+)/.exec(execFileSync(opa, ['version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
    const { sources, digest } = sourcesDigest(srcDir);
    const manifest: BundleManifest = {
      opaVersion: version,
      entrypoints: [...ENTRYPOINTS],
      sources,
      sourcesDigest: digest,
      wasmSha256: sha256(wasm),
      sdkBuiltins: sdk,
    };
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'policy.wasm'), wasm);
    writeFileSync(path.join(outDir, 'policy.wasm.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function main(argv: string[]): number {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const src = path.resolve(get('--src') ?? DEFAULT_SRC);
  const out = path.resolve(get('--out') ?? (get('--src') ? path.join(src, 'bundle') : DEFAULT_OUT));
  if (argv.includes('--check')) {
    const c = bundleIsCurrent(src, out);
    process.stdout.write(c.current ? 'rego bundle is current\n' : `rego bundle is stale: ${c.why}\n`);
    return c.current ? 0 : 1;
  }
  try {
    const m = buildRego(src, out);
    process.stdout.write(
      `built ${path.relative(process.cwd(), path.join(out, 'policy.wasm'))} with opa ${m.opaVersion} ` +
        `(sources ${m.sourcesDigest.slice(0, 12)}, sdk built-ins: ${m.sdkBuiltins.join(', ') || 'none'})\n`,
    );
    return 0;
  } catch (e) {
    process.stderr.write(`build-rego: ${(e as Error).message}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
