/**
 * Where evidence packets go: the Object-Locked audit bucket and its key. The
 * tombstone's evidence function writes packets, the restore's plan reads them;
 * both grants are written here, each beside its cdk-nag acknowledgement.
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeStatement, grantAcknowledged } from '../../nag.ts';
import type { AidopsFunction } from '../function.ts';

export interface EvidenceStoreProps {
  /** The Object-Locked audit bucket (stateful stack). */
  readonly bucket: s3.IBucket;
  /**
   * The bucket's ARN as an explicitly named import (`StatefulStack.auditBucketArn`), when the bucket
   * lives in another stack: cdk-nag names an import by its export name. @default the bucket's own ARN
   */
  readonly bucketArn?: string;
  /** Its SSE-KMS key. */
  readonly key: kms.IKey;
  /** COMPLIANCE retention of a packet (the legal hold keeps it past that). */
  readonly retentionDays: number;
  /** @default 'audit/' */
  readonly auditPrefix?: string;
  /** Where packets go in the bucket. @default 'evidence/' */
  readonly prefix?: string;
}

export class EvidenceStore extends Construct {
  /** The bucket as this stack names it: through the named import when it lives in another stack. */
  readonly bucket: s3.IBucket;
  readonly key: kms.IKey;
  readonly retentionDays: number;
  readonly auditPrefix: string;
  readonly prefix: string;

  constructor(scope: Construct, id: string, props: EvidenceStoreProps) {
    super(scope, id);
    this.bucket = props.bucketArn
      ? s3.Bucket.fromBucketAttributes(this, 'Bucket', { bucketArn: props.bucketArn, encryptionKey: props.key })
      : props.bucket;
    this.key = props.key;
    this.retentionDays = props.retentionDays;
    this.auditPrefix = props.auditPrefix ?? 'audit/';
    this.prefix = props.prefix ?? 'evidence/';
  }

  /** What the evidence function reads its configuration from. */
  environment(): Record<string, string> {
    return {
      EVIDENCE_BUCKET: this.bucket.bucketName,
      EVIDENCE_KMS_KEY_ID: this.key.keyArn,
      EVIDENCE_RETENTION_DAYS: String(this.retentionDays),
      AUDIT_PREFIX: this.auditPrefix,
      EVIDENCE_PREFIX: this.prefix,
    };
  }

  /** Reads the session audit objects and writes packets (locked, held) under the evidence prefix. */
  grantWritePackets(fn: AidopsFunction): void {
    const role = fn.fn.role!;
    const why =
      'Reads the session audit objects and writes evidence packets in the audit bucket (Object Lock forbids overwrites).';
    for (const grant of [this.bucket.grantRead(fn.fn), this.bucket.grantPut(fn.fn, `${this.prefix}*`)])
      for (const statement of grant.principalStatements) acknowledgeStatement(role, statement, why);
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['s3:PutObjectRetention', 's3:PutObjectLegalHold', 's3:GetObjectLegalHold'],
        resources: [this.bucket.arnForObjects(`${this.prefix}*`)],
      }),
      `Legal hold and retention on evidence packets only (the ${this.prefix} prefix).`,
    );
    this.key.grantEncryptDecrypt(fn.fn);
  }

  /** Lists the session audit chains' object versions (the tombstone's wait for the audit pipeline); reads nothing. */
  grantListAudit(fn: AidopsFunction): void {
    grantAcknowledged(
      fn.fn.role!,
      new iam.PolicyStatement({
        actions: ['s3:ListBucketVersions', 's3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${this.auditPrefix}chains/*`] } },
      }),
      `Lists only the audit chains (condition on the ${this.auditPrefix}chains/ prefix).`,
    );
  }

  /** Reads packets (the restore plan takes the original groups from one). */
  grantReadPackets(fn: AidopsFunction): void {
    const why = 'Reads evidence packets in the audit bucket (the original groups, protection and profile).';
    for (const statement of this.bucket.grantRead(fn.fn).principalStatements)
      acknowledgeStatement(fn.fn.role!, statement, why);
    this.key.grantDecrypt(fn.fn);
  }
}
