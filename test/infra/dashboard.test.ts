/**
 * The operations dashboard and SLO alarms as synthesized: each alarm's metric,
 * statistic, threshold and action (the alarm topic), thresholds from
 * `aidops:slo`, the existing alarms reused (audit DLQ, each machine's
 * failed-or-timed-out), and each widget's metrics, read from the parsed
 * dashboard body (tokens rendered as placeholders).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ValidationError } from '../../lambdas/shared/errors.ts';
import { parseConfig } from '../../lib/config.ts';
import { testApp } from '../helpers/synth.ts';
import { parseDefinition } from '../helpers/template.ts';

type Json = any;

const t = Template.fromStack(testApp().stacks.controlPlane);
const topicId = Object.keys(t.findResources('AWS::SNS::Topic')).find((id) => id.startsWith('AlarmTopic'))!;
const pages = [{ Ref: topicId }];
const ops = (name: string) => ({
  Namespace: 'AiDesktopOps',
  MetricName: name,
  Dimensions: [{ Name: 'service', Value: 'aidops' }],
});

const alarmsByDescription = (t: Template, prefix: string): Json[] =>
  Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter((a: Json) =>
    String(a.Properties.AlarmDescription ?? '').startsWith(prefix),
  );

const body = (t: Template): Json => {
  const dashboards = Object.values(t.findResources('AWS::CloudWatch::Dashboard')) as Json[];
  assert.equal(dashboards.length, 1);
  return parseDefinition(dashboards[0].Properties.DashboardBody);
};
const widget = (b: Json, title: string): Json => {
  const w = b.widgets.find((x: Json) => x.properties.title === title);
  assert.ok(w, `widget ${title}`);
  return w;
};
/** Metric rows of a widget: [namespace, name, dim, value, ..., options]. */
const rows = (w: Json): Json[][] => w.properties.metrics;
const names = (w: Json) =>
  rows(w).map((r) =>
    r
      .filter((x) => typeof x === 'string')
      .slice(0, 2)
      .join('/'),
  );

describe('SLO alarms', () => {
  it('time to isolation: p99 over 60 s in 5 minutes pages the alarm topic', () => {
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...ops('TimeToIsolation'),
      ExtendedStatistic: 'p99',
      Period: 300,
      Threshold: 60,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      AlarmActions: pages,
    });
  });

  it('attestation rejection rate: over 20% for 15 minutes (3 of 3 five-minute periods) pages', () => {
    const [a] = alarmsByDescription(t, 'SLO: over 20% of attestations rejected');
    const p = a.Properties;
    assert.equal(p.Threshold, 20);
    assert.equal(p.EvaluationPeriods, 3);
    assert.equal(p.DatapointsToAlarm, 3);
    assert.equal(p.ComparisonOperator, 'GreaterThanThreshold');
    assert.deepEqual(p.AlarmActions, pages);
    const expr = p.Metrics.find((m: Json) => m.Expression);
    assert.equal(expr.Expression, '100 * FILL(rejected, 0) / (FILL(rejected, 0) + FILL(verified, 0))');
    const stat = (id: string) => p.Metrics.find((m: Json) => m.Id === id).MetricStat;
    assert.deepEqual(stat('rejected').Metric, ops('AttestationRejected'));
    assert.deepEqual(stat('verified').Metric, ops('AttestationVerified'));
    for (const id of ['rejected', 'verified']) {
      assert.equal(stat(id).Stat, 'Sum');
      assert.equal(stat(id).Period, 300);
    }
  });

  it('audit lag: the hourly maximum over 2 hours twice, or no figure from the digester, pages', () => {
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...ops('AuditLag'),
      Statistic: 'Maximum',
      Period: 3600,
      Threshold: 7200,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'breaching',
      AlarmActions: pages,
    });
  });

  it('every dead-letter queue pages once: the audit DLQ keeps its alarm, the trigger DLQ gets one', () => {
    const dlqs = Object.keys(t.findResources('AWS::SQS::Queue')).filter((id) => id.includes('DeadLetters'));
    assert.ok(dlqs.length >= 2, dlqs.join(', '));
    for (const q of dlqs) {
      const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter((a: Json) =>
        (a.Properties.Dimensions ?? []).some(
          (d: Json) =>
            d.Name === 'QueueName' && JSON.stringify(d.Value) === JSON.stringify({ 'Fn::GetAtt': [q, 'QueueName'] }),
        ),
      ) as Json[];
      assert.equal(alarms.length, 1, `${q}: ${alarms.length} alarms`);
      const p = alarms[0].Properties;
      assert.equal(p.MetricName, 'ApproximateNumberOfMessagesVisible');
      assert.equal(p.Threshold, 0);
      assert.equal(p.ComparisonOperator, 'GreaterThanThreshold');
      assert.deepEqual(p.AlarmActions, pages);
    }
  });

  it('thresholds come from aidops:slo (checked at synth, naming the field)', () => {
    const custom = Template.fromStack(
      testApp({
        environment: 'slo',
        slo: parseConfig({
          slo: '{"timeToIsolationP99Seconds":30,"attestationRejectionRatePercent":5,"attestationRejectionMinutes":30,"auditLagSeconds":3600}',
        }).slo,
      }).stacks.controlPlane,
    );
    custom.hasResourceProperties('AWS::CloudWatch::Alarm', { ...ops('TimeToIsolation'), Threshold: 30 });
    custom.hasResourceProperties('AWS::CloudWatch::Alarm', { ...ops('AuditLag'), Threshold: 3600 });
    const [a] = alarmsByDescription(custom, 'SLO: over 5% of attestations rejected for 30 minutes');
    assert.deepEqual([a.Properties.Threshold, a.Properties.EvaluationPeriods], [5, 6]);
    assert.equal(body(custom).widgets.length > 0, true);
    assert.throws(
      () => parseConfig({ slo: '{"timeToIsolationP99Seconds":-1}' }),
      /aidops:slo\.timeToIsolationP99Seconds/,
    );
    assert.throws(() => parseConfig({ slo: '{"attestationRejectionMinutes":7}' }), ValidationError);
    assert.throws(() => parseConfig({ slo: '{"unknown":1}' }), ValidationError);
    assert.throws(() => parseConfig({ slo: 'not json' }), /aidops:slo/);
    assert.deepEqual(parseConfig({}).slo, {
      timeToIsolationP99Seconds: 60,
      attestationRejectionRatePercent: 20,
      attestationRejectionMinutes: 15,
      auditLagSeconds: 7200,
    });
  });

  it('failed or timed-out executions keep their one alarm per machine (none added)', () => {
    const machines = Object.keys(t.findResources('AWS::StepFunctions::StateMachine'));
    const failure = alarmsByDescription(t, '').filter((a) =>
      /an execution failed or timed out$/.test(a.Properties.AlarmDescription),
    );
    assert.equal(failure.length, machines.length);
  });
});

describe('operations dashboard', () => {
  const b = body(t);

  it('is named after the environment', () => {
    t.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'aidops-dev' });
  });

  it('shows every alarm: the SLOs, each dead-letter queue and each machine', () => {
    const alarms: string[] = widget(b, 'Alarms').properties.alarms;
    const all = Object.keys(t.findResources('AWS::CloudWatch::Alarm'));
    // Every alarm the stack pages with but the writer/digester integrity alarms (their own runbook).
    const shown = all.filter((id) => !/Integrity/.test(id));
    for (const id of shown) assert.ok(alarms.includes(`<${id}.Arn>`), `${id} on the dashboard`);
  });

  it('sessions started and active, by tier', () => {
    assert.deepEqual(names(widget(b, 'Sessions started by tier')), [
      'AiDesktopOps/SessionsStarted',
      'AiDesktopOps/SessionsStarted',
      'AiDesktopOps/SessionsStarted',
    ]);
    const active = rows(widget(b, 'Sessions active by tier'));
    assert.deepEqual(
      active.map((r) => r[r.indexOf('Tier') + 1]),
      ['low', 'medium', 'high'],
    );
    for (const r of active) assert.equal(r.at(-1).stat, 'Maximum');
  });

  it('attestations verified/rejected with the rate against its SLO, and rejections by reason code', () => {
    const w = widget(b, 'Attestations');
    assert.deepEqual(names(w).slice(0, 2), ['AiDesktopOps/AttestationVerified', 'AiDesktopOps/AttestationRejected']);
    assert.ok(rows(w).some((r) => r.at(-1)?.expression?.startsWith('100 * FILL(rejected, 0)')));
    assert.equal(w.properties.annotations.horizontal[0].value, 20);
    const byReason = rows(widget(b, 'Attestations rejected by reason'));
    assert.match(
      byReason[0]![0].expression,
      /^SEARCH\('\{AiDesktopOps,service,Reason\} AttestationRejected', 'Sum', 300\)$/,
    );
  });

  it('decisions allowed and denied by action', () => {
    for (const effect of ['allow', 'deny']) {
      const w = widget(b, `Decisions ${effect === 'allow' ? 'allowed' : 'denied'} by action`);
      assert.equal(
        rows(w)[0]![0].expression,
        `SEARCH('{AiDesktopOps,service,Action,Effect,Tier} Decision Effect="${effect}"', 'Sum', 300)`,
      );
    }
  });

  it('time to isolation (p99, p50) and to evidence, with the SLO line; audit lag and writer rejections', () => {
    const w = widget(b, 'Time to isolation and to evidence (s)');
    assert.deepEqual(names(w), [
      'AiDesktopOps/TimeToIsolation',
      'AiDesktopOps/TimeToIsolation',
      'AiDesktopOps/TimeToEvidence',
    ]);
    assert.deepEqual(
      rows(w).map((r) => r.at(-1).stat),
      ['p99', 'p50', 'p99'],
    );
    assert.equal(w.properties.annotations.horizontal[0].value, 60);
    const lag = widget(b, 'Audit pipeline lag (s) and records rejected by the writer');
    assert.equal(names(lag)[0], 'AiDesktopOps/AuditLag');
    assert.equal(lag.properties.annotations.horizontal[0].value, 7200);
    assert.ok(
      rows(lag).some(
        (r) => r.at(-1)?.expression === "SEARCH('{AiDesktopOps,service} AuditRecordRejected', 'Sum', 300)",
      ),
    );
  });

  it("the workflows' own metrics for every machine, and every dead-letter queue's depth", () => {
    const machines = Object.keys(t.findResources('AWS::StepFunctions::StateMachine')).length;
    const failed = widget(b, 'Executions failed / timed out');
    const counts = (w: Json, n: string) => names(w).filter((x) => x === `AWS/States/${n}`).length;
    assert.equal(counts(failed, 'ExecutionsFailed'), machines);
    assert.equal(counts(failed, 'ExecutionsTimedOut'), machines);
    const ok = widget(b, 'Executions succeeded and p99 duration (ms)');
    assert.equal(counts(ok, 'ExecutionsSucceeded'), machines);
    assert.equal(counts(ok, 'ExecutionTime'), machines);
    const dlq = widget(b, 'Dead-letter queue depth');
    assert.equal(
      names(dlq).filter((x) => x === 'AWS/SQS/ApproximateNumberOfMessagesVisible').length,
      Object.keys(t.findResources('AWS::SQS::Queue')).filter((id) => id.includes('DeadLetters')).length,
    );
  });
});

describe('metric names', () => {
  it('the alarms name metrics with the service dimension the metric helper emits', () => {
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Dimensions: Match.arrayWith([{ Name: 'service', Value: 'aidops' }]),
    });
  });
});
