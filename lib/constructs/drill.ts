/**
 * The scheduled game day (off by default, `aidops:drill`): a function that runs one drill
 * (lambdas/remediation/drill/run.ts) on a schedule. It may start and follow executions of the session and
 * tombstone machines, end the canary it started (task tokens of the session machine), read the session
 * table and write the audit bus; nothing else.
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { DrillConfig } from '../../lambdas/remediation/drill/config.ts';
import { grantAcknowledged } from '../nag.ts';
import { AidopsFunction } from './function.ts';
import { sessionExecutionsArn, sessionMachineArn } from './sessions/arns.ts';

export interface GameDayProps {
  readonly config: DrillConfig;
  /** The objective the drill holds time to isolation to (aidops:slo.timeToIsolationP99Seconds). @default 60 */
  readonly objectiveSeconds?: number;
  readonly tombstoneMachine: sfn.IStateMachine;
  readonly sessionTable: dynamodb.ITable;
  readonly auditBus: events.IEventBus;
}

export class GameDay extends Construct {
  readonly fn: AidopsFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: GameDayProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const sessionMachine = sessionMachineArn(this);
    this.fn = new AidopsFunction(this, 'Fn', {
      entry: 'lambdas/remediation/handlers/drill.ts',
      description: 'Game day: a canary session, a dry-run tombstone, time to isolation against the objective',
      timeout: Duration.seconds(props.config.timeoutSeconds + 60),
      // One drill at a time.
      reservedConcurrentExecutions: 1,
      environment: {
        SESSION_MACHINE_ARN: sessionMachine,
        TOMBSTONE_MACHINE_ARN: props.tombstoneMachine.stateMachineArn,
        SESSION_TABLE: props.sessionTable.tableName,
        AUDIT_BUS_NAME: props.auditBus.eventBusName,
        DRILL_USE_CASE: props.config.useCase,
        DRILL_OBJECTIVE_SECONDS: String(props.objectiveSeconds ?? 60),
        DRILL_TIMEOUT_SECONDS: String(props.config.timeoutSeconds),
      },
    });
    const fn = this.fn.fn;
    const role = fn.role!;
    props.sessionTable.grantReadData(fn);
    props.auditBus.grantPutEventsTo(fn);
    props.tombstoneMachine.grantStartExecution(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:StartExecution', 'states:SendTaskFailure', 'states:SendTaskSuccess'],
        resources: [sessionMachine],
      }),
    );
    const tombstoneName = stack.splitArn(
      props.tombstoneMachine.stateMachineArn,
      ArnFormat.COLON_RESOURCE_NAME,
    ).resourceName;
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
        resources: [
          sessionExecutionsArn(this),
          stack.formatArn({
            service: 'states',
            resource: 'execution',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            resourceName: `${tombstoneName}:*`,
          }),
        ],
      }),
      'The drill follows the executions it starts, named at run time, of these two machines only.',
    );
    this.rule = new events.Rule(this, 'Schedule', {
      description: 'ai-desktop-ops game day (drill)',
      schedule: events.Schedule.expression(props.config.schedule),
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 0 })],
    });
  }
}
