/**
 * Revoke credentials: the instance joins its role's revocation set (one
 * non-accumulating deny policy per role, see ../revocations.ts), the instance
 * profile is detached (IMDS hands out nothing new), and the session's secrets
 * are scheduled for deletion (recoverable evidence, unusable now). Each part is
 * tried even when another fails; a part that failed for good makes the step
 * fail with `RevocationIncompleteError` naming it (the workflow goes on to the
 * freeze and the evidence, marks the packet incomplete and pages).
 */
import {
  DescribeIamInstanceProfileAssociationsCommand,
  DisassociateIamInstanceProfileCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetInstanceProfileCommand, type IAMClient } from '@aws-sdk/client-iam';
import { DeleteSecretCommand, ListSecretsCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { ConfigurationError, ErrorNames } from '../../shared/errors.ts';
import { IsoTime } from '../../shared/ids.ts';
import { Tags, tagValue } from '../../shared/tags.ts';
import { arnOf, executionParts } from '../addresses.ts';
import { audit, stepContext } from '../audit.ts';
import { RevocationIncompleteError } from '../errors.ts';
import { REVOCATION_POLICY_NAME, type RevocationDeps, revokeInstance, updateRevocations } from '../revocations.ts';
import { Changes, PlannedChange } from './changes.ts';
import { StepFields, type Target } from './target.ts';

export const RevokeInput = z.strictObject(StepFields);
export type RevokeInput = z.output<typeof RevokeInput>;

export const RevokeResult = z.strictObject({
  dryRun: z.boolean(),
  revokedBefore: IsoTime,
  role: z.string().nullable(),
  policyName: z.string().nullable(),
  /** The role's revocation set after this revocation: entries and policy size (IAM's count). */
  revocationSet: z.strictObject({ entries: z.number().int(), characters: z.number().int() }).nullable(),
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
  /** Where the role's revocation set is kept (the incident table). */
  readonly revocations?: Omit<RevocationDeps, 'iam'>;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  readonly now?: () => Date;
  /** Days a deleted secret stays recoverable (evidence). @default 30 */
  readonly secretRecoveryDays?: number;
}

/** One part of the revocation that failed, and how. */
interface PartFailure {
  readonly part: string;
  readonly error: Error;
}

/** The role behind the instance profile. */
async function roleOf(iam: IAMClient, profileArn: string): Promise<string | null> {
  const profileName = profileArn.split('/').pop()!;
  const ip = await awsCall('iam:GetInstanceProfile', () =>
    iam.send(new GetInstanceProfileCommand({ InstanceProfileName: profileName })),
  );
  return ip.InstanceProfile?.Roles?.[0]?.RoleName ?? null;
}

/** The instance joins the role's revocation set: every credential delivered to it is refused. */
async function denyOnRole(deps: RevokeDeps, t: Target, role: string, now: Date, changes: Changes) {
  // The instance lives in the execution's partition, region and account.
  const instanceArn = arnOf.instance(executionParts(t.executionId), t.instanceId);
  return await changes.applyOrPlan(
    {
      action: 'iam:PutRolePolicy',
      resource: role,
      detail: `${REVOCATION_POLICY_NAME}: deny every credential delivered to ${t.instanceId}`,
    },
    () => {
      if (!deps.revocations) throw new ConfigurationError('the revoke step needs the incident table (INCIDENT_TABLE)');
      return updateRevocations({ ...deps.revocations, iam: deps.iam }, role, revokeInstance(instanceArn), now);
    },
  );
}

/** The profile is detached: IMDS hands the quarantined instance no fresh credentials. */
async function detachProfile(deps: RevokeDeps, t: Target, changes: Changes): Promise<string | null> {
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
  if (associationId)
    await changes.applyOrPlan({ action: 'ec2:DisassociateIamInstanceProfile', resource: associationId }, () =>
      awsCall('ec2:DisassociateIamInstanceProfile', async () => {
        try {
          return await deps.ec2.send(new DisassociateIamInstanceProfileCommand({ AssociationId: associationId }));
        } catch (e) {
          // Detached meanwhile (the session's own teardown does it too): the end state holds.
          if ((e as Error).name === 'InvalidAssociationID.NotFound') return {};
          throw e;
        }
      }),
    );
  return associationId;
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

/** A failure the workflow's Retry should see (throttling, an unreachable endpoint) rather than go on past. */
const isTransient = (e: Error) => e.name === ErrorNames.Transient || e.name === ErrorNames.EndpointUnreachable;

export async function revokeCredentials(deps: RevokeDeps, input: RevokeInput): Promise<RevokeResult> {
  const t = input.target;
  const now = (deps.now ?? (() => new Date()))();
  const changes = new Changes(t.request.dryRun);
  const failures: PartFailure[] = [];
  const attempt = async <T>(part: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      failures.push({ part, error: e as Error });
      return undefined;
    }
  };
  const profileArn = t.instanceProfileArn;
  const role = profileArn ? ((await attempt('find the role', () => roleOf(deps.iam, profileArn))) ?? null) : null;
  const set = role ? await attempt('deny on the role', () => denyOnRole(deps, t, role, now, changes)) : undefined;
  const associationId = profileArn
    ? ((await attempt('detach the instance profile', () => detachProfile(deps, t, changes))) ?? null)
    : null;
  const secrets = t.sessionId
    ? ((await attempt('delete the session secrets', () => revokeSecrets(deps, t.sessionId!, changes))) ?? [])
    : [];
  if (failures.length > 0) {
    // Every part was tried; a transient failure is retried by the workflow (each part is idempotent).
    const transient = failures.find((f) => isTransient(f.error));
    if (transient) throw transient.error;
    throw new RevocationIncompleteError(
      `credentials not fully revoked: ${failures.map((f) => `${f.part}: ${f.error.name}: ${f.error.message}`).join('; ')}`.slice(
        0,
        2000,
      ),
      { failed: failures.map((f) => f.part), role, associationId, secrets: secrets.length },
    );
  }
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
  return {
    dryRun: changes.dryRun,
    revokedBefore: now.toISOString(),
    role,
    policyName: role ? REVOCATION_POLICY_NAME : null,
    revocationSet: set ? { entries: set.entries, characters: set.characters } : null,
    instanceProfile: profileArn ? { arn: profileArn, associationId } : null,
    secrets,
    planned: changes.planned,
  };
}
