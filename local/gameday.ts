/**
 * The remediation game day (`runGameDay(rt)`, for `npm run demo`) and the
 * realistic session it, the tests and the benchmark use: an
 * instance in the session VPC with its own security group, an instance profile
 * whose role is per session, a data volume that would be deleted on termination,
 * an elastic IP, and a session secret. Everything tombstone touches exists.
 */

import { join } from 'node:path';
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AuthorizeSecurityGroupEgressCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { main as aidops } from '../cli/aidops.ts';
import type { CliIo } from '../cli/args.ts';
import { newEvent, publishAuditEvents } from '../lambdas/audit/schema.ts';
import { createDecider } from '../lambdas/policy/decide.ts';
import { names } from '../lambdas/shared/names.ts';
import { Tags } from '../lambdas/shared/tags.ts';
import { PROJECT_ROOT } from '../lib/constructs/function.ts';
import type { Execution } from './asl/sfn-local.ts';
import { deliverEvent } from './events.ts';
import type { LocalRuntime } from './runtime.ts';
import { installStandins } from './standins/index.ts';

/** An AMI moto knows; in AWS each profile names its images. */
export const FIXTURE_AMI = 'ami-12c6146b';

export interface FixtureSession {
  readonly sessionId: string;
  readonly instanceId: string;
  readonly sessionGroupId: string;
  readonly eniIds: string[];
  readonly roleName: string;
  readonly profileArn: string;
  readonly secretArn: string;
  readonly allocationId: string;
}

export function sessionSubnet(rt: LocalRuntime): string {
  for (const [id, p] of rt.provisioned.resources) {
    if (p.type === 'AWS::EC2::Subnet' && id.startsWith('NetworkVpc')) return p.ref;
  }
  throw new Error('no session subnet in the synthesized app');
}

export function sessionVpc(rt: LocalRuntime): string {
  for (const [id, p] of rt.provisioned.resources)
    if (p.type === 'AWS::EC2::VPC' && id.startsWith('NetworkVpc')) return p.ref;
  throw new Error('no session VPC in the synthesized app');
}

export async function launchFixtureSession(
  rt: LocalRuntime,
  sessionId: string,
  opts: { profile?: string } = {},
): Promise<FixtureSession> {
  const cfg = rt.clientConfig();
  const ec2 = new EC2Client(cfg);
  const iam = new IAMClient(cfg);
  const sm = new SecretsManagerClient(cfg);
  const sg = await ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: `session-${sessionId}`,
      Description: `session ${sessionId}`,
      VpcId: sessionVpc(rt),
    }),
  );
  await ec2.send(
    new AuthorizeSecurityGroupEgressCommand({
      GroupId: sg.GroupId!,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.42.0.0/16' }] }],
    }),
  );
  const roleName = `${names().prefix}-session-${sessionId}`.slice(0, 64);
  await iam.send(
    new CreateRoleCommand({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
    }),
  );
  const profile = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: roleName }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: roleName, RoleName: roleName }));
  const r = await ec2.send(
    new RunInstancesCommand({
      ImageId: FIXTURE_AMI,
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 'm6a.large',
      SubnetId: sessionSubnet(rt),
      SecurityGroupIds: [sg.GroupId!],
      IamInstanceProfile: { Arn: profile.InstanceProfile!.Arn! },
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: [
            { Key: Tags.SessionId, Value: sessionId },
            { Key: Tags.Profile, Value: opts.profile ?? 'standard' },
          ],
        },
      ],
      // moto makes no root volume when mappings are given, so name the root explicitly.
      BlockDeviceMappings: ['/dev/xvda', '/dev/sdf'].map((d) => ({
        DeviceName: d,
        Ebs: { VolumeSize: 8, Encrypted: true, DeleteOnTermination: true },
      })),
    }),
  );
  const instanceId = r.Instances![0]!.InstanceId!;
  const secret = await sm.send(
    new CreateSecretCommand({
      Name: `${names().sessionSecretPrefix}${sessionId}/agent-token`,
      SecretString: 'token-for-the-agent',
      Tags: [{ Key: Tags.SessionId, Value: sessionId }],
    }),
  );
  const eip = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
  await ec2.send(new AssociateAddressCommand({ AllocationId: eip.AllocationId!, InstanceId: instanceId }));
  const eniIds = await enisOf(ec2, instanceId);
  return {
    sessionId,
    instanceId,
    sessionGroupId: sg.GroupId!,
    eniIds,
    roleName,
    profileArn: profile.InstanceProfile!.Arn!,
    secretArn: secret.ARN!,
    allocationId: eip.AllocationId!,
  };
}

export async function enisOf(ec2: EC2Client, instanceId: string): Promise<string[]> {
  const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return (d.Reservations?.[0]?.Instances?.[0]?.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId!);
}

/** Groups of each interface of the instance, as EC2 reports them now. */
export async function groupsOf(ec2: EC2Client, instanceId: string): Promise<Record<string, string[]>> {
  const ids = await enisOf(ec2, instanceId);
  const d = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ids }));
  return Object.fromEntries(
    (d.NetworkInterfaces ?? []).map((n) => [n.NetworkInterfaceId!, (n.Groups ?? []).map((g) => g.GroupId!)]),
  );
}

// ---------------------------------------------------------------------------
// Game day

export interface IsolationFigures {
  /** Trigger (event delivered) → the quarantine group applied on the last interface. */
  readonly timeToIsolationMs: number;
  /** Trigger → evidence packet written. */
  readonly timeToEvidenceMs: number;
  /** Every AWS call between the trigger and the quarantine group holding, as `service:Action`. */
  readonly callsBeforeIsolation: string[];
  /** Of those, the EC2 calls (the workflow's path to isolation; the trigger makes none). */
  readonly ec2CallsBeforeIsolation: number;
  /** States entered before isolation completed. */
  readonly transitionsBeforeIsolation: number;
}

/** Measures isolation from the gateway's recorded calls and the execution's own timeline. */
export function isolationFigures(rt: LocalRuntime, ex: Execution, triggeredAt: number): IsolationFigures {
  const calls = rt.gateway.calls.filter((c) => c.start >= triggeredAt && c.start <= (ex.stopDate ?? Date.now()));
  const modifies = calls.filter((c) => c.action === 'ModifyNetworkInterfaceAttribute' && !c.injected && c.status < 300);
  const last = modifies.at(-1);
  const isolatedAt = last?.end ?? Number.NaN;
  const packetAt = calls.find((c) => c.service === 's3' && c.action === 'PUTObject')?.end ?? Number.NaN;
  const before = calls.filter((c) => c.start < (last?.start ?? 0) && c !== last);
  return {
    timeToIsolationMs: isolatedAt - triggeredAt,
    timeToEvidenceMs: packetAt - triggeredAt,
    callsBeforeIsolation: before.map((c) => `${c.service}:${c.action}`),
    ec2CallsBeforeIsolation: before.filter((c) => c.service === 'ec2').length,
    transitionsBeforeIsolation: ex.timeline.filter((e) => e.type === 'StateEntered' && e.t <= isolatedAt).length,
  };
}

/** The evidence packet as written (the part the game day prints). */
async function readPacket(
  rt: LocalRuntime,
  s3Uri: string,
  versionId: string,
): Promise<{ audit: { objects: { key: string; sha256: string | null }[] } }> {
  const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(s3Uri) ?? [];
  const o = await new S3Client(rt.clientConfig()).send(
    new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
  );
  return JSON.parse(await o.Body!.transformToString());
}

function quietIo(lines: string[], env: CliIo['env'] = {}): CliIo {
  return {
    out: (x) =>
      lines.push(
        ...x
          .trimEnd()
          .split('\n')
          .map((l) => `    ${l}`),
      ),
    err: (x) => lines.push(`    ! ${x.trimEnd()}`),
    env: { USER: 'responder', ...env },
  };
}

/**
 * The whole story on the local emulator: a session writes to a protected path,
 * policy denies it and emits PolicyViolation, the rule starts the tombstone,
 * evidence lands under legal hold, a person approves a restore from the last
 * known-good snapshot. Returns printable lines.
 */
export async function runGameDay(rt: LocalRuntime): Promise<string[]> {
  installStandins(rt);
  const lines: string[] = [];
  const say = (x: string) => lines.push(x);
  const sessionId = `ses-gameday-${Date.now().toString(36)}`;
  const s = await launchFixtureSession(rt, sessionId);
  say(
    `session ${sessionId}: instance ${s.instanceId}, group ${s.sessionGroupId}, role ${s.roleName}, an elastic IP and a secret`,
  );
  // The agent works: its intent and action events go to the audit bus, and on to the writer through the queue.
  const eb = new EventBridgeClient(rt.clientConfig());
  const auditBus = rt.ref('AuditIngestBus');
  const user = { id: 'alice@example.com', type: 'human' as const };
  await publishAuditEvents(eb, auditBus, [
    newEvent('intent', {
      source: 'agent',
      sessionId,
      user,
      detail: { type: 'prompt', text: 'update the Q3 board deck' },
    }),
    newEvent('action', {
      source: 'agent',
      sessionId,
      user,
      detail: { type: 'fs_read', path: '/home/agent/q3-board.xlsx', bytes: 48_211, outcome: 'success' },
    }),
  ]);
  const kg = await rt.execute(
    names().snapshotMachine,
    { sessionId, reason: 'known-good (game day)' },
    `kg-${sessionId}`,
  );
  say(`known-good snapshots: ${(kg.output as { snapshotIds: string[] }).snapshotIds.join(', ')}`);
  await new Promise((r) => setTimeout(r, 1100)); // EC2 snapshot times have 1 s resolution

  // 1. The agent asks to write under /finance: the policy engine decides (deny) and emits the violation.
  // The same decider the decision Lambda runs, on the project's policies (the Lambda's bundle is a deploy artifact).
  const decider = await createDecider({ engine: 'rego', policies: join(PROJECT_ROOT, 'policies') });
  const outcome = await decider.decide({
    session: { id: sessionId, tier: 'standard', cohort: 'pilot', approvedScopes: [] },
    principal: { id: 'alice@example.com' },
    action: 'fs_write',
    resource: { kind: 'file', path: '/finance/q3-board.xlsx' },
    context: { time: new Date().toISOString(), flags: {}, attestation: { status: 'verified' } },
  });
  const decided = {
    decisions: [outcome.decision],
    violations: outcome.events.violation ? [outcome.events.violation] : [],
  };
  const d = decided.decisions[0]!;
  say(`policy: fs_write /finance/q3-board.xlsx → ${d.effect.toUpperCase()} (${d.reasons.join('; ')})`);
  const v = decided.violations[0];
  if (!v) throw new Error('policy did not emit a PolicyViolation for the denied write');
  // The decision is an audit event too, published as the decision function publishes it. Before the rule
  // fires, let the writer catch up, so the session's chain holds what the evidence packet must name.
  await publishAuditEvents(eb, auditBus, [outcome.events.audit]);
  await rt.pumpEventSources();
  say("audit: the session's intent, action and decision events are in its chain (the writer polls the audit queue)");

  // 2. EventBridge: the violation matches the remediation rule on the audit bus → trigger → tombstone.
  const triggeredAt = Date.now();
  const delivered = await deliverEvent(
    rt,
    { source: v.source, 'detail-type': v.detailType, detail: v.detail },
    names().auditBus,
  );
  const result = delivered[0]?.result as { outcome: string; executionName: string; executionArn: string } | undefined;
  if (!result) throw new Error('no rule matched the PolicyViolation');
  say(`rule ${delivered[0]!.rule} → trigger: ${result.outcome} ${result.executionName}`);
  const ex = await rt.sfn.executions.get(result.executionArn)!.done;
  const again = await deliverEvent(
    rt,
    { source: v.source, 'detail-type': v.detailType, detail: v.detail },
    names().auditBus,
  );
  say(
    `(another violation from the same session: ${(again[0]?.result as { outcome?: string })?.outcome ?? 'none'} — one tombstone per session)`,
  );
  if (ex.status !== 'SUCCEEDED') throw new Error(`tombstone ${ex.status}: ${ex.error}: ${ex.cause}`);
  say('');
  say(rt.formatTimeline(ex));
  say('');
  const f = isolationFigures(rt, ex, triggeredAt);
  const out = ex.output as Record<string, any>;
  say(
    `time to isolation (event → quarantine group applied): ${f.timeToIsolationMs} ms; ${f.ec2CallsBeforeIsolation} EC2 calls before it (all calls: ${f.callsBeforeIsolation.join(', ')})`,
  );
  say(`time to evidence (event → packet under legal hold): ${f.timeToEvidenceMs} ms`);
  const groups = await groupsOf(new EC2Client(rt.clientConfig()), s.instanceId);
  say(`interfaces now: ${JSON.stringify(groups)} (quarantine group only)`);
  say(
    `evidence packet: ${out.packet.s3Uri} version ${out.packet.versionId} (COMPLIANCE lock + legal hold, sha256 ${out.packet.sha256.slice(0, 16)}…)`,
  );
  say(`evidence snapshots: ${(out.snapshots.snapshotIds as string[]).join(', ')}`);
  const packet = await readPacket(rt, String(out.packet.s3Uri), String(out.packet.versionId));
  say(
    `evidence audit objects: ${packet.audit.objects.length} of the session's chain, each with its version and sha256 (${packet.audit.objects.map((o) => o.key.split('/').pop()).join(', ')})`,
  );
  say(`incident ticket: OpsItem ${out.opsItem.id} (local stand-in for SSM OpsItems)`);

  // 3. A responder restores from the last known-good snapshot; a second person (the approver role) approves.
  // Both sign (SigV4) with role sessions moto's STS issued, to the people's door through the API Gateway stand-in.
  const signedAs = async (role: string, session: string): Promise<CliIo['env']> => {
    const c = await rt.assumeRole(role, session);
    return {
      AWS_ACCESS_KEY_ID: c.accessKeyId,
      AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
      AWS_SESSION_TOKEN: c.sessionToken,
    };
  };
  const cli: string[] = [];
  const endpoint = ['--endpoint', rt.endpoint, '--door-url', rt.apiEndpoint('PeopleDoorApi')];
  await aidops(
    ['incident', 'restore', '--session', sessionId, '--json', ...endpoint],
    quietIo(cli, await signedAs('OperatorsResponder', 'carol')),
  );
  const started = JSON.parse(cli.join('\n')) as { executionArn: string; name: string; input: { requestedBy: string } };
  say('');
  say(`$ aidops incident restore --session ${sessionId}   → ${started.name}, waiting for approval`);
  say(`  requested by ${started.input.requestedBy} (the responder role session that signed)`);
  await rt.sfn.waitForPending((p) => p.executionArn === started.executionArn && p.stateName === 'Wait for approval');
  const approveOut: string[] = [];
  await aidops(
    ['incident', 'approve', started.name, '--comment', 'packet reviewed', ...endpoint],
    quietIo(approveOut, await signedAs('OperatorsApprover', 'bob')),
  );
  say(`$ aidops incident approve ${started.name}   (signed as a second principal: the approver role)`);
  lines.push(...approveOut);
  const rex = await rt.sfn.executions.get(started.executionArn)!.done;
  if (rex.status !== 'SUCCEEDED') throw new Error(`restore ${rex.status}: ${rex.error}: ${rex.cause}`);
  const rout = rex.output as Record<string, any>;
  say(
    `restore: ${rout.outcome} from ${rout.snapshotId} (root volume replaced by the local stand-in for CreateReplaceRootVolumeTask)`,
  );
  say(
    `interfaces now: ${JSON.stringify(await groupsOf(new EC2Client(rt.clientConfig()), s.instanceId))} (the original group)`,
  );
  say(`look: aidops incident status ${result.executionName} --endpoint ${rt.endpoint}`);
  return lines;
}
