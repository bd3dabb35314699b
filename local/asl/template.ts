/**
 * In-process synthesis and CloudFormation intrinsic resolution for the local
 * runtime: the state machines run exactly as `cdk synth` emits them, with their
 * Ref / Fn::GetAtt / Fn::Join / Fn::Sub / Fn::ImportValue / pseudo parameters
 * replaced by the ARNs and names of the resources made in the emulator.
 */
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '../../lib/config.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../emulator/moto.ts';
import { PROJECT_ROOT } from '../emulator/setup.ts';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DependsOn?: string | string[];
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
  Parameters?: Record<string, unknown>;
}
export interface SynthesizedStack {
  readonly stackName: string;
  readonly template: CfnTemplate;
}

/** The app's context from cdk.json, so local synthesis matches `cdk synth`. */
export function cdkJsonContext(): Record<string, unknown> {
  const j = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return j.context ?? {};
}

/** Everything synthesis reads besides the config: the app's code, its policies, cdk.json and the locked dependencies. */
const SYNTH_INPUT_DIRS = ['lib', 'workflows', 'lambdas', 'policies'];
const SYNTH_INPUT_FILES = ['cdk.json', 'package-lock.json', 'local/asl/template.ts'];
/** Where synthesized templates are kept between processes (gitignored); AIDOPS_SYNTH_CACHE=off disables it. */
const SYNTH_CACHE_DIR = join(PROJECT_ROOT, '.tmp', 'synth');
const SYNTH_CACHE_MAX_AGE_MS = 86_400_000;

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) filesUnder(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** A hash of the config and of every file synthesis reads: equal keys, equal templates. */
function synthKey(config: Partial<AppConfig>): string {
  const h = createHash('sha256').update(JSON.stringify(config));
  const files = [
    ...SYNTH_INPUT_FILES.map((f) => join(PROJECT_ROOT, f)),
    ...SYNTH_INPUT_DIRS.flatMap((d) => filesUnder(join(PROJECT_ROOT, d))),
  ];
  for (const f of files) h.update(f.slice(PROJECT_ROOT.length)).update('\0').update(readFileSync(f));
  return h.digest('hex').slice(0, 32);
}

/** In-process synthesis (esbuild bundling skipped: the local runtime imports the handlers' TypeScript directly). */
async function synthesizeNow(config: Partial<AppConfig>): Promise<SynthesizedStack[]> {
  // Imported here, so a cached synthesis never loads the CDK.
  const [{ App }, { buildStacks }, { parseConfig }] = await Promise.all([
    import('aws-cdk-lib'),
    import('../../lib/app.ts'),
    import('../../lib/config.ts'),
  ]);
  const outdir = mkdtempSync(join(tmpdir(), 'aidops-synth-'));
  try {
    const app = new App({ outdir, context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    buildStacks(app, parseConfig({ ...config }));
    const asm = app.synth();
    return asm.stacks.map((s) => ({ stackName: s.stackName, template: s.template as CfnTemplate }));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function readCached(file: string): SynthesizedStack[] | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SynthesizedStack[];
  } catch {
    return undefined;
  }
}

function writeCached(file: string, stacks: SynthesizedStack[]): void {
  try {
    mkdirSync(SYNTH_CACHE_DIR, { recursive: true });
    // Write then rename: a process reading the cache never sees half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(stacks));
    renameSync(tmp, file);
    for (const f of readdirSync(SYNTH_CACHE_DIR)) {
      const p = join(SYNTH_CACHE_DIR, f);
      if (Date.now() - statSync(p).mtimeMs > SYNTH_CACHE_MAX_AGE_MS) unlinkSync(p);
    }
  } catch {
    // A cache that cannot be written costs time, not correctness.
  }
}

const synthesized = new Map<string, Promise<SynthesizedStack[]>>();

/**
 * The app's stacks, in deploy order, synthesized once per config: in-process
 * (memoized per process), and kept in .tmp/synth/ under a hash of the config
 * and of every file synthesis reads, so the test files (one process each) and
 * the demo synthesize once between source changes. Each caller gets its own copy.
 */
export async function synthesize(config: Partial<AppConfig> = {}): Promise<SynthesizedStack[]> {
  const key = synthKey(config);
  let p = synthesized.get(key);
  if (!p) {
    const file = join(SYNTH_CACHE_DIR, `${key}.json`);
    const useDisk = process.env.AIDOPS_SYNTH_CACHE !== 'off';
    p = (async () => {
      const cached = useDisk ? readCached(file) : undefined;
      if (cached) return cached;
      const stacks = await synthesizeNow(config);
      // Kept only if no input changed while it ran (else it would be filed under the wrong key).
      if (useDisk && synthKey(config) === key) writeCached(file, stacks);
      return stacks;
    })();
    synthesized.set(key, p);
    p.catch(() => synthesized.delete(key));
  }
  return structuredClone(await p);
}

export interface Physical {
  readonly type: string;
  readonly ref: string;
  readonly attrs: Readonly<Record<string, string>>;
}

export class UnresolvableError extends Error {
  override name = 'UnresolvableError';
}

export interface ResolveContext {
  readonly resources: ReadonlyMap<string, Physical>;
  readonly exports: ReadonlyMap<string, string>;
  readonly stackName: string;
}

const PSEUDO: Record<string, (ctx: ResolveContext) => string> = {
  'AWS::Partition': () => 'aws',
  'AWS::Region': () => LOCAL_REGION,
  'AWS::AccountId': () => LOCAL_ACCOUNT,
  'AWS::URLSuffix': () => 'amazonaws.com',
  'AWS::StackName': (c) => c.stackName,
  'AWS::StackId': (c) => `arn:aws:cloudformation:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stack/${c.stackName}/local`,
  'AWS::NoValue': () => '',
};

/** Replaces intrinsics in `value` with local physical values. */
export function resolve(value: unknown, ctx: ResolveContext): unknown {
  if (Array.isArray(value)) return value.map((v) => resolve(v, ctx)).filter((v) => v !== NO_VALUE);
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 1) {
    const k = keys[0]!;
    const arg = obj[k];
    switch (k) {
      case 'Ref': {
        const name = String(arg);
        if (name === 'AWS::NoValue') return NO_VALUE;
        const pseudo = PSEUDO[name];
        if (pseudo) return pseudo(ctx);
        const r = ctx.resources.get(name);
        if (!r) throw new UnresolvableError(`Ref to ${name}: not provisioned locally`);
        return r.ref;
      }
      case 'Fn::GetAtt': {
        const [id, attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
        const r = ctx.resources.get(String(id));
        if (!r) throw new UnresolvableError(`Fn::GetAtt ${id}.${attr}: not provisioned locally`);
        const v = r.attrs[String(attr)];
        if (v === undefined)
          throw new UnresolvableError(`Fn::GetAtt ${id}.${attr}: attribute unknown locally (${r.type})`);
        return v;
      }
      case 'Fn::Join': {
        const [sep, parts] = arg as [string, unknown[]];
        const rp = resolve(parts, ctx) as unknown[];
        return rp.map((p) => String(p)).join(sep);
      }
      case 'Fn::Select': {
        const [i, list] = arg as [unknown, unknown];
        const l = resolve(list, ctx) as unknown[];
        return l[Number(resolve(i, ctx))];
      }
      case 'Fn::Split': {
        const [sep, s] = arg as [string, unknown];
        return String(resolve(s, ctx)).split(sep);
      }
      case 'Fn::ImportValue': {
        const name = String(resolve(arg, ctx));
        const v = ctx.exports.get(name);
        if (v === undefined) throw new UnresolvableError(`Fn::ImportValue ${name}: no such export`);
        return v;
      }
      case 'Fn::Sub': {
        const [tpl, vars] = Array.isArray(arg) ? (arg as [string, Record<string, unknown>]) : [String(arg), {}];
        return tpl.replace(/\$\{([^}!]+)\}/g, (_m, name: string) => {
          if (name in vars) return String(resolve(vars[name], ctx));
          if (name.includes('.')) {
            const [id, attr] = name.split('.');
            return String(resolve({ 'Fn::GetAtt': [id, attr] }, ctx));
          }
          return String(resolve({ Ref: name }, ctx));
        });
      }
      case 'Fn::If':
      case 'Condition':
        throw new UnresolvableError(`${k} is not supported by the local runtime`);
      case 'Fn::GetAZs':
        return [`${LOCAL_REGION}a`, `${LOCAL_REGION}b`, `${LOCAL_REGION}c`];
      case 'Fn::Base64':
        return Buffer.from(String(resolve(arg, ctx))).toString('base64');
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const r = resolve(v, ctx);
    if (r !== NO_VALUE) out[k] = r;
  }
  return out;
}
const NO_VALUE = Symbol('AWS::NoValue');

/** Logical ids a value refers to (for ordering resource creation). */
export function dependencies(value: unknown, acc: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) dependencies(v, acc);
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.Ref === 'string' && !o.Ref.startsWith('AWS::')) acc.add(o.Ref);
    if (o['Fn::GetAtt']) {
      const g = o['Fn::GetAtt'];
      acc.add(String(Array.isArray(g) ? g[0] : String(g).split('.')[0]));
    }
    if (typeof o['Fn::Sub'] === 'string' || Array.isArray(o['Fn::Sub'])) {
      const tpl = Array.isArray(o['Fn::Sub']) ? String(o['Fn::Sub'][0]) : String(o['Fn::Sub']);
      for (const m of tpl.matchAll(/\$\{([^}.!]+)/g)) if (!m[1]!.startsWith('AWS::')) acc.add(m[1]!);
    }
    for (const v of Object.values(o)) dependencies(v, acc);
  }
  return acc;
}

/** Resource ids in an order where each comes after what it refers to. */
export function creationOrder(t: CfnTemplate): string[] {
  const ids = Object.keys(t.Resources);
  const deps = new Map<string, Set<string>>();
  for (const id of ids) {
    const r = t.Resources[id]!;
    const d = dependencies(r.Properties ?? {});
    for (const x of [r.DependsOn ?? []].flat()) d.add(x);
    deps.set(id, new Set([...d].filter((x) => x in t.Resources && x !== id)));
  }
  const out: string[] = [];
  const state = new Map<string, 0 | 1 | 2>();
  const visit = (id: string): void => {
    const s = state.get(id);
    if (s === 2) return;
    if (s === 1) return; // a cycle (e.g. a policy referring back); break it
    state.set(id, 1);
    for (const d of deps.get(id) ?? []) visit(d);
    state.set(id, 2);
    out.push(id);
  };
  for (const id of ids) visit(id);
  return out;
}
