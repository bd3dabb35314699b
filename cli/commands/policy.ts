/**
 * aidops policy: decide a request locally (against a state document: what the
 * decision function would decide with that control-plane state), run a decision
 * table through both engines, validate a policy directory.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuthoritativeDecider } from '../../lambdas/policy/authoritative.ts';
import { validateCedar } from '../../lambdas/policy/cedar.ts';
import { createDecider, engineFromBundle } from '../../lambdas/policy/decide.ts';
import { ENGINES, EngineName } from '../../lambdas/policy/model.ts';
import { loadBundleFromDir } from '../../lambdas/policy/source.ts';
import { stateFromDocument } from '../../lambdas/policy/state-file.ts';
import { describeRow, parseTable, runTable } from '../../lambdas/policy/table.ts';
import { ValidationError } from '../../lambdas/shared/errors.ts';
import { bundleIsCurrent } from '../../scripts/build-rego.ts';
import { type CommandGroup, command, Exit, table, UsageError } from '../args.ts';

const DEFAULT_POLICIES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../policies');

const POLICIES = {
  type: 'string',
  value: 'DIR',
  help: "the policy directory (default: the project's policies/)",
} as const;

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ValidationError(`${what} ${file} is not JSON: ${(e as Error).message}`, [
      { path: '(root)', message: 'not JSON' },
    ]);
  }
}

const check = command({
  summary: 'decide one request locally, with the session state from a file',
  synopsis: '--engine cedar|rego --request FILE --state FILE [options]',
  options: {
    engine: { type: 'string', value: 'ENGINE', help: `the policy engine: ${ENGINES.join(', ')}` },
    request: {
      type: 'string',
      value: 'FILE',
      help: 'the request as the decision function takes it: {sessionId, action, resource} (JSON file, "-" for stdin)',
    },
    state: {
      type: 'string',
      value: 'FILE',
      help: 'the control-plane state to decide with: {now?, sessions, flags?, plugins?} (docs/policy.md)',
    },
    policies: POLICIES,
    json: { type: 'boolean', help: 'print {decision, request, state, refusal?, events}' },
  },
  exit: '0 allow, 1 deny, 2 bad input',
  examples: ['aidops policy check --engine cedar --request request.json --state state.json'],
  run: async ({ values }, io) => {
    const engine = EngineName.safeParse(values.engine);
    if (!engine.success) throw new UsageError(`--engine must be one of ${ENGINES.join(', ')}`);
    if (!values.request) throw new UsageError('--request FILE is required');
    if (!values.state) throw new UsageError('--state FILE is required (the session the request names, flags, plugins)');
    const input = readJson(values.request, 'request');
    const stateDoc = readJson(values.state, 'state');
    let out: Awaited<ReturnType<ReturnType<typeof createAuthoritativeDecider>['decide']>>;
    try {
      const state = stateFromDocument(stateDoc);
      const evaluator = await createDecider({
        engine: engine.data,
        policies: values.policies ?? DEFAULT_POLICIES,
        cacheSize: 0,
      });
      out = await createAuthoritativeDecider({ decider: evaluator, state }).decide(input);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      if (values.json) io.out(JSON.stringify({ error: e.name, message: e.message, issues: e.issues }, null, 2));
      else {
        io.err(`${e.message.split(':')[0]}: ${e.issues.length} problem(s)`);
        for (const i of e.issues) io.err(`  ${i.path}: ${i.message}`);
      }
      return Exit.Usage;
    }
    const { decision } = out;
    if (values.json) {
      io.out(
        JSON.stringify(
          { decision, request: out.request, state: out.state, refusal: out.refusal, events: out.events },
          null,
          2,
        ),
      );
    } else {
      io.out(
        `${decision.effect.toUpperCase()}  (${decision.engine}, ${decision.policySet}@${decision.policyVersion}, ${decision.durationMicros} µs)`,
      );
      for (const r of decision.reasons) io.out(`  reason: ${r}`);
      io.out(`  scopes held: ${out.state.scopesHeld.join(', ') || 'none'}`);
      if (out.state.callerClaimIgnored)
        io.out(`  ignored (the control plane's to say): ${out.state.callerClaimIgnored.join(', ')}`);
      if (out.events.violation) io.out('  a PolicyViolation event would be emitted');
    }
    return decision.effect === 'allow' ? Exit.Ok : Exit.Rejected;
  },
});

const test = command({
  summary: 'run a decision table through both engines',
  synopsis: '--table FILE [options]',
  options: {
    table: { type: 'string', value: 'FILE', help: 'the decision table (JSON)' },
    policies: POLICIES,
    json: { type: 'boolean', help: 'print {ok, total, engines, disagreements, mismatches}' },
  },
  exit: '0 every row as expected, 1 any disagreement between the engines or wrong answer, 2 bad input',
  examples: ['aidops policy test --table policies/decision-table.json'],
  run: async ({ values }, io) => {
    if (!values.table) throw new UsageError('--table FILE is required');
    const t = parseTable(readJson(values.table, 'decision table'));
    const bundle = loadBundleFromDir(values.policies ?? DEFAULT_POLICIES);
    const report = runTable(
      t,
      ENGINES.map((e) => engineFromBundle(e, bundle)),
    );
    const ok = report.disagreements.length === 0 && report.mismatches.length === 0;
    if (values.json) {
      io.out(
        JSON.stringify(
          {
            ok,
            total: report.total,
            engines: report.engines,
            disagreements: report.disagreements,
            mismatches: report.mismatches,
          },
          null,
          2,
        ),
      );
    } else {
      io.out(
        table(
          report.rows.map((r) => ({
            row: r.name,
            cedar: r.outcomes.cedar?.kind === 'verdict' ? r.outcomes.cedar.verdict.effect : 'error',
            rego: r.outcomes.rego?.kind === 'verdict' ? r.outcomes.rego.verdict.effect : 'error',
            status: r.disagreement ? 'DISAGREE' : r.mismatched.length ? 'WRONG' : 'ok',
          })),
        ),
      );
      for (const r of report.disagreements) io.err(`disagreement: ${describeRow(r)}`);
      for (const r of report.mismatches) io.err(`unexpected: ${describeRow(r)}`);
      io.out(
        `${report.total} rows, ${report.disagreements.length} disagreements, ${report.mismatches.length} unexpected decisions`,
      );
    }
    return ok ? Exit.Ok : Exit.Rejected;
  },
});

const validate = command({
  summary: 'validate the Cedar policies against the schema and check the Rego bundle is current',
  synopsis: '[--policies DIR]',
  options: { policies: POLICIES },
  exit: '0 valid and current, 1 invalid or stale, 2 bad usage',
  examples: ['aidops policy validate --policies policies/'],
  run: async ({ values }, io) => {
    const dir = values.policies ?? DEFAULT_POLICIES;
    const bundle = loadBundleFromDir(dir);
    let ok = true;
    if (bundle.cedar) {
      const v = validateCedar(bundle.cedar);
      io.out(`cedar: ${v.ok ? `${v.policies.length} policies valid against the schema` : 'INVALID'}`);
      for (const e of v.errors) io.err(`  ${e}`);
      ok &&= v.ok;
    }
    if (bundle.rego) {
      const c = bundleIsCurrent(path.join(dir, 'rego'), path.join(dir, 'rego/bundle'));
      io.out(`rego: ${c.current ? 'bundle is current' : `STALE (${c.why}); run node scripts/build-rego.ts`}`);
      ok &&= c.current;
    }
    return ok ? Exit.Ok : Exit.Rejected;
  },
});

export const commands: CommandGroup = { check, test, validate };
