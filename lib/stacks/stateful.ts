import { Aws, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { AppConfig } from '../config.ts';
import { type AuditNames, auditNames, newSigningKey, roleArnOf } from '../constructs/audit-access.ts';
import { AuditBucket } from '../constructs/audit-bucket.ts';
import { useForLogs } from '../constructs/logs-key.ts';
import { ENVIRONMENT_CONTEXT, namesOf } from '../names.ts';

export interface StatefulStackProps extends StackProps {
  readonly config: AppConfig;
}

/**
 * What must outlive any redeploy: customer keys and (with the audit issue) the
 * Object-Locked audit bucket. Termination protection on; keys retained.
 */
export class StatefulStack extends Stack {
  /** Encrypts session volumes, secrets, tables, queues and logs. */
  readonly dataKey: kms.Key;
  /** Object Lock (COMPLIANCE) audit bucket, its key and its access-log bucket. */
  readonly audit: AuditBucket;
  /** Signs audit digests (ECC_NIST_P384 / ECDSA_SHA_384); retained so old digests stay verifiable. */
  readonly auditSigningKey: kms.Key;
  /**
   * The audit bucket's ARN as other stacks import it: exported under an explicit
   * name, which is how cdk-nag names the import in findings on grants over it.
   */
  readonly auditBucketArn: string;
  /** The roles the bucket and key policies let write and sign, by name (the control plane names its roles so). */
  readonly auditNames: AuditNames;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, { ...props, terminationProtection: true });
    this.node.setContext(ENVIRONMENT_CONTEXT, props.config.environment);
    this.dataKey = new kms.Key(this, 'DataKey', {
      alias: namesOf(this).dataKeyAlias,
      description: 'ai-desktop-ops: session volumes, secrets, tables, queues, execution history',
      enableKeyRotation: true,
      rotationPeriod: Duration.days(365),
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
    useForLogs(this, this.dataKey);
    // Dead-letter queues of EventBridge targets are encrypted with it: EventBridge writes into them.
    this.dataKey.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    this.audit = new AuditBucket(this, 'Audit', { retentionDays: props.config.auditRetentionDays });
    // A stable logical id: renaming the construct must never replace a bucket of locked evidence.
    this.audit.pinLogicalId('AuditBucketPinned');
    this.auditBucketArn = this.exportValue(this.audit.bucket.bucketArn, { name: `${this.stackName}:AuditBucketArn` });
    this.auditNames = auditNames(props.config.environment);
    const arn = (name: string) => roleArnOf(this, name);
    // Writes under audit/ by the writer and digester only, under evidence/ by the tombstone's evidence role only.
    this.audit.restrictWrites([
      {
        prefix: AUDIT_PREFIX,
        principalArns: [arn(this.auditNames.writerRoleName), arn(this.auditNames.digesterRoleName)],
      },
      { prefix: EVIDENCE_PREFIX, principalArns: [arn(this.auditNames.evidenceRoleName)] },
    ]);
    this.auditSigningKey = newSigningKey(this, 'AuditSigningKey', {
      alias: namesOf(this).digestKeyAlias,
      description: 'ai-desktop-ops: signs audit chain digests',
      signerRoleArn: arn(this.auditNames.digesterRoleName),
    });
  }
}

/** Where chain objects and digests go, and where the tombstone writes evidence packets (their defaults). */
export const AUDIT_PREFIX = 'audit/';
export const EVIDENCE_PREFIX = 'evidence/';
