/**
 * cdk-nag acknowledgements that recur on every function role. Each names one
 * finding and says why; anything not listed here is acknowledged next to the
 * resource that causes it (or fixed).
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Action families that CDK's grant* methods emit, always scoped to the granted resource. */
const GRANT_FAMILIES: readonly [string, string][] = [
  ['kms:GenerateDataKey*', 'key.grantEncrypt*/bucket/table/queue grants: data keys of the one customer key granted'],
  ['kms:ReEncrypt*', 'key.grantEncryptDecrypt (via resource grants): re-encrypt under the one customer key granted'],
  ['s3:GetObject*', 'bucket.grantRead: object reads (incl. versions, retention, legal hold) on the granted bucket'],
  ['s3:GetBucket*', 'bucket.grantRead: bucket metadata of the granted bucket only'],
  ['s3:List*', 'bucket.grantRead: listing the granted bucket only'],
  ['s3:Abort*', 'bucket.grantPut/Write: aborting multipart uploads to the granted bucket only'],
  [
    's3:DeleteObject*',
    'bucket.grantDelete/ReadWrite: the granted bucket only; Object Lock still forbids deleting locked versions',
  ],
  ['s3:PutObject*', 'bucket.grantWrite: object writes (incl. retention, legal hold) to the granted bucket only'],
];

export function acknowledgeGrantFamilies(role: IConstruct): void {
  for (const [action, reason] of GRANT_FAMILIES) {
    Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[Action::${action}]`, reason });
  }
}

/** One finding, one reason, on one construct. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}
