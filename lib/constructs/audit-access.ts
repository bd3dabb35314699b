/**
 * Who may write the audit trail and sign its digests, by name. The bucket and the
 * signing key live in the stateful stack, the roles in the control plane; the
 * bucket and key policies name the roles by ARNs built from fixed role names, so
 * neither stack references the other's resources (no export, no dependency
 * cycle), and a policy can name a role before it exists (only in conditions:
 * S3 and KMS refuse a Principal that does not exist yet).
 */
import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { headTableName } from '../../lambdas/audit/heads.ts';

export interface AuditNames {
  /** Writes chain objects under the audit prefix. */
  readonly writerRoleName: string;
  /** Writes digests under the audit prefix; the only principal that may use the signing key to sign. */
  readonly digesterRoleName: string;
  /** The tombstone's evidence function: writes packets under the evidence prefix. */
  readonly evidenceRoleName: string;
  /** The chain-head table (the CLI finds it by the environment's name). */
  readonly headTableName: string;
}

/**
 * Names per environment. IAM names are account-wide, so role names carry the
 * region too (≤ 64 characters: environment names are at most 21).
 */
export function auditNames(environment: string): AuditNames {
  const role = (what: string) => `aidops-${environment}-${Aws.REGION}-audit-${what}`;
  return {
    writerRoleName: role('writer'),
    digesterRoleName: role('digester'),
    evidenceRoleName: role('evidence'),
    headTableName: headTableName(environment),
  };
}

/** The ARN of the role named `name` in `scope`'s account. */
export function roleArnOf(scope: Construct, name: string): string {
  return Stack.of(scope).formatArn({ service: 'iam', region: '', resource: 'role', resourceName: name });
}

/** Gives a CDK-made role a fixed name (the policies that name it need to know it before it exists). */
export function nameRole(role: iam.IRole, name: string): void {
  (role.node.defaultChild as iam.CfnRole).roleName = name;
}

/**
 * What the account (the key's administrators, through IAM) keeps on the signing
 * key: enough to manage it — read it and its policy, tag it, name it, turn it
 * off, schedule its deletion, and change its policy (needed so the key can never
 * become unmanageable; KMS refuses a policy that locks its own editor out) — but
 * not `kms:*`: no Sign, no CreateGrant (a grant would be a second way to sign).
 * GetPublicKey stays open: auditors verify with the public key.
 */
export const SIGNING_KEY_ADMIN_ACTIONS = [
  'kms:DescribeKey',
  'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:GetPublicKey',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListResourceTags',
  'kms:PutKeyPolicy',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:CreateAlias',
  'kms:UpdateAlias',
  'kms:DeleteAlias',
  'kms:UpdateKeyDescription',
  'kms:EnableKey',
  'kms:DisableKey',
  'kms:RevokeGrant',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
] as const;

/** The digest signing key's policy: administration for the account, Sign for the digester role only. */
export function signingKeyPolicy(signerRoleArn: string): iam.PolicyDocument {
  const account = new iam.AccountRootPrincipal();
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'AccountAdministersTheKey',
        principals: [account],
        actions: [...SIGNING_KEY_ADMIN_ACTIONS],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'DigesterSigns',
        principals: [account],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { ArnEquals: { 'aws:PrincipalArn': signerRoleArn } },
      }),
      new iam.PolicyStatement({
        sid: 'NobodyElseSigns',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': signerRoleArn } },
      }),
    ],
  });
}

/** The ECC_NIST_P384 digest signing key, retained (old digests stay verifiable), signable by `signerRoleArn` only. */
export function newSigningKey(
  scope: Construct,
  id: string,
  props: { signerRoleArn: string; alias?: string; description: string },
): kms.Key {
  return new kms.Key(scope, id, {
    alias: props.alias,
    description: props.description,
    keySpec: kms.KeySpec.ECC_NIST_P384,
    keyUsage: kms.KeyUsage.SIGN_VERIFY,
    policy: signingKeyPolicy(props.signerRoleArn),
    removalPolicy: RemovalPolicy.RETAIN,
    pendingWindow: Duration.days(30),
  });
}
