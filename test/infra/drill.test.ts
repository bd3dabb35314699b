/**
 * The scheduled game day as synthesized: nothing by default; with `aidops:drill` a schedule rule to one
 * function whose grants are least privilege (start/follow executions of the session and tombstone machines
 * only, the session machine's task tokens, the session table read, the audit bus), cdk-nag, cfn-lint and
 * checkov clean, and a bad setting refused at synth with the field named.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { Template } from 'aws-cdk-lib/assertions';
import { ValidationError } from '../../lambdas/shared/errors.ts';
import { DEFAULT_ENVIRONMENT, names } from '../../lambdas/shared/names.ts';
import { parseConfig } from '../../lib/config.ts';
import { PROJECT_ROOT } from '../../lib/constructs/function.ts';
import { synthesize } from '../../local/asl/template.ts';
import { ensureScanners } from '../../scripts/iac/setup.ts';
import { nagFindings, testApp } from '../helpers/synth.ts';
import { placeholder } from '../helpers/template.ts';

type Json = any;
const DRILL = { schedule: 'rate(7 days)' };
const enabled = () => parseConfig({ drill: DRILL, slo: { timeToIsolationP99Seconds: 30 } });

const drillFunctions = (t: Template): [string, Json][] =>
  Object.entries(t.findResources('AWS::Lambda::Function')).filter(([id]) => id.startsWith('GameDay'));

describe('game day (aidops:drill) as synthesized', () => {
  it('is off by default: no schedule, no function', () => {
    const t = Template.fromStack(testApp().stacks.controlPlane);
    assert.deepEqual(drillFunctions(t), []);
    const rules = Object.values(t.findResources('AWS::Events::Rule')) as Json[];
    assert.ok(!rules.some((r) => String(r.Properties.Description ?? '').includes('game day')));
  });

  it('enabled: a schedule to one function, the objective from aidops:slo', () => {
    const c = enabled();
    const t = Template.fromStack(testApp({ drill: c.drill, slo: c.slo }).stacks.controlPlane);
    const fns = drillFunctions(t);
    assert.equal(fns.length, 1);
    const [fnId, fn] = fns[0]!;
    const env = fn.Properties.Environment.Variables;
    assert.equal(env.DRILL_OBJECTIVE_SECONDS, '30');
    assert.equal(env.DRILL_USE_CASE, 'document-summary');
    const rules = (Object.values(t.findResources('AWS::Events::Rule')) as Json[]).filter((r) =>
      String(r.Properties.Description ?? '').includes('game day'),
    );
    assert.equal(rules.length, 1);
    assert.equal(rules[0].Properties.ScheduleExpression, 'rate(7 days)');
    assert.deepEqual(rules[0].Properties.Targets[0].Arn, { 'Fn::GetAtt': [fnId, 'Arn'] });
  });

  it('enabled: least-privilege grants (the two machines only)', () => {
    const c = enabled();
    const t = Template.fromStack(testApp({ drill: c.drill, slo: c.slo }).stacks.controlPlane);
    const [, fn] = drillFunctions(t)[0]!;
    const roleId = fn.Properties.Role['Fn::GetAtt'][0];
    const statements = (Object.values(t.findResources('AWS::IAM::Policy')) as Json[])
      .filter((p) => p.Properties.Roles.some((r: Json) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement);
    const states = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('states:')));
    const actions = states.flatMap((s) => [s.Action].flat()).sort();
    assert.deepEqual(actions, [
      'states:DescribeExecution',
      'states:GetExecutionHistory',
      'states:SendTaskFailure',
      'states:SendTaskSuccess',
      'states:StartExecution',
      'states:StartExecution',
    ]);
    // Every resource is the session machine (by its name) or the tombstone machine (by reference), or their executions.
    const session = names(DEFAULT_ENVIRONMENT).sessionMachine;
    const resources = states
      .flatMap((s) => [s.Resource].flat())
      .map((r) => (typeof r === 'string' ? r : placeholder(r)));
    assert.ok(resources.length > 0);
    for (const r of resources) {
      assert.notEqual(r, '*', 'no wildcard resource');
      const isSession = r.endsWith(`:stateMachine:${session}`) || r.endsWith(`:execution:${session}:*`);
      const isTombstone = r.includes('<RemediationTombstoneMachine');
      assert.ok(isSession || isTombstone, `only the two machines: ${r}`);
    }
    assert.ok(
      resources.some((r) => r.includes('<RemediationTombstoneMachine')),
      'the tombstone machine is granted',
    );
    assert.ok(
      resources.some((r) => r.endsWith(`:stateMachine:${session}`)),
      'the session machine is granted',
    );
    // Nothing that changes EC2, IAM or the table: the drill's tombstone is a dry run.
    const all = statements.flatMap((s) => [s.Action].flat()).join(' ');
    assert.doesNotMatch(all, /ec2:|iam:|dynamodb:(PutItem|UpdateItem|DeleteItem)/);
  });

  it('enabled: no unacknowledged cdk-nag finding', () => {
    const c = enabled();
    const { app } = testApp({ drill: c.drill, slo: c.slo }, true);
    assert.deepEqual(nagFindings(app), []);
  });

  it('a bad setting stops the synth, naming the field', () => {
    assert.throws(() => parseConfig({ drill: { schedule: 'weekly' } }), ValidationError);
    assert.throws(() => parseConfig({ drill: '{"schedule":"rate(7 days)","extra":1}' }), /aidops:drill/);
    assert.equal(parseConfig({}).drill, undefined);
    assert.equal(parseConfig({ drill: '{"schedule":"rate(1 day)"}' }).drill?.schedule, 'rate(1 day)');
  });

  describe('IaC scanners with the game day on', () => {
    const out = path.join(PROJECT_ROOT, '.tmp', `scanners-drill-${process.pid}`);
    after(() => rmSync(out, { recursive: true, force: true }));
    it('cfn-lint and checkov report nothing', async () => {
      const bins = ensureScanners();
      mkdirSync(out, { recursive: true });
      const files = (await synthesize({ drill: enabled().drill })).map((s) => {
        const f = path.join(out, `${s.stackName}.template.json`);
        writeFileSync(f, JSON.stringify(s.template, null, 1));
        return f;
      });
      const lint = spawnSync(bins.cfnLint, ['--format', 'json', ...files], { encoding: 'utf8', cwd: out });
      assert.deepEqual(JSON.parse(lint.stdout || '[]'), []);
      const ck = spawnSync(
        bins.checkov,
        [
          '--directory',
          out,
          '--framework',
          'cloudformation',
          '--output',
          'json',
          '--quiet',
          '--compact',
          '--skip-download',
        ],
        { encoding: 'utf8', cwd: out, maxBuffer: 64 * 1024 * 1024 },
      );
      const parsed = JSON.parse(ck.stdout) as Json;
      const failed = (Array.isArray(parsed) ? parsed : [parsed]).flatMap((x: Json) =>
        x.results.failed_checks.map((f: Json) => `${f.check_id} ${f.resource}`),
      );
      assert.deepEqual(failed, []);
    });
  });
});
