/**
 * The operator roles the stack makes, each least-privilege (docs/operators.md):
 *
 *   responder      the door's incident routes: tombstone, restore, status/report. No approvals.
 *   approver       the door's approve and reject routes. Nothing else.
 *   auditor        read only: the audit bucket (objects, versions, retention and legal hold),
 *                  evidence packets in it, the digest key's public half (GetPublicKey, Verify),
 *                  the audit head table. No write anywhere.
 *   administrator  the door's flags route; policy publish (the policy bucket and its SSM pointer).
 *
 * Each is assumable by principals of this account with MFA (or by the principals named
 * in `aidops:operatorPrincipals`, with MFA). `execute-api:Invoke` is granted per route ARN.
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { grantAcknowledged } from '../nag.ts';
import type { PeopleDoor, PeopleRoute } from './people-door.ts';

export const OPERATOR_ROLES = ['responder', 'approver', 'auditor', 'administrator'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export interface OperatorRolesProps {
  readonly door: PeopleDoor;
  /** The audit bucket's ARN (another stack's: by its explicit export). */
  readonly auditBucketArn: string;
  readonly auditKey: kms.IKey;
  readonly digestKey: kms.IKey;
  readonly headTableArn: string;
  /** Where evidence packets are in the audit bucket. @default 'evidence/' */
  readonly evidencePrefix?: string;
  readonly policyBucket: s3.IBucket;
  readonly policyPointer: ssm.IStringParameter;
  /** Who may assume the roles (always with MFA). @default this account's principals */
  readonly trustedPrincipals?: readonly string[];
}

const MFA = { Bool: { 'aws:MultiFactorAuthPresent': 'true' } };

const ROUTES: Readonly<Record<Exclude<OperatorRole, 'auditor'>, readonly PeopleRoute[]>> = {
  responder: ['tombstone', 'restore', 'status'],
  approver: ['approve', 'reject'],
  administrator: ['flags'],
};

export class OperatorRoles extends Construct {
  readonly roles: Readonly<Record<OperatorRole, iam.Role>>;

  constructor(scope: Construct, id: string, props: OperatorRolesProps) {
    super(scope, id);
    const trusted = props.trustedPrincipals?.length
      ? new iam.CompositePrincipal(...props.trustedPrincipals.map((a) => new iam.ArnPrincipal(a)))
      : new iam.AccountRootPrincipal();
    const role = (name: OperatorRole, description: string) =>
      new iam.Role(this, name[0]!.toUpperCase() + name.slice(1), {
        assumedBy: trusted.withConditions(MFA),
        description,
      });
    this.roles = {
      responder: role('responder', 'ai-desktop-ops responder: tombstone, restore, incident status and report'),
      approver: role('approver', 'ai-desktop-ops approver: approve or reject restores, plugins, scope grants'),
      auditor: role('auditor', 'ai-desktop-ops auditor: read the audit trail and evidence, verify digests'),
      administrator: role('administrator', 'ai-desktop-ops administrator: flags, policy publish'),
    };
    for (const [name, routes] of Object.entries(ROUTES) as [keyof typeof ROUTES, readonly PeopleRoute[]][])
      grantAcknowledged(
        this.roles[name],
        new iam.PolicyStatement({
          actions: ['execute-api:Invoke'],
          resources: routes.map((r) => props.door.routeArn(r)),
        }),
        'Route ARNs of the people door; the path parameters (kind, id, execution, capability) are made at run time.',
      );
    this.auditor(props);
    this.administrator(props);
  }

  private auditor(props: OperatorRolesProps): void {
    const r = this.roles.auditor;
    const prefix = props.evidencePrefix ?? 'evidence/';
    r.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketObjectLockConfiguration'],
        resources: [props.auditBucketArn],
      }),
    );
    grantAcknowledged(
      r,
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectRetention', 's3:GetObjectLegalHold'],
        resources: [`${props.auditBucketArn}/*`, `${props.auditBucketArn}/${prefix}*`],
      }),
      'Audit objects and evidence packets are keyed by chain, time and incident at run time; read only.',
    );
    r.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [props.auditKey.keyArn] }));
    r.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:GetPublicKey', 'kms:Verify', 'kms:DescribeKey'],
        resources: [props.digestKey.keyArn],
      }),
    );
    r.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:DescribeTable'],
        resources: [props.headTableArn],
      }),
    );
  }

  private administrator(props: OperatorRolesProps): void {
    const r = this.roles.administrator;
    grantAcknowledged(
      r,
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [props.policyBucket.arnForObjects('*')] }),
      'Policy bundles are keyed by version at publish time.',
    );
    r.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ssm:PutParameter', 'ssm:GetParameter'],
        resources: [props.policyPointer.parameterArn],
      }),
    );
    const key = props.policyBucket.encryptionKey;
    if (key) key.grant(r, 'kms:GenerateDataKey', 'kms:Encrypt');
  }
}
