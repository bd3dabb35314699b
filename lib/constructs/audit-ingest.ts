import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { INTEGRITY_METRIC } from '../../lambdas/audit/integrity.ts';
import { parsePrivacyConfig } from '../../lambdas/audit/redact.ts';
import { AUDIT_DETAIL_TYPE, AUDIT_EVENT_SOURCE } from '../../lambdas/audit/schema.ts';
import { acknowledge, acknowledgeStatement } from '../nag.ts';
import { namesOf } from '../names.ts';
import { type AuditNames, nameRole, newSigningKey } from './audit-access.ts';
import type { AuditBucket } from './audit-bucket.ts';
import { AidopsFunction } from './function.ts';

export interface AuditIngestProps {
  readonly auditBucket: AuditBucket;
  /**
   * The audit bucket's ARN as this stack references it. When the bucket lives in
   * another stack, pass the import of an export with an explicit name
   * (StatefulStack.auditBucketArn): cdk-nag names an import by its export name, so
   * the grants' acknowledgements can name it too.
   * @default auditBucket.bucket.bucketArn (same stack)
   */
  readonly bucketArn?: string;
  /** @default 'audit/' */
  readonly prefix?: string;
  /** Privacy config (see lambdas/audit/redact.ts), validated at synth. @default tokenize prompt text, file contents, user ids */
  readonly privacy?: unknown;
  /** Receives before a bad record goes to the DLQ. @default 5 */
  readonly maxReceiveCount?: number;
  /** Records per writer invocation (one object per session per batch). @default 100 */
  readonly batchSize?: number;
  /** @default Duration.seconds(5) */
  readonly maxBatchingWindow?: Duration;
  /** @default events.Schedule.rate(Duration.hours(1)) */
  readonly digestSchedule?: events.Schedule;
  /** @default a new bus named `aidops-<env>-audit` */
  readonly eventBus?: events.IEventBus;
  /** @default a new ECC_NIST_P384 SIGN_VERIFY key, retained, that only the digester may Sign with */
  readonly signingKey?: kms.IKey;
  /**
   * Fixed names for the writer and digester roles and the head table: the
   * stateful stack's bucket and key policies name the roles by them (audit-access.ts).
   * @default CloudFormation-generated names
   */
  readonly names?: Pick<AuditNames, 'writerRoleName' | 'digesterRoleName' | 'headTableName'>;
  /** Integrity alarms (a squatted chain key, a refused digest) and the DLQ alarm notify this topic. @default none */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Reserved concurrency of the writer and the digester, so a flood of other
   * invocations cannot starve the audit trail (the account must keep 10 unreserved).
   * @default { writer: 5, digester: 1 } (one digester at a time: digests chain too)
   */
  readonly reservedConcurrency?: { readonly writer: number; readonly digester: number };
}

/** Powertools `service` dimension of the writer's and digester's metrics (the alarms select on it). */
export const WRITER_SERVICE = 'aidops-audit-writer';
export const DIGESTER_SERVICE = 'aidops-audit-digester';

/**
 * Audit ingest: agents and workflows put events on the bus; a rule (source
 * `aidops`, detail-type `AuditEvent`) feeds an SQS queue with a DLQ; the writer
 * Lambda chains them into the audit bucket with partial batch failures; the
 * digest Lambda signs per-chain digests on a schedule.
 */
export class AuditIngest extends Construct {
  readonly bus: events.IEventBus;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly headTable: dynamodb.Table;
  readonly hmacSecret: secretsmanager.Secret;
  readonly signingKey: kms.IKey;
  readonly writer: AidopsFunction;
  readonly digester: AidopsFunction;
  readonly dlqAlarm: cloudwatch.Alarm;
  /** A chain key held an object the writer did not write (it skipped it). */
  readonly writerIntegrityAlarm: cloudwatch.Alarm;
  /** The digester refused to sign a chain, or found a digest key squatted. */
  readonly digesterIntegrityAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AuditIngestProps) {
    super(scope, id);
    const prefix = props.prefix ?? 'audit/';
    const privacy = parsePrivacyConfig(props.privacy ?? {});
    const audit = props.auditBucket;

    this.bus = props.eventBus ?? new events.EventBus(this, 'Bus', { eventBusName: namesOf(this).auditBus });
    // Queued events are audit data: the audit key encrypts them (its policy lets EventBridge deliver).
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: audit.encryptionKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const writerTimeout = Duration.seconds(60);
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: audit.encryptionKey,
      enforceSSL: true,
      // AWS guidance: at least 6x the function timeout, so retries do not overlap.
      visibilityTimeout: Duration.seconds(writerTimeout.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });
    new events.Rule(this, 'ToQueue', {
      eventBus: this.bus,
      description: 'audit events to the writer queue',
      eventPattern: { source: [AUDIT_EVENT_SOURCE], detailType: [AUDIT_DETAIL_TYPE] },
      targets: [new targets.SqsQueue(this.queue)],
    });

    // Chain heads: the only record of where each chain ends (the writer trusts nothing in the bucket); PITR.
    this.headTable = new dynamodb.Table(this, 'ChainHeads', {
      tableName: props.names?.headTableName,
      partitionKey: { name: 'chain', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: audit.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.hmacSecret = new secretsmanager.Secret(this, 'HmacKey', {
      description: 'ai-desktop-ops: HMAC key that tokenizes sensitive audit fields',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      encryptionKey: audit.encryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.hmacSecret,
      'AwsSolutions-SMG4',
      'The HMAC key tokenizes identifiers so equal values give equal tokens across the trail; automatic rotation would silently break that. Rotation is a deliberate, documented operation (docs/audit.md).',
    );
    const bucket = props.bucketArn
      ? s3.Bucket.fromBucketAttributes(this, 'AuditBucket', {
          bucketArn: props.bucketArn,
          bucketName: audit.bucket.bucketName,
          encryptionKey: audit.encryptionKey,
        })
      : audit.bucket;
    /** Writer and digester write (create-only) and read back the objects of every chain. */
    const grantObjects = (fn: AidopsFunction) => {
      for (const grant of [bucket.grantPut(fn), bucket.grantRead(fn)]) {
        for (const s of grant.principalStatements) {
          acknowledgeStatement(
            fn.fn.role!,
            s,
            'Writes audit objects and digests for every session chain in the audit bucket (Object Lock forbids overwrites).',
          );
        }
      }
    };
    const common = {
      AUDIT_BUCKET: audit.bucket.bucketName,
      AUDIT_PREFIX: prefix,
      AUDIT_KMS_KEY_ID: audit.encryptionKey.keyArn,
      AUDIT_RETENTION_DAYS: String(audit.retentionDays),
      AUDIT_LOCK_MODE: 'COMPLIANCE',
      AUDIT_HEAD_TABLE: this.headTable.tableName,
      AUDIT_BUS_NAME: this.bus.eventBusName,
    };
    this.writer = new AidopsFunction(this, 'Writer', {
      entry: 'lambdas/audit/handlers/writer.ts',
      description: 'Validates, redacts and chains audit events into the Object-Locked bucket',
      timeout: writerTimeout,
      reservedConcurrentExecutions: props.reservedConcurrency?.writer ?? 5,
      environment: {
        ...common,
        POWERTOOLS_SERVICE_NAME: WRITER_SERVICE,
        AUDIT_HMAC_SECRET_ID: this.hmacSecret.secretArn,
        AUDIT_PRIVACY_CONFIG: JSON.stringify(privacy),
      },
    });
    this.writer.fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: props.batchSize ?? 100,
        maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(5),
        reportBatchItemFailures: true,
      }),
    );
    grantObjects(this.writer);
    this.headTable.grantReadWriteData(this.writer);
    // Granted on the writer's own policy: Secret.grantRead would put the key's grant in the key
    // policy, and the key lives in the stateful stack (a reference cycle between the stacks).
    this.writer.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        resources: [this.hmacSecret.secretArn],
      }),
    );
    this.writer.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [audit.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
      }),
    );
    this.bus.grantPutEventsTo(this.writer.fn);

    this.digester = new AidopsFunction(this, 'Digester', {
      entry: 'lambdas/audit/handlers/digest.ts',
      description: 'Signs per-chain audit digests (KMS ECDSA P-384) and Object-Locks them',
      timeout: Duration.minutes(5),
      reservedConcurrentExecutions: props.reservedConcurrency?.digester ?? 1,
      environment: { ...common, POWERTOOLS_SERVICE_NAME: DIGESTER_SERVICE },
    });
    if (props.names) {
      nameRole(this.writer.fn.role!, props.names.writerRoleName);
      nameRole(this.digester.fn.role!, props.names.digesterRoleName);
    }
    this.signingKey =
      props.signingKey ??
      newSigningKey(this, 'SigningKey', {
        description: 'ai-desktop-ops: signs audit digests (ECDSA P-384)',
        signerRoleArn: this.digester.fn.role!.roleArn,
      });
    this.digester.fn.addEnvironment('AUDIT_SIGNING_KEY_ID', this.signingKey.keyArn);
    grantObjects(this.digester);
    this.bus.grantPutEventsTo(this.digester.fn);
    this.headTable.grantReadWriteData(this.digester);
    this.signingKey.grantSign(this.digester);
    this.signingKey.grant(this.digester, 'kms:GetPublicKey');
    new events.Rule(this, 'DigestSchedule', {
      description: 'hourly signed audit digests',
      schedule: props.digestSchedule ?? events.Schedule.rate(Duration.hours(1)),
      targets: [new targets.LambdaFunction(this.digester.fn, { retryAttempts: 2 })],
    });

    this.dlqAlarm = new cloudwatch.Alarm(this, 'DeadLettersAlarm', {
      alarmDescription: 'audit events were rejected (see writer logs: AuditRecordRejected.<code>)',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const integrity = (id: string, service: string, description: string) =>
      new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric: new cloudwatch.Metric({
          namespace: 'AiDesktopOps',
          metricName: INTEGRITY_METRIC,
          dimensionsMap: { service },
          statistic: cloudwatch.Stats.SUM,
          period: Duration.minutes(5),
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    this.writerIntegrityAlarm = integrity(
      'WriterIntegrityAlarm',
      WRITER_SERVICE,
      'an audit chain key held an object the writer did not write: someone other than the writer can put objects in the audit bucket (the chain skipped it; see the audit-integrity event)',
    );
    this.digesterIntegrityAlarm = integrity(
      'DigesterIntegrityAlarm',
      DIGESTER_SERVICE,
      'the audit digester refused to sign a chain whose new objects do not check out, or found a digest key squatted (see the audit-integrity event)',
    );
    if (props.alarmTopic) {
      for (const a of [this.dlqAlarm, this.writerIntegrityAlarm, this.digesterIntegrityAlarm]) {
        a.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
      }
    }
  }
}
