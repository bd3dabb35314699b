/**
 * Release from quarantine: the original groups (from the evidence packet),
 * termination protection as it was, and the instance profile come back; the
 * quarantine tags go and the session lock is released. Before the profile comes
 * back, the instance's entry in its role's revocation set changes from "every
 * credential" to "credentials issued before the revocation" (stolen ones stay
 * refused, new ones work).
 */
import {
  AssociateIamInstanceProfileCommand,
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeIamInstanceProfileAssociationsCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Instance,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
} from '@aws-sdk/client-ec2';
import { GetInstanceProfileCommand } from '@aws-sdk/client-iam';
import * as z from 'zod';
import { newEvent } from '../../audit/schema.ts';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { tagValue } from '../../shared/tags.ts';
import { arnOf, executionParts } from '../addresses.ts';
import { audit, REMEDIATION_SOURCE, stepContext } from '../audit.ts';
import { RESTORE_MACHINE } from '../names.ts';
import { releaseInstance, updateRevocations } from '../revocations.ts';
import { RemediationTags } from '../tags.ts';
import { ApprovalDecision } from './approval.ts';
import { InstanceCheck } from './check.ts';
import { notify, type RestoreDeps } from './deps.ts';
import { RestorePlan } from './plan.ts';

export const ReleaseInput = z.strictObject({
  plan: RestorePlan,
  approval: ApprovalDecision,
  check: InstanceCheck.nullable().default(null),
});
export type ReleaseInput = z.output<typeof ReleaseInput>;

export interface ReleaseResult {
  readonly released: boolean;
  readonly groupsRestored: Record<string, string[]>;
  readonly terminationProtection: boolean;
  readonly instanceProfileAssociated: boolean;
}

/** Each interface back on its original groups (and the primary's instance-level view in step). */
async function restoreGroups(ec2: EC2Client, plan: RestorePlan, i: Instance | undefined) {
  const enis = (i?.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId!).filter(Boolean);
  const restored: Record<string, string[]> = {};
  for (const eni of enis) {
    const groups = plan.originalGroups[eni];
    if (!groups || groups.length === 0) continue;
    await awsCall('ec2:ModifyNetworkInterfaceAttribute', () =>
      ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni, Groups: groups })),
    );
    restored[eni] = groups;
  }
  const primary = (i?.NetworkInterfaces ?? []).find((n) => n.Attachment?.DeviceIndex === 0)?.NetworkInterfaceId;
  const primaryGroups = primary ? restored[primary] : undefined;
  if (primaryGroups) {
    // The instance-level view of the primary interface (a no-op in AWS; moto keeps it separately).
    await awsCall('ec2:ModifyInstanceAttribute', () =>
      ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: plan.instanceId, Groups: primaryGroups })),
    );
  }
  return restored;
}

/** The profile associated again (unless it already is); tokens issued from now on pass the deny-before-now policy. */
async function reassociateProfile(ec2: EC2Client, instanceId: string, profileArn: string): Promise<void> {
  const a = await awsCall('ec2:DescribeIamInstanceProfileAssociations', () =>
    ec2.send(
      new DescribeIamInstanceProfileAssociationsCommand({
        Filters: [
          { Name: 'instance-id', Values: [instanceId] },
          { Name: 'state', Values: ['associated', 'associating'] },
        ],
      }),
    ),
  );
  if ((a.IamInstanceProfileAssociations ?? []).length > 0) return;
  await awsCall('ec2:AssociateIamInstanceProfile', () =>
    ec2.send(
      new AssociateIamInstanceProfileCommand({ InstanceId: instanceId, IamInstanceProfile: { Arn: profileArn } }),
    ),
  );
}

/** The instance's entry in its role's revocation set: from now on only credentials issued before the revocation. */
async function narrowRevocation(deps: RestoreDeps, plan: RestorePlan, profileArn: string): Promise<void> {
  const r = deps.revocations;
  if (!r) return;
  const profile = await awsCall('iam:GetInstanceProfile', () =>
    r.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: profileArn.split('/').pop()! })),
  );
  const role = profile.InstanceProfile?.Roles?.[0]?.RoleName;
  if (!role) return;
  const instanceArn = arnOf.instance(executionParts(plan.executionId), plan.instanceId);
  await updateRevocations(r, role, releaseInstance(instanceArn));
}

export async function release(deps: RestoreDeps, input: ReleaseInput): Promise<ReleaseResult> {
  const { plan, approval } = input;
  const cur = await awsCall('ec2:DescribeInstances', () =>
    deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [plan.instanceId] })),
  );
  const i = cur.Reservations?.[0]?.Instances?.[0];
  const restored = await restoreGroups(deps.ec2, plan, i);
  if (!plan.terminationProtectionBefore) {
    await awsCall('ec2:ModifyInstanceAttribute', () =>
      deps.ec2.send(
        new ModifyInstanceAttributeCommand({ InstanceId: plan.instanceId, DisableApiTermination: { Value: false } }),
      ),
    );
  }
  if (plan.instanceProfileArn) {
    await narrowRevocation(deps, plan, plan.instanceProfileArn);
    await reassociateProfile(deps.ec2, plan.instanceId, plan.instanceProfileArn);
  }
  const lineage = [plan.rootVolumeId, ...(tagValue(i?.Tags, RemediationTags.RootVolumeLineage) ?? '').split(',')]
    .filter((v): v is string => !!v)
    .filter((v, k, a) => a.indexOf(v) === k);
  await awsCall('ec2:CreateTags', () =>
    deps.ec2.send(
      new CreateTagsCommand({
        Resources: [plan.instanceId],
        Tags: [{ Key: RemediationTags.RootVolumeLineage, Value: lineage.join(',').slice(0, 256) }],
      }),
    ),
  );
  await awsCall('ec2:DeleteTags', () =>
    deps.ec2.send(
      new DeleteTagsCommand({
        Resources: [plan.instanceId],
        Tags: [{ Key: RemediationTags.QuarantinedAt }, { Key: RemediationTags.PreQuarantineGroups }],
      }),
    ),
  );
  if (plan.sessionId) await deps.store?.releaseSession(plan.sessionId);
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(
      stepContext(plan, RESTORE_MACHINE),
      `Release from quarantine (approved by ${approval.approver})`,
      'succeeded',
    ),
    newEvent('health', {
      source: REMEDIATION_SOURCE,
      sessionId: plan.sessionId,
      detail: { type: 'lifecycle', state: 'running', reason: `restored from ${plan.snapshot.id}`.slice(0, 1024) },
    }),
  ]);
  await notify(deps, `aidops: session ${plan.sessionId ?? plan.instanceId} restored and released`, [
    `Restored from ${plan.snapshot.id}; approved by ${approval.approver}${approval.comment ? `: ${approval.comment}` : ''}.`,
    `Groups restored: ${JSON.stringify(restored)}`,
  ]);
  return {
    released: true,
    groupsRestored: restored,
    terminationProtection: plan.terminationProtectionBefore,
    instanceProfileAssociated: plan.instanceProfileArn !== null,
  };
}
