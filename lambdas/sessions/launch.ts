/**
 * RunInstances from the profile's launch template, once per session.
 *
 * Idempotency: the session id is the ClientToken, so EC2 returns the same
 * instance for a retried or restarted call (for 7 days after launch). Before
 * calling, the instance tagged with the session is looked up and reused: a
 * second guard that also holds where ClientToken is not honoured (the emulator).
 *
 * The call names the isolation explicitly (CpuOptions.AmdSevSnp / EnclaveOptions)
 * even though the launch template sets them too: a template edited by hand must
 * not silently launch a high-tier session without SEV-SNP.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  DescribeInstancesCommand,
  type EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  type Tag,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { stepEvent } from '../audit/step-event.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { ValidationError } from '../shared/errors.ts';
import type { MetricSink } from '../shared/middleware.ts';
import { Tags } from '../shared/tags.ts';
import { type AuditSink, lifecycleEvent, sessionStep } from './audit.ts';
import { hash32, LaunchFailedError, type SessionContext } from './model.ts';
import type { SessionTable } from './table.ts';

export interface LaunchDeps {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  readonly table: SessionTable;
  readonly audit: AuditSink;
  /** Private isolated subnets; a session's subnet is chosen by hashing its id (spread, stable on retry). */
  readonly subnetIds: readonly string[];
  /** Operations metrics: SessionsStarted by tier. */
  readonly metric?: MetricSink;
}

export interface LaunchResult {
  readonly instanceId: string;
  readonly imageId: string;
  readonly reused: boolean;
  /** The isolation options the RunInstances call carried (what was asked of EC2; no secrets). */
  readonly isolationOptions: { CpuOptions?: unknown; EnclaveOptions?: unknown };
}

export function sessionTags(s: SessionContext): Tag[] {
  return [
    { Key: Tags.SessionId, Value: s.sessionId },
    { Key: Tags.Tier, Value: s.tier },
    { Key: Tags.Profile, Value: s.profile },
    { Key: Tags.PolicyVersion, Value: s.policyVersion },
    { Key: Tags.ExpiresAt, Value: s.expiresAt },
    { Key: Tags.ManagedBy, Value: 'ai-desktop-ops' },
    { Key: 'Name', Value: `aidops-${s.sessionId}` },
  ];
}

/** The exact RunInstances input for a session (pure, so it can be checked without EC2). */
export function runInstancesInput(s: SessionContext, imageId: string, subnetId: string): RunInstancesCommandInput {
  const tags = sessionTags(s);
  return {
    LaunchTemplate: { LaunchTemplateId: s.launchTemplateId, Version: '$Latest' },
    ImageId: imageId,
    InstanceType: s.instanceType as RunInstancesCommandInput['InstanceType'],
    MinCount: 1,
    MaxCount: 1,
    ClientToken: s.sessionId,
    // Request-level interfaces replace the template's, so they repeat its no-public-IP and group.
    NetworkInterfaces: [
      {
        DeviceIndex: 0,
        SubnetId: subnetId,
        Groups: [s.securityGroupId],
        AssociatePublicIpAddress: false,
        DeleteOnTermination: true,
      },
    ],
    ...(s.isolation === 'sev-snp' ? { CpuOptions: { AmdSevSnp: 'enabled' } } : {}),
    ...(s.isolation === 'nitro-enclave' ? { EnclaveOptions: { Enabled: true } } : {}),
    MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tags },
      { ResourceType: 'volume', Tags: tags },
      { ResourceType: 'network-interface', Tags: tags },
    ],
  };
}

/** Resolves `resolve:ssm:/param` to an AMI id, as launch templates do. */
export async function resolveImage(ssm: SSMClient, ref: string): Promise<string> {
  if (!ref.startsWith('resolve:ssm:')) return ref;
  const name = ref.slice('resolve:ssm:'.length);
  const r = await awsCall(`GetParameter ${name}`, () => ssm.send(new GetParameterCommand({ Name: name })));
  const v = r.Parameter?.Value ?? '';
  if (!/^ami-[0-9a-f]{8,17}$/.test(v)) throw new ValidationError(`SSM parameter ${name} does not hold an AMI id`);
  return v;
}

export async function findSessionInstance(
  ec2: EC2Client,
  sessionId: string,
): Promise<{ instanceId: string; imageId: string } | undefined> {
  const r = await awsCall('DescribeInstances by session', () =>
    ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${Tags.SessionId}`, Values: [sessionId] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
      }),
    ),
  );
  const i = r.Reservations?.flatMap((x) => x.Instances ?? [])[0];
  return i?.InstanceId ? { instanceId: i.InstanceId, imageId: i.ImageId ?? '' } : undefined;
}

export async function launch(session: SessionContext, deps: LaunchDeps): Promise<LaunchResult> {
  const w = { sessionId: session.sessionId, user: session.user, policyVersion: session.policyVersion };
  if (deps.subnetIds.length === 0) throw new ValidationError('no subnets configured for sessions');
  const existing = await findSessionInstance(deps.ec2, session.sessionId);
  const imageId = existing?.imageId || (await resolveImage(deps.ssm, session.imageRef));
  const subnetId = deps.subnetIds[hash32(session.sessionId) % deps.subnetIds.length]!;
  const req = runInstancesInput(session, imageId, subnetId);
  const isolationOptions = { CpuOptions: req.CpuOptions, EnclaveOptions: req.EnclaveOptions };
  let instanceId = existing?.instanceId;
  if (!instanceId) {
    const r = await awsCall('RunInstances', () => deps.ec2.send(new RunInstancesCommand(req)));
    instanceId = r.Instances?.[0]?.InstanceId;
    if (!instanceId) throw new LaunchFailedError(`RunInstances returned no instance for ${session.sessionId}`);
    // Counted once per session: a retried launch that finds its instance does not count again.
    deps.metric?.('SessionsStarted', MetricUnit.Count, 1, { Tier: session.tier });
  }
  await deps.table.update(session.sessionId, { instanceId, status: 'booting' });
  await deps.audit([
    stepEvent(
      sessionStep({ ...w, instanceId }, session.executionArn),
      existing ? 'launch (reused)' : 'launch',
      'succeeded',
    ),
    lifecycleEvent(
      { ...w, instanceId },
      'provisioning',
      `${session.instanceType} ${session.isolation}${existing ? ' (existing instance reused)' : ''}`,
    ),
  ]);
  return { instanceId, imageId, reused: Boolean(existing), isolationOptions };
}
