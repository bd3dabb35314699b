/**
 * cdk-nag acknowledgements, written one way: next to the grant or resource that
 * causes them, each naming one finding with its reason.
 *
 * - `grantAcknowledged(grantee, statement, reason)`: adds a statement to a role's
 *   policy and acknowledges, beside it, each wildcard finding it raises, with the
 *   finding id computed the way cdk-nag computes it (no hand-built ids).
 * - `acknowledge(scope, id, reason)`: any other finding on one construct.
 * - `acknowledgeGrantFamilies(role)`: the action families CDK's grant* methods emit.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
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

/**
 * How cdk-nag names a resource in an IAM5 finding: the value resolved in `scope`'s
 * stack and flattened (`<Logical.Arn>`, `<AWS::Partition>`, an import's export name).
 */
export function nagResource(scope: IConstruct, value: string): string {
  return flatten(Stack.of(scope).resolve(value));
}

function flatten(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
  const o = node as Record<string, unknown>;
  if (o['Fn::Join']) {
    const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
    return items.map(flatten).join(delimiter);
  }
  if (o['Fn::Sub']) return flatten(o['Fn::Sub']);
  if (o['Fn::GetAtt']) {
    const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
    return `<${flatten(resource)}.${flatten(attribute)}>`;
  }
  if (o['Fn::ImportValue']) return flatten(o['Fn::ImportValue']);
  if (o.Ref) return `<${flatten(o.Ref)}>`;
  return JSON.stringify(node);
}

/**
 * Adds `statement` to `role`'s policy and acknowledges, right here, every wildcard
 * (action or resource) finding it raises, with `reason`. Returns the statement.
 */
export function grantAcknowledged(
  role: iam.IRole,
  statement: iam.PolicyStatement,
  reason: string,
): iam.PolicyStatement {
  role.addToPrincipalPolicy(statement);
  acknowledgeStatement(role, statement, reason);
  return statement;
}

/** Acknowledges the wildcard findings of a statement already attached to `scope` (a role or policy). */
export function acknowledgeStatement(scope: IConstruct, statement: iam.PolicyStatement, reason: string): void {
  for (const action of statement.actions) {
    if (action.includes('*')) acknowledge(scope, `AwsSolutions-IAM5[Action::${action}]`, reason);
  }
  for (const resource of statement.resources) {
    const flat = nagResource(scope, resource);
    if (flat.includes('*')) acknowledge(scope, `AwsSolutions-IAM5[Resource::${flat}]`, reason);
  }
}
