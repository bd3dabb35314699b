/**
 * ScopeGrants: how a session comes to hold a scope. The scope-request table, the
 * workflow's step function and the `aidops-scope-grant` state machine
 * (workflows/scope-grant.ts builds its definition). Grants land on the session
 * item, which is what the decider reads.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { MAX_APPROVAL_SECONDS } from '../../lambdas/sessions/scopes.ts';
import { scopeGrantDefinition } from '../../workflows/scope-grant.ts';
import { acknowledge } from '../nag.ts';
import { namesOf } from '../names.ts';
import { AidopsFunction } from './function.ts';
import { AidopsStateMachine, acknowledgeInvokeVersions } from './workflow.ts';

export interface ScopeGrantsProps {
  /** The session table: grants are written onto session items. */
  readonly sessionTable: dynamodb.ITable;
  /** Encrypts the scope-request table (the session table's key too). */
  readonly dataKey: kms.IKey;
  readonly auditBus: events.IEventBus;
  /** @default no alarm action */
  readonly alarmTopic?: sns.ITopic;
}

export class ScopeGrants extends Construct {
  readonly requests: dynamodb.Table;
  readonly stepFn: AidopsFunction;
  readonly machine: AidopsStateMachine;

  constructor(scope: Construct, id: string, props: ScopeGrantsProps) {
    super(scope, id);
    this.requests = new dynamodb.Table(this, 'Requests', {
      partitionKey: { name: 'requestId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'purgeAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.dataKey,
      // Pending requests hold their approval task tokens.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.stepFn = new AidopsFunction(this, 'Step', {
      entry: 'lambdas/sessions/handlers/scope-step.ts',
      description: 'Scope grants: record a request, apply an approval (two-person rule), expire',
      environment: {
        SESSION_TABLE: props.sessionTable.tableName,
        SCOPE_REQUEST_TABLE: this.requests.tableName,
        AUDIT_BUS_NAME: props.auditBus.eventBusName,
      },
    });
    this.requests.grantReadWriteData(this.stepFn.fn);
    // The session item: read its status and expiry, write the grant. Nothing else on the table.
    props.sessionTable.grant(this.stepFn.fn, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    props.dataKey.grantEncryptDecrypt(this.stepFn.fn);
    props.auditBus.grantPutEventsTo(this.stepFn.fn);

    this.machine = new AidopsStateMachine(this, 'Machine', {
      stateMachineName: namesOf(this).scopeGrantMachine,
      definition: scopeGrantDefinition(this, { step: this.stepFn.fn }),
      // The longest approval window, and an hour for the steps around it.
      timeout: Duration.seconds(MAX_APPROVAL_SECONDS).plus(Duration.hours(1)),
      comment: 'Scope grant: request, wait for a second principal, grant with an expiry, audit; expire if unanswered',
      alarmTopic: props.alarmTopic,
    });
    acknowledgeInvokeVersions(this.machine, [this.stepFn.fn]);
    acknowledge(
      this.machine.stateMachine,
      'AwsSolutions-IAM5[Resource::*]',
      'Only the X-Ray trace and CloudWatch Logs vended-delivery actions CDK adds for tracing and logging; they take no resource ARNs.',
    );
  }

  /** What the people's door needs to answer a request: read the item (its token), answer the token. */
  grantAnswer(grantee: iam.IGrantable): void {
    this.requests.grantReadData(grantee);
    this.machine.stateMachine.grantTaskResponse(grantee);
  }
}
