/**
 * Tombstone workflow cores: validate → ISOLATE → revoke credentials → freeze.
 *
 * Isolation comes first and is built for speed: validation makes one read
 * (DescribeInstances) and the isolate task's first calls are the two
 * ModifyNetworkInterfaceAttribute calls per interface (transition group, then
 * quarantine group), so the quarantine group holds after two AWS calls per
 * interface. Everything else (termination protection, DeleteOnTermination, elastic
 * IPs, the optional subnet NACL, tags, audit events) happens after it holds.
 *
 * Every step is idempotent: a retried step re-reads or re-applies the same end
 * state. A dry run makes every read and returns what it would change (`planned`).
 */
import {
  CreateNetworkAclCommand,
  CreateTagsCommand,
  DescribeAddressesCommand,
  type DescribeAddressesCommandOutput,
  DescribeIamInstanceProfileAssociationsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeNetworkAclsCommand,
  DescribeNetworkInterfacesCommand,
  DisassociateAddressCommand,
  DisassociateIamInstanceProfileCommand,
  type EC2Client,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
  ReplaceNetworkAclAssociationCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetInstanceProfileCommand, type IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { DeleteSecretCommand, ListSecretsCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { newEvent } from '../audit/schema.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { InstanceId, SessionId } from '../shared/ids.ts';
import { Tags, tagValue } from '../shared/tags.ts';
import { parseOrThrow } from '../shared/validation.ts';
import {
  audit,
  IsolationIncompleteError,
  REMEDIATION_SOURCE,
  RemediationTags,
  retryTransient,
  type StepContext,
  sha256Hex,
  stepEvent,
} from './common.ts';
import { resolveInstance } from './instances.ts';

export const TOMBSTONE_MACHINE = 'aidops-tombstone' as const;

export const TombstoneRequest = z
  .strictObject({
    sessionId: SessionId.optional(),
    instanceId: InstanceId.optional(),
    reason: z.string().trim().min(1, 'reason is required').max(512),
    /** What triggered it: the EventBridge event id, a finding id, or e.g. `manual:INC-1234`. */
    source: z.string().trim().min(1, 'source is required').max(256),
    /** Who or what asked: a person, or `automatic:<rule>`. */
    requestedBy: z.string().trim().min(1, 'requestedBy is required').max(256),
    dryRun: z.boolean().default(false),
    /** Set by the trigger when the blast-radius guard held the request (the machine waits for a slot). */
    held: z.boolean().default(false),
    /** Also associate a deny-all network ACL with the instance's subnet (affects every instance there). */
    isolateSubnet: z.boolean().default(false),
    /** auto: stop the agent through SSM where reachable, else stop (hibernate) the instance. */
    freeze: z.enum(['auto', 'stop', 'none']).default('auto'),
    /** Hibernate instead of stop when the instance was launched with hibernation configured. */
    allowHibernate: z.boolean().default(true),
  })
  .refine((r) => r.sessionId !== undefined || r.instanceId !== undefined, {
    message: 'name a sessionId or an instanceId',
    path: ['sessionId'],
  });
export type TombstoneRequest = z.output<typeof TombstoneRequest>;

export interface IsolationConfig {
  readonly quarantineGroupId: string;
  readonly transitionGroupId: string;
}

export interface EniState {
  readonly id: string;
  readonly groups: string[];
  readonly subnetId: string | null;
  readonly publicIp: string | null;
}

/** The validated request and everything isolation needs, from one DescribeInstances. */
export interface Target {
  readonly incidentId: string;
  readonly executionId: string;
  readonly request: TombstoneRequest;
  readonly instanceId: string;
  readonly sessionId: string | null;
  readonly state: string;
  readonly vpcId: string | null;
  readonly subnetId: string | null;
  readonly availabilityZone: string | null;
  readonly enis: EniState[];
  /** Groups before the first isolation of this instance (from its tag if it was isolated before). */
  readonly originalGroups: Record<string, string[]>;
  readonly volumes: { id: string; device: string; deleteOnTermination: boolean }[];
  readonly rootDevice: string | null;
  readonly instanceProfileArn: string | null;
  readonly hibernationConfigured: boolean;
  readonly alreadyQuarantined: boolean;
  /** Name of the aidops-snapshot child execution (≤ 80 characters, derived from the incident id). */
  readonly evidenceExecutionName: string;
  readonly validatedAt: string;
  /** Instance metadata for the evidence packet (as described before any change). */
  readonly instance: Record<string, unknown>;
}

export const ValidateInput = z.strictObject({
  request: z.unknown(),
  executionId: z.string().min(1),
  executionName: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/),
});

function instanceMetadata(i: NonNullable<Awaited<ReturnType<typeof resolveInstance>>['instance']>) {
  return {
    instanceId: i.InstanceId,
    imageId: i.ImageId,
    instanceType: i.InstanceType,
    launchTime: i.LaunchTime instanceof Date ? i.LaunchTime.toISOString() : i.LaunchTime,
    state: i.State?.Name,
    privateIpAddress: i.PrivateIpAddress,
    publicIpAddress: i.PublicIpAddress,
    vpcId: i.VpcId,
    subnetId: i.SubnetId,
    availabilityZone: i.Placement?.AvailabilityZone,
    iamInstanceProfile: i.IamInstanceProfile?.Arn,
    rootDeviceName: i.RootDeviceName,
    blockDevices: (i.BlockDeviceMappings ?? []).map((b) => ({
      device: b.DeviceName,
      volumeId: b.Ebs?.VolumeId,
      deleteOnTermination: b.Ebs?.DeleteOnTermination,
    })),
    networkInterfaces: (i.NetworkInterfaces ?? []).map((n) => ({
      id: n.NetworkInterfaceId,
      subnetId: n.SubnetId,
      privateIp: n.PrivateIpAddress,
      publicIp: n.Association?.PublicIp,
      groups: (n.Groups ?? []).map((g) => g.GroupId),
    })),
    tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.Key, t.Value])),
  };
}

/** Validates the request and reads the instance once. No writes, no audit call: isolation is next. */
export async function validateTombstone(
  ec2: EC2Client,
  input: z.output<typeof ValidateInput>,
  cfg: IsolationConfig,
  now: Date = new Date(),
): Promise<Target> {
  const request = parseOrThrow(TombstoneRequest, input.request, 'tombstone request');
  const inst = await resolveInstance(ec2, request);
  const i = inst.instance;
  const enis: EniState[] = (i.NetworkInterfaces ?? []).map((n) => ({
    id: n.NetworkInterfaceId!,
    groups: (n.Groups ?? []).map((g) => g.GroupId!).filter(Boolean),
    subnetId: n.SubnetId ?? null,
    publicIp: n.Association?.PublicIp ?? null,
  }));
  const tagged = tagValue(i.Tags, RemediationTags.PreQuarantineGroups);
  let originalGroups: Record<string, string[]> = Object.fromEntries(enis.map((e) => [e.id, e.groups]));
  if (tagged) {
    try {
      const parsed = z.record(z.string(), z.array(z.string())).parse(JSON.parse(tagged));
      originalGroups = { ...originalGroups, ...parsed };
    } catch {
      // A malformed tag is ignored: the current groups are the best record left.
    }
  }
  const alreadyQuarantined =
    enis.length > 0 && enis.every((e) => e.groups.length === 1 && e.groups[0] === cfg.quarantineGroupId);
  return {
    incidentId: input.executionName,
    executionId: input.executionId,
    request,
    instanceId: inst.instanceId,
    sessionId: inst.sessionId ?? request.sessionId ?? null,
    state: inst.state,
    vpcId: i.VpcId ?? null,
    subnetId: i.SubnetId ?? null,
    availabilityZone: i.Placement?.AvailabilityZone ?? null,
    enis,
    originalGroups,
    volumes: (i.BlockDeviceMappings ?? [])
      .filter((b) => b.Ebs?.VolumeId)
      .map((b) => ({
        id: b.Ebs!.VolumeId!,
        device: b.DeviceName ?? '',
        deleteOnTermination: b.Ebs?.DeleteOnTermination === true,
      })),
    rootDevice: i.RootDeviceName ?? null,
    instanceProfileArn: i.IamInstanceProfile?.Arn ?? null,
    hibernationConfigured: i.HibernationOptions?.Configured === true,
    alreadyQuarantined,
    evidenceExecutionName: `evidence-${sha256Hex(input.executionName).slice(0, 40)}`,
    validatedAt: now.toISOString(),
    instance: instanceMetadata(i),
  };
}

// ---------------------------------------------------------------------------
// Isolate

export const IsolateInput = z.strictObject({
  target: z.looseObject({}),
  /** true after a failed attempt: re-read the interfaces before moving any (never reopen one). */
  recheck: z.boolean().default(false),
  stateMachine: z.string().default(TOMBSTONE_MACHINE),
});

export interface PlannedChange {
  readonly action: string;
  readonly resource: string;
  readonly detail?: string;
}

export interface IsolationResult {
  readonly dryRun: boolean;
  readonly startedAt: string;
  /** When the last interface got the quarantine group (null in a dry run). */
  readonly quarantineAppliedAt: string | null;
  readonly finishedAt: string;
  readonly groupsBefore: Record<string, string[]>;
  readonly groupsAfter: Record<string, string[]>;
  readonly originalGroups: Record<string, string[]>;
  readonly movedInterfaces: string[];
  readonly terminationProtection: { before: boolean; after: boolean };
  readonly deleteOnTerminationDisabled: string[];
  readonly elasticIps: { allocationId: string | null; associationId: string; publicIp: string | null }[];
  readonly networkAcl: { subnetId: string; previousAclId: string; quarantineAclId: string } | null;
  readonly planned: PlannedChange[];
}

export interface IsolateDeps {
  readonly ec2: EC2Client;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  readonly config: IsolationConfig;
  readonly now?: () => Date;
}

async function modifyEni(ec2: EC2Client, eni: string, groups: string[]): Promise<void> {
  await retryTransient(() =>
    awsCall('ec2:ModifyNetworkInterfaceAttribute', () =>
      ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni, Groups: groups })),
    ),
  );
}

async function currentGroups(ec2: EC2Client, eniIds: string[]): Promise<Record<string, string[]>> {
  if (eniIds.length === 0) return {};
  const out = await awsCall('ec2:DescribeNetworkInterfaces', () =>
    ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: eniIds })),
  );
  return Object.fromEntries(
    (out.NetworkInterfaces ?? []).map((n) => [n.NetworkInterfaceId!, (n.Groups ?? []).map((g) => g.GroupId!)]),
  );
}

const onlyQuarantine = (groups: readonly string[] | undefined, q: string) => groups?.length === 1 && groups[0] === q;

export async function isolate(deps: IsolateDeps, input: z.output<typeof IsolateInput>): Promise<IsolationResult> {
  const now = deps.now ?? (() => new Date());
  const t = input.target as unknown as Target;
  const { ec2, config } = deps;
  const q = config.quarantineGroupId;
  const started = now();
  const dryRun = t.request.dryRun;
  const eniIds = t.enis.map((e) => e.id);

  // 1. The critical path: ≤ 2 calls per interface until the quarantine group holds.
  const before = input.recheck
    ? await currentGroups(ec2, eniIds)
    : Object.fromEntries(t.enis.map((e) => [e.id, e.groups]));
  // An interface already on the quarantine group alone is never moved to the allow-all group again.
  const toMove = eniIds.filter((id) => !onlyQuarantine(before[id], q));
  const planned: PlannedChange[] = [];
  let quarantineAppliedAt: string | null = null;
  if (dryRun) {
    for (const id of toMove) {
      planned.push({
        action: 'ec2:ModifyNetworkInterfaceAttribute',
        resource: id,
        detail: `groups → [${config.transitionGroupId}] (transition)`,
      });
      planned.push({
        action: 'ec2:ModifyNetworkInterfaceAttribute',
        resource: id,
        detail: `groups → [${q}] (quarantine)`,
      });
    }
  } else {
    // All interfaces at once: the per-interface order (transition, then quarantine) is what matters.
    await Promise.all(toMove.map((id) => modifyEni(ec2, id, [config.transitionGroupId])));
    await Promise.all(toMove.map((id) => modifyEni(ec2, id, [q])));
    quarantineAppliedAt = now().toISOString();
  }

  // 2. Everything else, after the quarantine group holds.
  if (!dryRun && toMove.length > 0) {
    // The instance-level view of the primary interface, kept in step. A no-op in AWS (the primary
    // interface already has exactly this group); moto unions it into the interface's groups.
    await awsCall('ec2:ModifyInstanceAttribute', () =>
      ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: t.instanceId, Groups: [q] })),
    );
  }
  const tp = await awsCall('ec2:DescribeInstanceAttribute', () =>
    ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: t.instanceId, Attribute: 'disableApiTermination' })),
  );
  const protectedBefore = tp.DisableApiTermination?.Value === true;
  if (!protectedBefore) {
    if (dryRun)
      planned.push({
        action: 'ec2:ModifyInstanceAttribute',
        resource: t.instanceId,
        detail: 'DisableApiTermination → true',
      });
    else
      await awsCall('ec2:ModifyInstanceAttribute', () =>
        ec2.send(
          new ModifyInstanceAttributeCommand({ InstanceId: t.instanceId, DisableApiTermination: { Value: true } }),
        ),
      );
  }
  const dot = t.volumes.filter((v) => v.deleteOnTermination && v.device);
  if (dot.length > 0) {
    if (dryRun)
      for (const v of dot)
        planned.push({
          action: 'ec2:ModifyInstanceAttribute',
          resource: v.id,
          detail: `${v.device} DeleteOnTermination → false`,
        });
    else
      await awsCall('ec2:ModifyInstanceAttribute', () =>
        ec2.send(
          new ModifyInstanceAttributeCommand({
            InstanceId: t.instanceId,
            BlockDeviceMappings: dot.map((v) => ({ DeviceName: v.device, Ebs: { DeleteOnTermination: false } })),
          }),
        ),
      );
  }
  const addrs: DescribeAddressesCommandOutput = await awsCall('ec2:DescribeAddresses', () =>
    ec2.send(new DescribeAddressesCommand({ Filters: [{ Name: 'instance-id', Values: [t.instanceId] }] })),
  );
  const elasticIps = (addrs.Addresses ?? [])
    .filter((a) => a.AssociationId)
    .map((a) => ({
      allocationId: a.AllocationId ?? null,
      associationId: a.AssociationId!,
      publicIp: a.PublicIp ?? null,
    }));
  for (const a of elasticIps) {
    if (dryRun)
      planned.push({ action: 'ec2:DisassociateAddress', resource: a.associationId, detail: a.publicIp ?? '' });
    else
      await awsCall('ec2:DisassociateAddress', async () => {
        try {
          return await ec2.send(new DisassociateAddressCommand({ AssociationId: a.associationId }));
        } catch (e) {
          // Already gone (a retried step): the end state holds.
          if ((e as Error).name === 'InvalidAssociationID.NotFound') return {};
          throw e;
        }
      });
  }
  const networkAcl =
    t.request.isolateSubnet && t.subnetId && t.vpcId ? await isolateSubnet(ec2, t, dryRun, planned) : null;

  if (!dryRun) {
    const tags: { Key: string; Value: string }[] = [
      { Key: RemediationTags.QuarantinedAt, Value: quarantineAppliedAt ?? started.toISOString() },
      { Key: RemediationTags.IncidentId, Value: t.incidentId },
    ];
    const original = JSON.stringify(t.originalGroups);
    // Tag values are at most 256 characters; the packet keeps the groups either way.
    if (!t.alreadyQuarantined && original.length <= 256)
      tags.push({ Key: RemediationTags.PreQuarantineGroups, Value: original });
    await awsCall('ec2:CreateTags', () => ec2.send(new CreateTagsCommand({ Resources: [t.instanceId], Tags: tags })));
  }

  const after = dryRun ? before : await currentGroups(ec2, eniIds);
  if (!dryRun) {
    const open = eniIds.filter((id) => !onlyQuarantine(after[id], q));
    if (open.length > 0)
      throw new IsolationIncompleteError(`interfaces not on the quarantine group alone: ${open.join(', ')}`, {
        open,
        after,
      });
  }
  const finished = now();
  const ctx: StepContext = {
    executionId: t.executionId,
    stateMachine: input.stateMachine,
    sessionId: t.sessionId,
    requestedBy: t.request.requestedBy,
  };
  const suffix = dryRun ? ' (dry run)' : '';
  const events = [
    stepEvent(ctx, `Validate the request${suffix}`, 'succeeded', { time: new Date(t.validatedAt) }),
    stepEvent(ctx, `Isolate the instance${suffix}`, 'succeeded', {
      durationMs: finished.getTime() - started.getTime(),
    }),
  ];
  if (!dryRun)
    events.push(
      newEvent('health', {
        source: REMEDIATION_SOURCE,
        sessionId: t.sessionId,
        detail: {
          type: 'lifecycle',
          state: 'quarantined',
          reason: `${t.incidentId}: ${t.request.reason}`.slice(0, 1024),
        },
      }),
    );
  await audit(deps.eventBridge, deps.busName, events);
  return {
    dryRun,
    startedAt: started.toISOString(),
    quarantineAppliedAt,
    finishedAt: finished.toISOString(),
    groupsBefore: before,
    groupsAfter: after,
    originalGroups: t.originalGroups,
    movedInterfaces: toMove,
    terminationProtection: { before: protectedBefore, after: dryRun ? protectedBefore : true },
    deleteOnTerminationDisabled: dot.map((v) => v.id),
    elasticIps,
    networkAcl,
    planned,
  };
}

const QUARANTINE_ACL_TAG = 'aidops:quarantine-acl';

/** Associates a deny-all ACL (a new ACL has no allow entries) with the instance's subnet. */
async function isolateSubnet(ec2: EC2Client, t: Target, dryRun: boolean, planned: PlannedChange[]) {
  const acls = await awsCall('ec2:DescribeNetworkAcls', () =>
    ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [t.vpcId!] }] })),
  );
  const current = (acls.NetworkAcls ?? []).find((a) => (a.Associations ?? []).some((x) => x.SubnetId === t.subnetId));
  const assoc = current?.Associations?.find((x) => x.SubnetId === t.subnetId);
  let quarantine = (acls.NetworkAcls ?? []).find((a) => tagValue(a.Tags, QUARANTINE_ACL_TAG) === 'true');
  if (!current || !assoc?.NetworkAclAssociationId) return null;
  if (quarantine && current.NetworkAclId === quarantine.NetworkAclId) {
    return { subnetId: t.subnetId!, previousAclId: current.NetworkAclId!, quarantineAclId: quarantine.NetworkAclId! };
  }
  if (dryRun) {
    planned.push({ action: 'ec2:ReplaceNetworkAclAssociation', resource: t.subnetId!, detail: 'deny-all network ACL' });
    return null;
  }
  if (!quarantine) {
    const made = await awsCall('ec2:CreateNetworkAcl', () =>
      ec2.send(
        new CreateNetworkAclCommand({
          VpcId: t.vpcId!,
          TagSpecifications: [{ ResourceType: 'network-acl', Tags: [{ Key: QUARANTINE_ACL_TAG, Value: 'true' }] }],
        }),
      ),
    );
    quarantine = made.NetworkAcl!;
  }
  await awsCall('ec2:ReplaceNetworkAclAssociation', () =>
    ec2.send(
      new ReplaceNetworkAclAssociationCommand({
        AssociationId: assoc.NetworkAclAssociationId!,
        NetworkAclId: quarantine!.NetworkAclId!,
      }),
    ),
  );
  return { subnetId: t.subnetId!, previousAclId: current.NetworkAclId!, quarantineAclId: quarantine.NetworkAclId! };
}

// ---------------------------------------------------------------------------
// Revoke credentials

export const RevokeInput = z.strictObject({
  target: z.looseObject({}),
  stateMachine: z.string().default(TOMBSTONE_MACHINE),
});

export interface RevokeResult {
  readonly dryRun: boolean;
  readonly revokedBefore: string;
  readonly role: string | null;
  readonly policyName: string | null;
  readonly instanceProfile: { arn: string; associationId: string | null } | null;
  readonly secrets: { arn: string; name: string; action: 'scheduled-deletion' | 'already-deleted' }[];
  readonly planned: PlannedChange[];
}

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

export function revocationPolicyName(instanceId: string): string {
  return `aidops-revoke-${instanceId}`;
}

export async function revokeCredentials(deps: RevokeDeps, input: z.output<typeof RevokeInput>): Promise<RevokeResult> {
  const t = input.target as unknown as Target;
  const now = (deps.now ?? (() => new Date()))();
  const dryRun = t.request.dryRun;
  const planned: PlannedChange[] = [];
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const account = t.instanceProfileArn?.split(':')[4] ?? '';
  const instanceArn = `arn:aws:ec2:${region}:${account}:instance/${t.instanceId}`;
  let role: string | null = null;
  let policyName: string | null = null;
  let instanceProfile: RevokeResult['instanceProfile'] = null;

  if (t.instanceProfileArn) {
    const profileName = t.instanceProfileArn.split('/').pop()!;
    const ip = await awsCall('iam:GetInstanceProfile', () =>
      deps.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: profileName })),
    );
    role = ip.InstanceProfile?.Roles?.[0]?.RoleName ?? null;
    if (role) {
      policyName = revocationPolicyName(t.instanceId);
      if (dryRun)
        planned.push({
          action: 'iam:PutRolePolicy',
          resource: role,
          detail: `${policyName}: deny tokens issued before now`,
        });
      else
        await awsCall('iam:PutRolePolicy', () =>
          deps.iam.send(
            new PutRolePolicyCommand({
              RoleName: role!,
              PolicyName: policyName!,
              PolicyDocument: revocationPolicy(instanceArn, now),
            }),
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
    const a = assoc.IamInstanceProfileAssociations?.[0];
    instanceProfile = { arn: t.instanceProfileArn, associationId: a?.AssociationId ?? null };
    // Without the profile, IMDS hands the quarantined instance no fresh credentials.
    if (a?.AssociationId) {
      if (dryRun) planned.push({ action: 'ec2:DisassociateIamInstanceProfile', resource: a.AssociationId });
      else
        await awsCall('ec2:DisassociateIamInstanceProfile', () =>
          deps.ec2.send(new DisassociateIamInstanceProfileCommand({ AssociationId: a.AssociationId! })),
        );
    }
  }

  const secrets: RevokeResult['secrets'] = [];
  if (t.sessionId) {
    let next: string | undefined;
    do {
      const page = await awsCall('secretsmanager:ListSecrets', () =>
        deps.secrets.send(
          new ListSecretsCommand({
            Filters: [
              { Key: 'tag-key', Values: [Tags.SessionId] },
              { Key: 'tag-value', Values: [t.sessionId!] },
            ],
            IncludePlannedDeletion: true,
            NextToken: next,
          }),
        ),
      );
      for (const s of page.SecretList ?? []) {
        // tag-key and tag-value filter independently; check the pair.
        if (tagValue(s.Tags, Tags.SessionId) !== t.sessionId || !s.ARN) continue;
        if (s.DeletedDate) {
          secrets.push({ arn: s.ARN, name: s.Name ?? '', action: 'already-deleted' });
          continue;
        }
        if (dryRun)
          planned.push({
            action: 'secretsmanager:DeleteSecret',
            resource: s.ARN,
            detail: 'scheduled deletion (recoverable)',
          });
        else
          await awsCall('secretsmanager:DeleteSecret', () =>
            deps.secrets.send(
              new DeleteSecretCommand({ SecretId: s.ARN!, RecoveryWindowInDays: deps.secretRecoveryDays ?? 30 }),
            ),
          );
        secrets.push({ arn: s.ARN, name: s.Name ?? '', action: 'scheduled-deletion' });
      }
      next = page.NextToken;
    } while (next);
  }
  const ctx: StepContext = {
    executionId: t.executionId,
    stateMachine: input.stateMachine,
    sessionId: t.sessionId,
    requestedBy: t.request.requestedBy,
  };
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(ctx, `Revoke credentials${dryRun ? ' (dry run)' : ''}`, 'succeeded', {
      durationMs: Date.now() - now.getTime(),
    }),
  ]);
  return { dryRun, revokedBefore: now.toISOString(), role, policyName, instanceProfile, secrets, planned };
}

// ---------------------------------------------------------------------------
// Freeze

export const FreezeInput = z.strictObject({
  target: z.looseObject({}),
  stateMachine: z.string().default(TOMBSTONE_MACHINE),
});

export type FreezeMode = 'ssm-stop-agent' | 'stop' | 'hibernate' | 'none' | 'already-stopped';

export interface FreezeResult {
  readonly dryRun: boolean;
  readonly mode: FreezeMode;
  readonly commandId: string | null;
  readonly ssmReachable: boolean;
  readonly requestedAt: string;
  readonly planned: PlannedChange[];
}

export interface FreezeDeps {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  /** Client for the reachability probe, without SDK retries (an unanswered probe means unreachable). @default ssm */
  readonly ssmProbe?: SSMClient;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  /** Shell commands that stop the agent in the guest. */
  readonly stopAgentCommands?: readonly string[];
}

export const DEFAULT_STOP_AGENT_COMMANDS = [
  'systemctl stop aidops-agent.service || true',
  'pkill -STOP -f aidops-agent || true',
] as const;

/** True when SSM reports the instance's agent online (an API without an answer counts as unreachable). */
export async function ssmReachable(ssm: SSMClient, instanceId: string): Promise<boolean> {
  try {
    const out = await ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
    );
    return (out.InstanceInformationList ?? []).some((i) => i.InstanceId === instanceId && i.PingStatus === 'Online');
  } catch {
    return false;
  }
}

async function stopInstance(ec2: EC2Client, t: Target, hibernate: boolean): Promise<void> {
  await awsCall('ec2:StopInstances', async () => {
    try {
      return await ec2.send(
        new StopInstancesCommand({ InstanceIds: [t.instanceId], Hibernate: hibernate || undefined }),
      );
    } catch (e) {
      // Hibernation not possible right now (agent not ready, memory too large): a plain stop still freezes.
      if (hibernate && /hibernat/i.test((e as Error).message))
        return await ec2.send(new StopInstancesCommand({ InstanceIds: [t.instanceId] }));
      throw e;
    }
  });
}

export async function freeze(deps: FreezeDeps, input: z.output<typeof FreezeInput>): Promise<FreezeResult> {
  const t = input.target as unknown as Target;
  const requestedAt = new Date();
  const dryRun = t.request.dryRun;
  const planned: PlannedChange[] = [];
  const cur = await awsCall('ec2:DescribeInstances', () =>
    deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [t.instanceId] })),
  );
  const state = cur.Reservations?.[0]?.Instances?.[0]?.State?.Name ?? t.state;
  let mode: FreezeMode;
  let commandId: string | null = null;
  let reachable = false;
  if (t.request.freeze === 'none') mode = 'none';
  else if (state === 'stopped' || state === 'stopping') mode = 'already-stopped';
  else {
    reachable = t.request.freeze === 'auto' && (await ssmReachable(deps.ssmProbe ?? deps.ssm, t.instanceId));
    const hibernate = t.request.allowHibernate && t.hibernationConfigured;
    if (reachable) {
      mode = 'ssm-stop-agent';
      if (dryRun)
        planned.push({
          action: 'ssm:SendCommand',
          resource: t.instanceId,
          detail: 'AWS-RunShellScript: stop the agent',
        });
      else {
        const sent = await awsCall('ssm:SendCommand', () =>
          deps.ssm.send(
            new SendCommandCommand({
              InstanceIds: [t.instanceId],
              DocumentName: 'AWS-RunShellScript',
              Comment: `aidops tombstone ${t.incidentId}`.slice(0, 100),
              Parameters: { commands: [...(deps.stopAgentCommands ?? DEFAULT_STOP_AGENT_COMMANDS)] },
              TimeoutSeconds: 60,
            }),
          ),
        );
        commandId = sent.Command?.CommandId ?? null;
      }
    } else {
      mode = hibernate ? 'hibernate' : 'stop';
      if (dryRun)
        planned.push({ action: 'ec2:StopInstances', resource: t.instanceId, detail: hibernate ? 'Hibernate' : 'Stop' });
      else await stopInstance(deps.ec2, t, hibernate);
    }
  }
  const ctx: StepContext = {
    executionId: t.executionId,
    stateMachine: input.stateMachine,
    sessionId: t.sessionId,
    requestedBy: t.request.requestedBy,
  };
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(ctx, `Freeze the instance: ${mode}${dryRun ? ' (dry run)' : ''}`, 'succeeded'),
  ]);
  return { dryRun, mode, commandId, ssmReachable: reachable, requestedAt: requestedAt.toISOString(), planned };
}

export const FreezeCheckInput = z.strictObject({
  target: z.looseObject({}),
  freeze: z.looseObject({}),
});

export interface FreezeCheck {
  readonly done: boolean;
  readonly state: string;
  /** The agent could not be stopped through SSM; the instance was stopped instead. */
  readonly fellBackToStop: boolean;
}

/** Polled by the machine until the freeze holds (instance stopped, or the SSM command finished). */
export async function checkFreeze(deps: FreezeDeps, input: z.output<typeof FreezeCheckInput>): Promise<FreezeCheck> {
  const t = input.target as unknown as Target;
  const f = input.freeze as unknown as FreezeResult;
  if (f.dryRun || f.mode === 'none') return { done: true, state: t.state, fellBackToStop: false };
  if (f.mode === 'ssm-stop-agent' && f.commandId) {
    try {
      const inv = await deps.ssm.send(
        new GetCommandInvocationCommand({ CommandId: f.commandId, InstanceId: t.instanceId }),
      );
      if (inv.Status === 'Success') return { done: true, state: 'agent-stopped', fellBackToStop: false };
      if (['Pending', 'InProgress', 'Delayed'].includes(inv.Status ?? ''))
        return { done: false, state: inv.Status ?? 'Pending', fellBackToStop: false };
    } catch {
      // No invocation record: treat like a failed command.
    }
  }
  const cur = await awsCall('ec2:DescribeInstances', () =>
    deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [t.instanceId] })),
  );
  let state = cur.Reservations?.[0]?.Instances?.[0]?.State?.Name ?? 'unknown';
  const fellBackToStop = f.mode === 'ssm-stop-agent';
  // The agent could not be stopped in the guest: stop the instance (idempotent on a stopping one).
  if (fellBackToStop && (state === 'running' || state === 'pending')) {
    await stopInstance(deps.ec2, t, false);
    state = 'stopping';
  }
  return { done: state === 'stopped' || state === 'terminated', state, fellBackToStop };
}
