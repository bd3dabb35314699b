import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { AppConfig } from '../config.ts';
import { AuditBucket } from '../constructs/audit-bucket.ts';
import { useForLogs } from '../constructs/logs-key.ts';

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

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, { ...props, terminationProtection: true });
    this.dataKey = new kms.Key(this, 'DataKey', {
      alias: `alias/aidops-${props.config.environment}-data`,
      description: 'ai-desktop-ops: session volumes, secrets, tables, queues, execution history',
      enableKeyRotation: true,
      rotationPeriod: Duration.days(365),
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
    useForLogs(this, this.dataKey);
    this.audit = new AuditBucket(this, 'Audit', { retentionDays: props.config.auditRetentionDays });
    // A stable logical id: renaming the construct must never replace a bucket of locked evidence.
    this.audit.pinLogicalId('AuditBucketPinned');
    this.auditBucketArn = this.exportValue(this.audit.bucket.bucketArn, { name: `${this.stackName}:AuditBucketArn` });
    this.auditSigningKey = new kms.Key(this, 'AuditSigningKey', {
      alias: `alias/aidops-${props.config.environment}-audit-digest`,
      description: 'ai-desktop-ops: signs audit chain digests',
      keySpec: kms.KeySpec.ECC_NIST_P384,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
  }
}
