import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { testApp } from '../helpers/synth.ts';
import { allStates, parseDefinition } from '../helpers/template.ts';

// Synthesize once per file: in-process synthesis costs seconds.
const { stacks } = testApp();
const all = Object.values(stacks).map((s) => ({ name: s.stackName, t: Template.fromStack(s) }));

function resourcesOf(type: string) {
  return all.flatMap(({ name, t }) =>
    Object.entries(t.findResources(type)).map(([id, r]) => ({ stack: name, id, r: r as any, t })),
  );
}

describe('template: every state machine', () => {
  const machines = resourcesOf('AWS::StepFunctions::StateMachine');
  it('exists', () => assert.ok(machines.length >= 1));
  for (const { id, r, t } of machines) {
    it(`${id} is Standard, logs ALL to a retained log group, traces, has a timeout and a failure alarm`, () => {
      const p = r.Properties;
      assert.equal(p.StateMachineType, 'STANDARD');
      assert.equal(p.LoggingConfiguration.Level, 'ALL');
      assert.equal(p.LoggingConfiguration.IncludeExecutionData, true);
      assert.deepEqual(p.TracingConfiguration, { Enabled: true });
      const lgRef = p.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
      const lg = t.toJSON().Resources[lgRef];
      assert.equal(lg.Type, 'AWS::Logs::LogGroup');
      assert.ok(lg.Properties.RetentionInDays > 0, 'log retention set');
      const def = parseDefinition(p.DefinitionString);
      assert.ok(Number.isInteger(def.TimeoutSeconds) && def.TimeoutSeconds > 0, 'machine-level TimeoutSeconds');
      for (const [name, state] of [['(machine)', def], ...allStates(def)])
        assert.notEqual(state.QueryLanguage, 'JSONata', `JSONPath only: ${name}`);
      // The alarm's metrics are this machine's: a StateMachineArn dimension that is a Ref to it.
      const ofThisMachine = Match.objectLike({
        MetricStat: Match.objectLike({
          Metric: Match.objectLike({ Dimensions: Match.arrayWith([{ Name: 'StateMachineArn', Value: { Ref: id } }]) }),
        }),
      });
      const mine = Object.values(
        t.findResources('AWS::CloudWatch::Alarm', { Properties: { Metrics: Match.arrayWith([ofThisMachine]) } }),
      ) as any[];
      assert.equal(mine.length, 1, 'one alarm watches this machine');
      const names = (mine[0].Properties.Metrics as any[])
        .filter((m) => m.MetricStat?.Metric.Dimensions.some((d: any) => d.Value?.Ref === id))
        .map((m) => m.MetricStat.Metric.MetricName);
      assert.ok(names.includes('ExecutionsFailed'), names.join(','));
      assert.ok(names.includes('ExecutionsTimedOut'), names.join(','));
    });
  }
});

describe('template: every function', () => {
  const fns = resourcesOf('AWS::Lambda::Function');
  it('exists', () => assert.ok(fns.length >= 1));
  for (const { id, r, t } of fns) {
    it(`${id} is arm64 on nodejs24.x, traced, logging to its own retained log group`, () => {
      const p = r.Properties;
      assert.deepEqual(p.Architectures, ['arm64']);
      assert.equal(p.Runtime, 'nodejs24.x');
      assert.deepEqual(p.TracingConfig, { Mode: 'Active' });
      const lgRef = p.LoggingConfig.LogGroup.Ref;
      const lg = t.toJSON().Resources[lgRef];
      assert.ok(lg.Properties.RetentionInDays > 0);
      assert.ok(r.Metadata['aidops:entry'], 'handler entry recorded for the local runtime');
    });
  }
});

describe('template: stacks', () => {
  it('the stateful stack has termination protection and retains its keys and the audit bucket', () => {
    assert.equal(stacks.stateful.terminationProtection, true);
    const t = Template.fromStack(stacks.stateful);
    const keys = Object.values(t.findResources('AWS::KMS::Key')) as any[];
    assert.ok(keys.length >= 2);
    for (const k of keys) {
      assert.equal(k.DeletionPolicy, 'Retain');
      // Symmetric keys rotate; the asymmetric digest-signing key cannot (KMS does not rotate them).
      if ((k.Properties.KeySpec ?? 'SYMMETRIC_DEFAULT') === 'SYMMETRIC_DEFAULT')
        assert.equal(k.Properties.EnableKeyRotation, true);
      else assert.equal(k.Properties.KeyUsage, 'SIGN_VERIFY');
    }
    const audit = t.toJSON().Resources.AuditBucketPinned;
    assert.equal(audit?.Type, 'AWS::S3::Bucket', 'audit bucket keeps its pinned logical id');
    assert.equal(audit.DeletionPolicy, 'Retain');
    assert.equal(audit.Properties.ObjectLockConfiguration.Rule.DefaultRetention.Mode, 'COMPLIANCE');
  });
  it('the control plane holds no keys, and every bucket and table in it is retained on delete', () => {
    const t = Template.fromStack(stacks.controlPlane);
    assert.equal(Object.keys(t.findResources('AWS::KMS::Key')).length, 0, 'keys live in the stateful stack');
    for (const type of ['AWS::S3::Bucket', 'AWS::DynamoDB::Table']) {
      for (const [id, r] of Object.entries(t.findResources(type)) as [string, any][]) {
        assert.equal(r.DeletionPolicy, 'Retain', `${type} ${id}`);
      }
    }
  });
});
