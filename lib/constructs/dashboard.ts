/**
 * OperationsDashboard: one CloudWatch dashboard per environment from the cores'
 * operations metrics (lambdas/shared/middleware.ts `metric`, service `aidops`),
 * the workflows' own metrics and the dead-letter queues, and the SLO alarms to
 * the alarm topic: time to isolation p99, attestation rejection rate, audit lag,
 * anything in a dead-letter queue. Alarms that exist (each machine's
 * failed-or-timed-out, the audit DLQ's) are shown, not duplicated.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TIERS } from '../../lambdas/sessions/tiers.ts';
import { OPS_SERVICE } from '../../lambdas/shared/middleware.ts';
import type { SloConfig } from '../config.ts';
import { namesOf } from '../names.ts';
import { AidopsStateMachine } from './workflow.ts';

export const OPS_NAMESPACE = 'AiDesktopOps';

export interface OperationsDashboardProps {
  readonly alarmTopic: sns.ITopic;
  readonly slo: SloConfig;
  /** Dead-letter queues that already have an alarm: shown with it, not alarmed again. */
  readonly alarmedQueues?: readonly { readonly queue: sqs.IQueue; readonly alarm: cloudwatch.IAlarm }[];
}

/** An operations metric as the `metric` helper emits it (service dimension included). */
export function opsMetric(
  metricName: string,
  statistic: string,
  dimensions: Record<string, string> = {},
  period: Duration = Duration.minutes(5),
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: OPS_NAMESPACE,
    metricName,
    dimensionsMap: { service: OPS_SERVICE, ...dimensions },
    statistic,
    period,
  });
}

/** Every metric of `dimensions` for a name, found at render time (the dashboard, not alarms, may search). */
const search = (query: string, statistic: string, label: string) =>
  new cloudwatch.MathExpression({
    expression: `SEARCH('{${OPS_NAMESPACE},${query}', '${statistic}', 300)`,
    usingMetrics: {},
    label,
    period: Duration.minutes(5),
  });

/** A construct's path inside its stack: the label a person reads. */
const where = (c: Construct) => c.node.path.split('/').slice(1).join('/');

export class OperationsDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly timeToIsolationAlarm: cloudwatch.Alarm;
  readonly attestationRejectionAlarm: cloudwatch.Alarm;
  readonly auditLagAlarm: cloudwatch.Alarm;
  readonly deadLetterAlarms: cloudwatch.Alarm[] = [];

  /** Build it last in its stack: it shows every state machine and dead-letter queue the stack holds. */
  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const { slo } = props;
    const page = (a: cloudwatch.Alarm) => {
      a.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
      return a;
    };

    const isolationP99 = opsMetric('TimeToIsolation', 'p99');
    this.timeToIsolationAlarm = page(
      new cloudwatch.Alarm(this, 'TimeToIsolationAlarm', {
        alarmDescription: `SLO: time to isolation p99 over ${slo.timeToIsolationP99Seconds} s (trigger event → quarantine group)`,
        metric: isolationP99,
        threshold: slo.timeToIsolationP99Seconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    const verified = opsMetric('AttestationVerified', 'Sum');
    const rejected = opsMetric('AttestationRejected', 'Sum');
    const rejectionRate = new cloudwatch.MathExpression({
      expression: '100 * FILL(rejected, 0) / (FILL(rejected, 0) + FILL(verified, 0))',
      usingMetrics: { rejected, verified },
      label: 'Attestation rejection rate (%)',
      period: Duration.minutes(5),
    });
    const periods = slo.attestationRejectionMinutes / 5;
    this.attestationRejectionAlarm = page(
      new cloudwatch.Alarm(this, 'AttestationRejectionAlarm', {
        alarmDescription: `SLO: over ${slo.attestationRejectionRatePercent}% of attestations rejected for ${slo.attestationRejectionMinutes} minutes`,
        metric: rejectionRate,
        threshold: slo.attestationRejectionRatePercent,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    // The digester reports lag every (hourly) run: two hours without a figure is lag too.
    const auditLag = opsMetric('AuditLag', 'Maximum', {}, Duration.hours(1));
    this.auditLagAlarm = page(
      new cloudwatch.Alarm(this, 'AuditLagAlarm', {
        alarmDescription: `SLO: an audit object older than ${slo.auditLagSeconds} s is covered by no digest (or the digester stopped reporting)`,
        metric: auditLag,
        threshold: slo.auditLagSeconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    );

    const stack = Stack.of(this);
    const machines = stack.node.findAll().filter((c): c is AidopsStateMachine => c instanceof AidopsStateMachine);
    // The project names every dead-letter queue `DeadLetters`.
    const dlqs = stack.node
      .findAll()
      .filter((c): c is sqs.Queue => c instanceof sqs.Queue && c.node.id === 'DeadLetters');
    const dlqAlarms: cloudwatch.IAlarm[] = [];
    for (const q of dlqs) {
      const existing = props.alarmedQueues?.find((a) => a.queue === q)?.alarm;
      if (existing) {
        dlqAlarms.push(existing);
        continue;
      }
      const a = page(
        new cloudwatch.Alarm(this, `DeadLetters${this.deadLetterAlarms.length}Alarm`, {
          alarmDescription: `a message reached the dead-letter queue ${where(q)}`,
          metric: q.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      this.deadLetterAlarms.push(a);
      dlqAlarms.push(a);
    }

    const graph = (title: string, left: cloudwatch.IMetric[], extra: Partial<cloudwatch.GraphWidgetProps> = {}) =>
      new cloudwatch.GraphWidget({ title, left, width: 12, height: 6, ...extra });
    const line = (label: string, value: number) => ({ label, value, color: '#d62728' });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: namesOf(this).dashboard,
      defaultInterval: Duration.hours(6),
    });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        width: 24,
        height: 4,
        alarms: [
          this.timeToIsolationAlarm,
          this.attestationRejectionAlarm,
          this.auditLagAlarm,
          ...dlqAlarms,
          ...machines.map((m) => m.failureAlarm),
        ],
      }),
    );
    this.dashboard.addWidgets(
      graph(
        'Sessions started by tier',
        TIERS.map((t) => opsMetric('SessionsStarted', 'Sum', { Tier: t }).with({ label: t })),
      ),
      graph(
        'Sessions active by tier',
        TIERS.map((t) => opsMetric('SessionsActive', 'Maximum', { Tier: t }).with({ label: t })),
      ),
    );
    this.dashboard.addWidgets(
      graph('Attestations', [verified.with({ label: 'verified' }), rejected.with({ label: 'rejected' })], {
        right: [rejectionRate],
        rightAnnotations: [line('SLO', slo.attestationRejectionRatePercent)],
      }),
      graph('Attestations rejected by reason', [search('service,Reason} AttestationRejected', 'Sum', '')]),
    );
    this.dashboard.addWidgets(
      graph('Decisions allowed by action', [search('service,Action,Effect,Tier} Decision Effect="allow"', 'Sum', '')]),
      graph('Decisions denied by action', [search('service,Action,Effect,Tier} Decision Effect="deny"', 'Sum', '')]),
    );
    this.dashboard.addWidgets(
      graph(
        'Time to isolation and to evidence (s)',
        [
          isolationP99.with({ label: 'isolation p99' }),
          opsMetric('TimeToIsolation', 'p50').with({ label: 'isolation p50' }),
          opsMetric('TimeToEvidence', 'p99').with({ label: 'evidence p99' }),
        ],
        { leftAnnotations: [line('isolation SLO', slo.timeToIsolationP99Seconds)] },
      ),
      graph(
        'Audit pipeline lag (s) and records rejected by the writer',
        [auditLag.with({ label: 'lag (oldest undigested object)' })],
        {
          leftAnnotations: [line('lag SLO', slo.auditLagSeconds)],
          right: [search('service} AuditRecordRejected', 'Sum', '')],
        },
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Executions failed / timed out',
        machines.flatMap((m) => [
          m.stateMachine.metricFailed({ statistic: 'Sum' }).with({ label: `${where(m)} failed` }),
          m.stateMachine.metricTimedOut({ statistic: 'Sum' }).with({ label: `${where(m)} timed out` }),
        ]),
      ),
      graph(
        'Executions succeeded and p99 duration (ms)',
        machines.map((m) => m.stateMachine.metricSucceeded({ statistic: 'Sum' }).with({ label: where(m) })),
        { right: machines.map((m) => m.stateMachine.metricTime({ statistic: 'p99' }).with({ label: where(m) })) },
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Dead-letter queue depth',
        dlqs.map((q) => q.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' }).with({ label: where(q) })),
        { width: 24 },
      ),
    );
  }
}
