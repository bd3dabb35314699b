/**
 * The playbook's own case, detected: a subscription filter on the session
 * VPC's flow logs hands REJECT records to the network-watch function, which
 * raises one `SuspiciousEgress` (and its `security` audit event) per burst from
 * a session interface; the remediation rules act on it by the session's tier.
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as destinations from 'aws-cdk-lib/aws-logs-destinations';
import { Construct } from 'constructs';
import { grantAcknowledged } from '../nag.ts';
import { AidopsFunction } from './function.ts';

export interface NetworkWatchProps {
  /** The flow-log group (default v2 format: lib/constructs/network.ts). */
  readonly flowLogs: logs.ILogGroup;
  /** Where SuspiciousEgress and the audit events go. */
  readonly auditBus: events.IEventBus;
  /** Holds the burst claims (one incident per burst), with a TTL. */
  readonly incidentTable: dynamodb.ITable;
  /** How long a burst stays one incident. @default 15 minutes */
  readonly burstWindow?: Duration;
}

/**
 * REJECT records only, by the default v2 format's fields (the 13th is the action).
 * NODATA/SKIPDATA records have `-` there and are not delivered.
 */
export const REJECT_PATTERN = logs.FilterPattern.spaceDelimited(
  'version',
  'account',
  'eni',
  'source',
  'destination',
  'srcport',
  'destport',
  'protocol',
  'packets',
  'bytes',
  'windowstart',
  'windowend',
  'action',
  'flowlogstatus',
).whereString('action', '=', 'REJECT');

export class NetworkWatch extends Construct {
  readonly fn: AidopsFunction;
  readonly filter: logs.SubscriptionFilter;

  constructor(scope: Construct, id: string, props: NetworkWatchProps) {
    super(scope, id);
    this.fn = new AidopsFunction(this, 'Watch', {
      entry: 'lambdas/network-watch/handlers/watch.ts',
      description: 'Rejected flow-log records from session interfaces to one SuspiciousEgress per burst',
      timeout: Duration.seconds(60),
      environment: {
        INCIDENT_TABLE: props.incidentTable.tableName,
        AUDIT_BUS_NAME: props.auditBus.eventBusName,
        BURST_WINDOW_SECONDS: String((props.burstWindow ?? Duration.minutes(15)).toSeconds()),
      },
    });
    const fn = this.fn.fn;
    grantAcknowledged(
      fn.role!,
      new iam.PolicyStatement({
        actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeInstances'],
        resources: ['*'],
      }),
      'ec2:DescribeNetworkInterfaces and ec2:DescribeInstances do not support resource-level permissions (the watch reads which session an interface belongs to).',
    );
    props.incidentTable.grantReadWriteData(fn);
    props.auditBus.grantPutEventsTo(fn);
    this.filter = new logs.SubscriptionFilter(this, 'RejectedFlows', {
      logGroup: props.flowLogs,
      destination: new destinations.LambdaDestination(fn),
      filterPattern: REJECT_PATTERN,
    });
  }
}
