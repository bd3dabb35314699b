/**
 * Local stand-in for CloudWatch Logs subscription filters (moto stores log
 * events but delivers them to no subscriber): `deliverLogEvents` takes log
 * lines for a log group of the templates, keeps those each of the group's
 * `AWS::Logs::SubscriptionFilter`s matches, and invokes the filter's Lambda
 * destination with the payload CloudWatch Logs sends (`{ awslogs: { data } }`:
 * base64 of gzip of the JSON with `logEvents`). Filter patterns: the
 * space-delimited form (`[a, b, c="X", …]`, string equality only) and the empty
 * pattern; anything else is refused, never guessed at.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Json } from '../asl/sfn-local.ts';
import type { SynthesizedStack } from '../asl/template.ts';
import { LOCAL_ACCOUNT } from '../emulator/moto.ts';

export interface SubscriptionTarget {
  readonly filterLogicalId: string;
  readonly logGroupLogicalId: string;
  /** The destination function's logical id (the local function name). */
  readonly functionLogicalId: string;
  readonly pattern: string;
}

type Res = { Type: string; Properties?: Record<string, unknown> };
const refOf = (v: unknown): string | undefined => {
  const o = v as { Ref?: unknown; 'Fn::GetAtt'?: unknown } | undefined;
  if (typeof o?.Ref === 'string') return o.Ref;
  const g = o?.['Fn::GetAtt'];
  return Array.isArray(g) && typeof g[0] === 'string' ? g[0] : undefined;
};

/** Every subscription filter of the templates whose log group and destination are resources of the app. */
export function subscriptionTargets(stacks: readonly SynthesizedStack[]): SubscriptionTarget[] {
  const out: SubscriptionTarget[] = [];
  for (const { template } of stacks) {
    for (const [id, r] of Object.entries((template.Resources ?? {}) as Record<string, Res>)) {
      if (r.Type !== 'AWS::Logs::SubscriptionFilter') continue;
      const group = refOf(r.Properties?.LogGroupName);
      const fn = refOf(r.Properties?.DestinationArn);
      if (!group || !fn) throw new Error(`subscription filter ${id}: only a Lambda of the app is served locally`);
      out.push({
        filterLogicalId: id,
        logGroupLogicalId: group,
        functionLogicalId: fn,
        pattern: String(r.Properties?.FilterPattern ?? ''),
      });
    }
  }
  return out;
}

/** A matcher for a space-delimited filter pattern (string equality conditions) or the empty pattern. */
export function compilePattern(pattern: string): (line: string) => boolean {
  if (pattern.trim() === '') return () => true;
  const m = /^\[(.*)\]$/.exec(pattern.trim());
  if (!m) throw new Error(`filter pattern ${pattern}: only space-delimited patterns are served locally`);
  const fields = m[1]!.split(',').map((f) => f.trim());
  const conds = fields.map((f, i) => {
    const eq = /^([A-Za-z0-9_]+)\s*=\s*"?([^"*]*)"?$/.exec(f);
    if (eq) return { i, value: eq[2]! };
    if (!/^[A-Za-z0-9_]+$/.test(f)) throw new Error(`filter pattern field ${f}: not served locally`);
    return null;
  });
  return (line) => {
    const parts = line.split(' ');
    if (parts.length !== fields.length) return false;
    return conds.every((c) => c === null || parts[c.i] === c.value);
  };
}

/** The event a subscription filter's Lambda destination receives. */
export function subscriptionEvent(
  logGroupName: string,
  filterName: string,
  lines: readonly string[],
  opts: { logStream?: string; timestamp?: number } = {},
): { awslogs: { data: string } } {
  const t = opts.timestamp ?? Date.now();
  const payload = {
    messageType: 'DATA_MESSAGE',
    owner: LOCAL_ACCOUNT,
    logGroup: logGroupName,
    logStream: opts.logStream ?? 'eni-local-all',
    subscriptionFilters: [filterName],
    logEvents: lines.map((message) => ({ id: randomUUID().replace(/-/g, ''), timestamp: t, message })),
  };
  return { awslogs: { data: gzipSync(Buffer.from(JSON.stringify(payload))).toString('base64') } };
}

export interface LogDelivery {
  readonly filter: string;
  readonly function: string;
  /** Lines the filter matched (and delivered, in one payload). */
  readonly matched: number;
  readonly result?: Json;
  readonly error?: string;
}

/**
 * Delivers `lines` written to the log group whose logical id starts with
 * `logGroupPrefix` to each of its subscription filters' functions, one payload
 * per filter (as CloudWatch Logs batches them). Returns what each target answered.
 */
export async function deliverLogEvents(
  rt: {
    stacks: readonly SynthesizedStack[];
    ref(prefix: string): string;
    invoke(fn: string, payload: Json): Promise<Json>;
  },
  logGroupPrefix: string,
  lines: readonly string[],
  opts: { logStream?: string } = {},
): Promise<LogDelivery[]> {
  const out: LogDelivery[] = [];
  for (const t of subscriptionTargets(rt.stacks)) {
    if (!t.logGroupLogicalId.startsWith(logGroupPrefix)) continue;
    const matched = lines.filter(compilePattern(t.pattern));
    if (matched.length === 0) continue;
    const event = subscriptionEvent(rt.ref(t.logGroupLogicalId), t.filterLogicalId, matched, opts);
    const base = { filter: t.filterLogicalId, function: t.functionLogicalId, matched: matched.length };
    try {
      out.push({ ...base, result: await rt.invoke(t.functionLogicalId, event as unknown as Json) });
    } catch (e) {
      out.push({ ...base, error: `${(e as Error).name}: ${(e as Error).message}` });
    }
  }
  return out;
}
