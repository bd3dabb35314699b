/**
 * Revoke credentials: a deny-before-now inline policy on the session's role
 * (limited to credentials delivered to this instance), the instance profile
 * detached (IMDS hands out nothing new), and the session's secrets scheduled
 * for deletion (recoverable evidence, unusable now).
 */
import {
  DescribeIamInstanceProfileAssociationsCommand,
  DisassociateIamInstanceProfileCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetInstanceProfileCommand, type IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { DeleteSecretCommand, ListSecretsCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { IsoTime } from '../../shared/ids.ts';
import { Tags, tagValue } from '../../shared/tags.ts';
import { arnOf, executionParts } from '../addresses.ts';
import { audit, stepContext } from '../audit.ts';
import { Changes, PlannedChange } from './changes.ts';
import { StepFields, type Target } from './target.ts';

export const RevokeInput = z.strictObject(StepFields);
export type RevokeInput = z.output<typeof RevokeInput>;

export const RevokeResult = z.strictObject({
  dryRun: z.boolean(),
  revokedBefore: IsoTime,
  role: z.string().nullable(),
  policyName: z.string().nullable(),
  instanceProfile: z.strictObject({ arn: z.string(), associationId: z.string().nullable() }).nullable(),
  secrets: z.array(
    z.strictObject({ arn: z.string(), name: z.string(), action: z.enum(['scheduled-deletion', 'already-deleted']) }),
  ),
  planned: z.array(PlannedChange),
});
export type RevokeResult = z.output<typeof RevokeResult>;

export interface RevokeDeps {
  readonly ec2: EC2Client;
  readonly iam: IAMClient;
  readonly secrets: SecretsManagerClient;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  readonly now?: () => Date;
  /** Days a deleted secret stays recoverable (evidence). @default 30 */
  readonly secretRecoveryDays?: number;
}

/** The deny-before-now statement: every token this instance's role got before `now` is refused. */
export function revocationPolicy(instanceArn: string, now: Date): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AidopsRevokeOlderSessions',
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: {
          DateLessThan: { 'aws:TokenIssueTime': now.toISOString() },
          // Only credentials delivered to this instance: the role may be shared by other sessions.
          ArnEquals: { 'ec2:SourceInstanceARN': instanceArn },
        },
      },
    ],
  });
}

function revocationPolicyName(instanceId: string): string {
  return `aidops-revoke-${instanceId}`;
}

/** The role behind the instance profile gets the deny-before-now policy; the profile is detached. */
async function revokeProfile(deps: RevokeDeps, t: Target, profileArn: string, now: Date, changes: Changes) {
  const profileName = profileArn.split('/').pop()!;
  const ip = await awsCall('iam:GetInstanceProfile', () =>
    deps.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: profileName })),
  );
  const role = ip.InstanceProfile?.Roles?.[0]?.RoleName ?? null;
  const policyName = role ? revocationPolicyName(t.instanceId) : null;
  if (role && policyName) {
    // The instance lives in the execution's partition, region and account.
    const instanceArn = arnOf.instance(executionParts(t.executionId), t.instanceId);
    await changes.applyOrPlan(
      { action: 'iam:PutRolePolicy', resource: role, detail: `${policyName}: deny tokens issued before now` },
      () =>
        awsCall('iam:PutRolePolicy', () =>
          deps.iam.send(
            new PutRolePolicyCommand({
              RoleName: role,
              PolicyName: policyName,
              PolicyDocument: revocationPolicy(instanceArn, now),
            }),
          ),
        ),
    );
  }
  const assoc = await awsCall('ec2:DescribeIamInstanceProfileAssociations', () =>
    deps.ec2.send(
      new DescribeIamInstanceProfileAssociationsCommand({
        Filters: [
          { Name: 'instance-id', Values: [t.instanceId] },
          { Name: 'state', Values: ['associated'] },
        ],
      }),
    ),
  );
  const associationId = assoc.IamInstanceProfileAssociations?.[0]?.AssociationId ?? null;
  // Without the profile, IMDS hands the quarantined instance no fresh credentials.
  if (associationId)
    await changes.applyOrPlan({ action: 'ec2:DisassociateIamInstanceProfile', resource: associationId }, () =>
      awsCall('ec2:DisassociateIamInstanceProfile', () =>
        deps.ec2.send(new DisassociateIamInstanceProfileCommand({ AssociationId: associationId })),
      ),
    );
  return { role, policyName, instanceProfile: { arn: profileArn, associationId } };
}

/** Every secret tagged with the session is scheduled for deletion (recoverable for a while). */
async function revokeSecrets(deps: RevokeDeps, sessionId: string, changes: Changes): Promise<RevokeResult['secrets']> {
  const secrets: RevokeResult['secrets'] = [];
  let next: string | undefined;
  do {
    const page = await awsCall('secretsmanager:ListSecrets', () =>
      deps.secrets.send(
        new ListSecretsCommand({
          Filters: [
            { Key: 'tag-key', Values: [Tags.SessionId] },
            { Key: 'tag-value', Values: [sessionId] },
          ],
          IncludePlannedDeletion: true,
          NextToken: next,
        }),
      ),
    );
    for (const s of page.SecretList ?? []) {
      // tag-key and tag-value filter independently; check the pair.
      const arn = s.ARN;
      if (tagValue(s.Tags, Tags.SessionId) !== sessionId || !arn) continue;
      if (s.DeletedDate) {
        secrets.push({ arn, name: s.Name ?? '', action: 'already-deleted' });
        continue;
      }
      await changes.applyOrPlan(
        { action: 'secretsmanager:DeleteSecret', resource: arn, detail: 'scheduled deletion (recoverable)' },
        () =>
          awsCall('secretsmanager:DeleteSecret', () =>
            deps.secrets.send(
              new DeleteSecretCommand({ SecretId: arn, RecoveryWindowInDays: deps.secretRecoveryDays ?? 30 }),
            ),
          ),
      );
      secrets.push({ arn, name: s.Name ?? '', action: 'scheduled-deletion' });
    }
    next = page.NextToken;
  } while (next);
  return secrets;
}

export async function revokeCredentials(deps: RevokeDeps, input: RevokeInput): Promise<RevokeResult> {
  const t = input.target;
  const now = (deps.now ?? (() => new Date()))();
  const changes = new Changes(t.request.dryRun);
  const profile = t.instanceProfileArn
    ? await revokeProfile(deps, t, t.instanceProfileArn, now, changes)
    : { role: null, policyName: null, instanceProfile: null };
  const secrets = t.sessionId ? await revokeSecrets(deps, t.sessionId, changes) : [];
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(
      stepContext(t, input.stateMachine),
      `Revoke credentials${changes.dryRun ? ' (dry run)' : ''}`,
      'succeeded',
      {
        durationMs: Date.now() - now.getTime(),
      },
    ),
  ]);
  return { dryRun: changes.dryRun, revokedBefore: now.toISOString(), ...profile, secrets, planned: changes.planned };
}
