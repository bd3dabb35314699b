/**
 * Local EventBridge → in-process target delivery. moto stores our rules but
 * cannot invoke in-process Lambda or Step Functions targets, so this matches an
 * event against the synthesized rules (`rt.provisioned.routes`) with the subset
 * of EventBridge pattern matching the app uses (exact values, prefix, suffix,
 * anything-but, exists, numeric, equals-ignore-case, arrays of objects), applies
 * the target's Input/InputPath/InputTransformer, and invokes the target: a Lambda
 * function (its real handler) or a state machine (the local executor).
 */
import { randomUUID } from 'node:crypto';
import type { LocalRoute } from './asl/provisioners/types.ts';
import type { Json } from './asl/sfn-local.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './emulator/moto.ts';
import type { LocalRuntime } from './runtime.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** True when `event` matches the EventBridge `pattern`. */
export function matchesPattern(pattern: unknown, event: unknown): boolean {
  return isObj(pattern) && matchObject(pattern, event);
}

function matchObject(pattern: Obj, value: unknown): boolean {
  for (const [k, p] of Object.entries(pattern)) {
    const v = isObj(value) ? value[k] : undefined;
    if (Array.isArray(p)) {
      if (!matchLeaf(p, v)) return false;
    } else if (isObj(p)) {
      // An array of objects matches when any element matches (EventBridge flattens arrays).
      const candidates = Array.isArray(v) ? v : v === undefined ? [undefined] : [v];
      if (!candidates.some((c) => matchObject(p, c))) return false;
    } else return false;
  }
  return true;
}

function matchLeaf(rules: unknown[], v: unknown): boolean {
  const missing = v === undefined;
  const values = missing ? [] : Array.isArray(v) ? v : [v];
  return rules.some((r) => matchRule(r, values, missing));
}

function matchRule(r: unknown, values: unknown[], missing: boolean): boolean {
  if (!isObj(r)) return values.some((x) => x === r);
  if ('exists' in r) return r.exists === true ? !missing : missing;
  if (missing) return false;
  const strs = values.filter((x): x is string => typeof x === 'string');
  if ('prefix' in r) {
    const p = r.prefix;
    if (typeof p === 'string') return strs.some((s) => s.startsWith(p));
    if (isObj(p) && typeof p['equals-ignore-case'] === 'string') {
      const q = (p['equals-ignore-case'] as string).toLowerCase();
      return strs.some((s) => s.toLowerCase().startsWith(q));
    }
    return false;
  }
  if ('suffix' in r) return typeof r.suffix === 'string' && strs.some((s) => s.endsWith(r.suffix as string));
  if ('equals-ignore-case' in r) {
    const q = String(r['equals-ignore-case']).toLowerCase();
    return strs.some((s) => s.toLowerCase() === q);
  }
  if ('anything-but' in r) {
    const ab = r['anything-but'];
    if (Array.isArray(ab)) return values.every((x) => !ab.includes(x));
    if (isObj(ab) && typeof ab.prefix === 'string')
      return strs.length === values.length && strs.every((s) => !s.startsWith(ab.prefix as string));
    return values.every((x) => x !== ab);
  }
  if ('numeric' in r && Array.isArray(r.numeric)) {
    const ops = r.numeric as unknown[];
    return values.some((x) => {
      if (typeof x !== 'number') return false;
      for (let i = 0; i + 1 < ops.length; i += 2) {
        const op = ops[i];
        const n = Number(ops[i + 1]);
        const ok =
          op === '>'
            ? x > n
            : op === '>='
              ? x >= n
              : op === '<'
                ? x < n
                : op === '<='
                  ? x <= n
                  : op === '='
                    ? x === n
                    : false;
        if (!ok) return false;
      }
      return true;
    });
  }
  if ('wildcard' in r && typeof r.wildcard === 'string') {
    const re = new RegExp(
      `^${(r.wildcard as string)
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    return strs.some((s) => re.test(s));
  }
  return false;
}

/** `$.a.b[0]` against an object. */
function getPath(obj: unknown, path: string): unknown {
  if (path === '$') return obj;
  let cur: unknown = obj;
  for (const part of path
    .replace(/^\$\.?/, '')
    .split('.')
    .filter(Boolean)) {
    const m = /^([^[]+)((\[\d+\])*)$/.exec(part);
    if (!m) return undefined;
    cur = isObj(cur) ? cur[m[1]!] : undefined;
    for (const idx of m[2]!.match(/\d+/g) ?? []) cur = Array.isArray(cur) ? cur[Number(idx)] : undefined;
  }
  return cur;
}

/** What the target receives: Input, InputPath or InputTransformer applied to the event. */
export function targetInput(route: LocalRoute, event: Obj): Json {
  if (route.input !== undefined) return JSON.parse(route.input) as Json;
  if (route.inputPath) return (getPath(event, route.inputPath) ?? null) as Json;
  const tr = route.inputTransformer as { InputPathsMap?: Record<string, string>; InputTemplate?: string } | undefined;
  if (tr?.InputTemplate) {
    const vars = Object.fromEntries(Object.entries(tr.InputPathsMap ?? {}).map(([k, p]) => [k, getPath(event, p)]));
    // Inside quotes a placeholder is the raw string; elsewhere it is the JSON value.
    const text = tr.InputTemplate.replace(/"<([A-Za-z0-9_.-]+)>"/g, (_, k: string) =>
      JSON.stringify(vars[k] === undefined ? '' : typeof vars[k] === 'string' ? vars[k] : JSON.stringify(vars[k])),
    ).replace(/<([A-Za-z0-9_.-]+)>/g, (_, k: string) =>
      k === 'aws.events.event' ? JSON.stringify(event) : JSON.stringify(vars[k] ?? null),
    );
    try {
      return JSON.parse(text) as Json;
    } catch {
      return text;
    }
  }
  return event as Json;
}

export interface LocalEvent {
  readonly source: string;
  readonly 'detail-type': string;
  readonly detail: Obj;
  readonly id?: string;
  readonly time?: string;
  readonly resources?: string[];
}

export interface Delivery {
  readonly rule: string;
  readonly target: string;
  readonly eventId: string;
  readonly result?: Json;
  readonly error?: string;
}

/** The full envelope EventBridge would deliver. */
export function envelope(e: LocalEvent): Obj {
  return {
    version: '0',
    id: e.id ?? randomUUID(),
    'detail-type': e['detail-type'],
    source: e.source,
    account: LOCAL_ACCOUNT,
    time: e.time ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: LOCAL_REGION,
    resources: e.resources ?? [],
    detail: e.detail,
  };
}

/**
 * Delivers one event on `busName` to every matching rule's in-process target and
 * waits for the targets (a Lambda's result; a state machine's start). Delivering
 * the same envelope twice is what EventBridge's at-least-once delivery does.
 */
export async function deliverEvent(
  rt: LocalRuntime,
  event: LocalEvent | Obj,
  busName = 'default',
): Promise<Delivery[]> {
  const full = 'version' in event ? (event as Obj) : envelope(event as LocalEvent);
  const out: Delivery[] = [];
  for (const route of rt.provisioned.routes) {
    if (route.busName !== busName || !matchesPattern(route.pattern, full)) continue;
    const input = targetInput(route, full);
    const base = { rule: route.ruleLogicalId, target: route.targetArn, eventId: String(full.id) };
    try {
      if (route.targetArn.includes(':states:')) {
        const ex = rt.sfn.start(route.targetArn, input);
        out.push({ ...base, result: { executionArn: ex.executionArn } });
      } else out.push({ ...base, result: await rt.invoke(route.targetArn, input) });
    } catch (e) {
      out.push({ ...base, error: `${(e as Error).name}: ${(e as Error).message}` });
    }
  }
  return out;
}
