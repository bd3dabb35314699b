/**
 * Decision tables: rows of requests with the decision every engine must reach.
 * `runTable` puts each row through normalization once and then through every
 * engine given, and reports rows where the engines disagree with each other and
 * rows where an engine disagrees with the expected decision.
 */
import * as z from 'zod';
import { ValidationError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';
import type { EngineVerdict, PolicyEngine } from './engine.ts';
import { type NormalizedRequest, parseEvaluation } from './model.ts';

const Expect = z.union([
  z.strictObject({ effect: z.enum(['allow', 'deny']), reasons: z.array(z.string()).optional() }),
  z.strictObject({ error: z.string().min(1) }),
]);

export const DecisionTable = z.strictObject({
  description: z.string().optional(),
  defaults: z.record(z.string(), z.unknown()).default({}),
  rows: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        request: z.record(z.string(), z.unknown()),
        expect: Expect,
      }),
    )
    .min(1),
});
export type DecisionTable = z.output<typeof DecisionTable>;

export function parseTable(input: unknown): DecisionTable {
  return parseOrThrow(DecisionTable, input, 'decision table');
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge recursively; arrays and scalars in `over` replace. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

export type RowOutcome =
  | { kind: 'verdict'; verdict: EngineVerdict }
  | { kind: 'error'; fields: string[]; message: string };

export interface RowReport {
  name: string;
  expected: z.infer<typeof Expect>;
  /** Per engine name. */
  outcomes: Record<string, RowOutcome>;
  /** Engines disagree with each other. */
  disagreement: boolean;
  /** Engines that differ from `expected`. */
  mismatched: string[];
}

export interface TableReport {
  rows: RowReport[];
  total: number;
  disagreements: RowReport[];
  mismatches: RowReport[];
  engines: string[];
}

const sameVerdict = (a: RowOutcome, b: RowOutcome): boolean =>
  a.kind === 'verdict' && b.kind === 'verdict'
    ? a.verdict.effect === b.verdict.effect && JSON.stringify(a.verdict.reasons) === JSON.stringify(b.verdict.reasons)
    : a.kind === 'error' && b.kind === 'error' && JSON.stringify(a.fields) === JSON.stringify(b.fields);

function matchesExpected(o: RowOutcome, e: z.infer<typeof Expect>): boolean {
  if ('error' in e) return o.kind === 'error' && o.fields.includes(e.error);
  if (o.kind !== 'verdict') return false;
  if (o.verdict.effect !== e.effect) return false;
  return e.reasons === undefined || JSON.stringify([...e.reasons].sort()) === JSON.stringify(o.verdict.reasons);
}

export function runTable(table: DecisionTable, engines: readonly PolicyEngine[]): TableReport {
  const rows: RowReport[] = [];
  for (const row of table.rows) {
    const input = deepMerge(table.defaults, row.request);
    // Normalization and validation happen once per row, before any engine, as in production.
    let req: NormalizedRequest | undefined;
    let error: RowOutcome | undefined;
    try {
      req = parseEvaluation(input);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      error = { kind: 'error', fields: e.issues.map((i) => i.path), message: e.message };
    }
    const outcomes: Record<string, RowOutcome> = {};
    for (const eng of engines) {
      outcomes[eng.engine] = req ? { kind: 'verdict', verdict: eng.evaluate(req) } : error!;
    }
    const list = Object.values(outcomes);
    const disagreement = list.some((o) => !sameVerdict(o, list[0]!));
    const mismatched = Object.entries(outcomes)
      .filter(([, o]) => !matchesExpected(o, row.expect))
      .map(([n]) => n);
    rows.push({ name: row.name, expected: row.expect, outcomes, disagreement, mismatched });
  }
  return {
    rows,
    total: rows.length,
    disagreements: rows.filter((r) => r.disagreement),
    mismatches: rows.filter((r) => r.mismatched.length > 0),
    engines: engines.map((e) => e.engine),
  };
}

/** One line per problem row, for people. */
export function describeRow(r: RowReport): string {
  const show = (o: RowOutcome): string =>
    o.kind === 'error'
      ? `error(${o.fields.join(',')})`
      : `${o.verdict.effect}${o.verdict.reasons.length ? ` [${o.verdict.reasons.join('; ')}]` : ''}`;
  const exp = 'error' in r.expected ? `error(${r.expected.error})` : r.expected.effect;
  return `${r.name}: expected ${exp}; ${Object.entries(r.outcomes)
    .map(([n, o]) => `${n}=${show(o)}`)
    .join(', ')}`;
}
