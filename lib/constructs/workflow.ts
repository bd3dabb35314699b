import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { namesOf } from '../names.ts';
import { logsKeyOf } from './logs-key.ts';

export interface AidopsStateMachineProps {
  /** The state machine's name as people see it in the console. */
  readonly stateMachineName: string;
  readonly definition: sfn.IChainable;
  /** Whole-execution timeout; every machine has one. */
  readonly timeout: Duration;
  readonly comment: string;
  /** @default logs.RetentionDays.ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
  /** Topic that failed or timed-out executions page. @default no alarm action */
  readonly alarmTopic?: sns.ITopic;
  /** Encrypts execution history and the log group's data key use. @default AWS-owned key */
  readonly encryptionKey?: kms.IKey;
}

/**
 * A Standard state machine with the project's non-negotiables: JSONPath, log
 * level ALL with execution data to a retained log group, X-Ray tracing, an
 * execution timeout, and an alarm on failed or timed-out executions.
 */
export class AidopsStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly failureAlarm: cloudwatch.Alarm;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: AidopsStateMachineProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: namesOf(this).workflowLogGroup(props.stateMachineName),
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.DESTROY,
      encryptionKey: logsKeyOf(this),
    });
    this.stateMachine = new sfn.StateMachine(this, 'Resource', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
      comment: props.comment,
      timeout: props.timeout,
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      encryptionConfiguration: props.encryptionKey
        ? new sfn.CustomerManagedEncryptionConfiguration(props.encryptionKey, Duration.minutes(5))
        : undefined,
    });
    const failed = this.stateMachine.metricFailed({ period: Duration.minutes(1), statistic: 'Sum' });
    const timedOut = this.stateMachine.metricTimedOut({ period: Duration.minutes(1), statistic: 'Sum' });
    this.failureAlarm = new cloudwatch.Alarm(this, 'FailedOrTimedOut', {
      alarmDescription: `${props.stateMachineName}: an execution failed or timed out`,
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(failed, 0) + FILL(timedOut, 0)',
        usingMetrics: { failed, timedOut },
        period: Duration.minutes(1),
        label: 'FailedOrTimedOut',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) this.failureAlarm.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
  }
}

/**
 * Step Functions' LambdaInvoke grants `<fn>:*` (any version or alias) next to the
 * function itself; acknowledge exactly that finding, for exactly these functions.
 */
export function acknowledgeInvokeVersions(machine: AidopsStateMachine, fns: readonly lambda.IFunction[]): void {
  const stack = Stack.of(machine);
  for (const fn of fns) {
    const logicalId = stack.resolve((fn.node.defaultChild as CfnElement).logicalId) as string;
    Validations.of(machine.stateMachine).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
      reason: 'LambdaInvoke grants the function and its versions/aliases; only this project function is named.',
    });
  }
}
