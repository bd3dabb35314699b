/**
 * The tombstone workflow, synthesized and run against moto with the real
 * handlers: isolation first (the gateway's recorded calls prove the order),
 * quarantine only, credentials revoked, frozen, evidence snapshots, a packet
 * under legal hold that cannot be deleted, an OpsItem, an audit chain that
 * verifies; a dry run that changes nothing; throttling retried with nothing lost.
 * And the attacks on it: 40+ tombstones on the one role every session shares
 * (revocation must not accumulate), a revocation that fails (the rest must go on),
 * a tombstone naming a non-session instance, an audit pipeline that lags.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, it } from 'node:test';
import {
  DescribeAddressesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { KMSClient } from '@aws-sdk/client-kms';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { DescribeSecretCommand, ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { newEvent, publishAuditEvents } from '../../lambdas/audit/schema.ts';
import { s3AuditStore, trustFromKms, verifyAudit } from '../../lambdas/audit/verify.ts';
import { INLINE_POLICY_LIMIT, policyChars } from '../../lambdas/remediation/revocations.ts';
import { RemediationTags } from '../../lambdas/remediation/tags.ts';
import { names } from '../../lambdas/shared/names.ts';
import { Tags, tagValue } from '../../lambdas/shared/tags.ts';
import type { Execution } from '../../local/asl/sfn-local.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../local/emulator/moto.ts';
import { FIXTURE_AMI, groupsOf, launchFixtureSession, sessionSubnet } from '../../local/gameday.ts';
import { installStandins } from '../../local/standins/index.ts';
import { useRuntime } from '../helpers/runtime.ts';

const MACHINE = names().tombstoneMachine;

describe('tombstone workflow (synthesized ASL against moto)', () => {
  const rt = useRuntime();
  const cfg = () => rt().clientConfig();
  const ec2 = () => new EC2Client(cfg());
  const s3 = () => new S3Client(cfg());
  before(() => {
    installStandins(rt());
  });
  const quarantine = () => rt().ref('NetworkQuarantineGroup');
  const bucket = () => rt().ref('AuditBucketPinned');

  const instanceArn = (id: string) => `arn:aws:ec2:${LOCAL_REGION}:${LOCAL_ACCOUNT}:instance/${id}`;

  /**
   * Runs `run` while the audit pipeline works: in AWS it writes on its own; locally the
   * writer runs when pumped, so it is pumped before each check of the packet's bounded wait.
   */
  async function withAuditPipeline<T>(run: () => Promise<T>): Promise<T> {
    const r = rt();
    const invoke = r.invoke.bind(r);
    const check = r.functionName('RemediationTombstoneAuditCheck');
    r.invoke = async (ref, payload) => {
      if (ref.includes(check)) await r.pumpEventSources();
      return await invoke(ref, payload);
    };
    try {
      return await run();
    } finally {
      r.invoke = invoke;
    }
  }

  function callsOf(ex: Execution) {
    return rt().gateway.calls.filter(
      (c) => c.start >= ex.startDate && c.start <= (ex.stopDate ?? Date.now()) && c.service !== 'states',
    );
  }

  it('isolates first, revokes, freezes, snapshots, writes a locked packet and opens a ticket', async () => {
    const s = await launchFixtureSession(rt(), 'ses-tomb-1');
    // The agent already wrote to the audit trail: the packet must name those objects.
    const eb = new EventBridgeClient(cfg());
    await publishAuditEvents(eb, rt().ref('AuditIngestBus'), [
      newEvent('action', {
        source: 'agent',
        sessionId: s.sessionId,
        detail: { type: 'fs_write', path: '/finance/q3.xlsx', bytes: 10, outcome: 'denied' },
      }),
    ]);
    await rt().pumpEventSources();

    // In AWS the audit pipeline runs on its own; locally it runs when pumped: while the packet waits for it.
    const ex = await withAuditPipeline(() =>
      rt().execute(
        MACHINE,
        { sessionId: s.sessionId, reason: 'wrote to /finance', source: 'evt-123', requestedBy: 'alice@example.com' },
        'tomb-1',
      ),
    );
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}\n${rt().formatTimeline(ex)}`);
    const out = ex.output as Record<string, any>;

    // Only the quarantine group, on every interface.
    const groups = await groupsOf(ec2(), s.instanceId);
    for (const [eni, g] of Object.entries(groups)) assert.deepEqual(g, [quarantine()], eni);
    assert.deepEqual(out.securityGroups.before, { [s.eniIds[0]!]: [s.sessionGroupId] });

    // Isolation completed before any freeze or snapshot call; ≤ 2 AWS calls before the quarantine group held.
    const calls = callsOf(ex);
    const modifies = calls.filter((c) => c.action === 'ModifyNetworkInterfaceAttribute');
    assert.equal(modifies.length, 2, 'transition, then quarantine');
    const quarantinedAt = modifies[1]!.end;
    const firstFreezeOrSnapshot = calls.find((c) =>
      ['StopInstances', 'SendCommand', 'CreateSnapshots', 'CreateSnapshot'].includes(c.action),
    );
    assert.ok(firstFreezeOrSnapshot, 'froze and snapshotted');
    assert.ok(quarantinedAt <= firstFreezeOrSnapshot.start, 'quarantine held before any freeze/snapshot call');
    const before = calls.filter((c) => c.start < modifies[1]!.start);
    assert.deepEqual(
      before.map((c) => c.action),
      ['DescribeInstances', 'ModifyNetworkInterfaceAttribute'],
    );
    const entered = ex.timeline.filter((e) => e.type === 'StateEntered').map((e) => e.state);
    assert.ok(entered.indexOf('Isolate the instance') < entered.indexOf('Revoke credentials'));
    assert.equal(
      entered.filter((x) => x?.endsWith('?') === false && x !== 'Validate the request and find the instance')[0],
      'Isolate the instance',
    );

    // Protection, volumes, EIP, credentials, secret, freeze.
    const tp = await ec2().send(
      new DescribeInstanceAttributeCommand({ InstanceId: s.instanceId, Attribute: 'disableApiTermination' }),
    );
    assert.equal(tp.DisableApiTermination?.Value, true);
    const inst = (await ec2().send(new DescribeInstancesCommand({ InstanceIds: [s.instanceId] }))).Reservations![0]!
      .Instances![0]!;
    for (const b of inst.BlockDeviceMappings ?? []) assert.equal(b.Ebs?.DeleteOnTermination, false, b.DeviceName);
    assert.equal(inst.State?.Name, 'stopped');
    assert.equal(inst.IamInstanceProfile, undefined, 'instance profile detached');
    assert.equal(tagValue(inst.Tags, RemediationTags.IncidentId), 'tomb-1');
    const addr = await ec2().send(new DescribeAddressesCommand({ AllocationIds: [s.allocationId] }));
    assert.equal(addr.Addresses![0]!.AssociationId, undefined, 'elastic IP detached');
    const iam = new IAMClient(cfg());
    assert.deepEqual((await iam.send(new ListRolePoliciesCommand({ RoleName: s.roleName }))).PolicyNames, [
      'aidops-revocations',
    ]);
    const pol = await iam.send(new GetRolePolicyCommand({ RoleName: s.roleName, PolicyName: 'aidops-revocations' }));
    const doc = JSON.parse(decodeURIComponent(pol.PolicyDocument!));
    assert.equal(doc.Statement[0].Effect, 'Deny');
    assert.equal(doc.Statement[0].Action, '*');
    // Quarantined (no profile, so nothing new is issued): every credential delivered to the instance is refused.
    assert.deepEqual(doc.Statement[0].Condition, {
      ArnEquals: { 'ec2:SourceInstanceARN': [instanceArn(s.instanceId)] },
    });
    const sec = await new SecretsManagerClient(cfg()).send(new DescribeSecretCommand({ SecretId: s.secretArn }));
    assert.ok(sec.DeletedDate, 'session secret scheduled for deletion');

    // Evidence snapshots: every volume, tagged, never expiring.
    const snapIds = out.snapshots.snapshotIds as string[];
    assert.equal(snapIds.length, 2);
    const snaps = await ec2().send(new DescribeSnapshotsCommand({ SnapshotIds: snapIds }));
    for (const sn of snaps.Snapshots!) {
      assert.equal(tagValue(sn.Tags, Tags.SessionId), s.sessionId);
      assert.equal(tagValue(sn.Tags, Tags.IncidentId), 'tomb-1');
      assert.equal(tagValue(sn.Tags, Tags.Reason), 'tombstone tomb-1');
      assert.equal(tagValue(sn.Tags, RemediationTags.LegalHold), 'true');
      assert.equal(tagValue(sn.Tags, Tags.ExpiresAt), undefined, 'evidence never expires');
      assert.equal(sn.State, 'completed');
    }

    // The packet: locked, held, undeletable, and complete.
    const key = `evidence/${s.sessionId}/tomb-1/packet.json`;
    assert.equal(out.packet.s3Uri, `s3://${bucket()}/${key}`);
    assert.equal(out.packet.legalHold, true);
    const hold = await s3().send(
      new GetObjectLegalHoldCommand({ Bucket: bucket(), Key: key, VersionId: out.packet.versionId }),
    );
    assert.equal(hold.LegalHold?.Status, 'ON');
    // HeadObject, not GetObjectRetention: moto answers ?retention with the object body.
    const head = await s3().send(
      new HeadObjectCommand({ Bucket: bucket(), Key: key, VersionId: out.packet.versionId }),
    );
    assert.equal(head.ObjectLockMode, 'COMPLIANCE');
    assert.ok(
      head.ObjectLockRetainUntilDate && head.ObjectLockRetainUntilDate.getTime() > Date.now() + 300 * 86_400_000,
    );
    const del = await s3()
      .send(new DeleteObjectCommand({ Bucket: bucket(), Key: key, VersionId: out.packet.versionId }))
      .then(
        () => 'deleted',
        (e: Error) => e.name,
      );
    assert.equal(del, 'AccessDenied');
    const body = await (
      await s3().send(new GetObjectCommand({ Bucket: bucket(), Key: key }))
    ).Body!.transformToString();
    assert.equal(createHash('sha256').update(body).digest('hex'), out.packet.sha256);
    const packet = JSON.parse(body);
    assert.deepEqual(packet.securityGroups.after, groups);
    assert.deepEqual(packet.securityGroups.original, { [s.eniIds[0]!]: [s.sessionGroupId] });
    assert.deepEqual(packet.snapshots.map((x: any) => x.snapshotId).sort(), [...snapIds].sort());
    assert.ok(packet.audit.objects.length >= 1, 'the session audit objects are listed');
    for (const o of packet.audit.objects) {
      const got = await s3().send(new GetObjectCommand({ Bucket: bucket(), Key: o.key, VersionId: o.versionId }));
      assert.equal(
        createHash('sha256')
          .update(await got.Body!.transformToByteArray())
          .digest('hex'),
        o.sha256,
        o.key,
      );
    }
    assert.equal(packet.audit.complete, true, packet.audit.reason);
    assert.ok(Date.parse(packet.audit.newestObjectAt) >= Math.floor(Date.parse(packet.audit.incidentAt) / 1000) * 1000);
    assert.equal(packet.complete, true, JSON.stringify(packet.incomplete));
    assert.deepEqual(packet.incomplete, []);
    assert.equal(out.packet.complete, true);
    assert.ok(packet.timeline.length >= 10, 'the execution history is in the packet');
    assert.ok(packet.timeline.every((t: any) => !Number.isNaN(Date.parse(t.time))));
    const steps = Object.fromEntries(packet.steps.map((x: any) => [x.step, Date.parse(x.time)]));
    assert.equal(packet.isolation.quarantineAppliedAt, out.quarantinedAt);
    assert.ok(steps['quarantine group applied']! <= steps['credentials revoked (tokens issued before)']!);
    assert.ok(steps['quarantine group applied']! <= steps['freeze requested (stop)']!);

    // The ticket links the packet and the snapshots.
    const opsItem = installStandins(rt()).opsItems.items.get(out.opsItem.id);
    assert.ok(opsItem, 'OpsItem exists');
    assert.match(opsItem.OperationalData['aidops:evidence-packet']!.Value!, new RegExp(key));
    assert.deepEqual(JSON.parse(opsItem.OperationalData['aidops:snapshots']!.Value!), snapIds);
    assert.match(out.opsItem.url, /systems-manager\/opsitems\/oi-/);

    // Every step is in the audit trail, and the session chain verifies.
    await rt().pumpEventSources();
    await rt().fireSchedule('AuditIngestDigestSchedule');
    const report = await verifyAudit({
      store: s3AuditStore(s3(), bucket()),
      session: s.sessionId,
      trust: await trustFromKms(new KMSClient(cfg()), rt().ref('AuditSigningKey')),
      policy: { retentionDays: 365 },
    });
    assert.equal(report.intact, true, JSON.stringify(report.findings));
    const versions = await s3().send(
      new ListObjectVersionsCommand({ Bucket: bucket(), Prefix: `audit/chains/${s.sessionId}/` }),
    );
    const lines: string[] = [];
    for (const v of versions.Versions ?? []) {
      const o = await s3().send(new GetObjectCommand({ Bucket: bucket(), Key: v.Key, VersionId: v.VersionId }));
      lines.push(...(await o.Body!.transformToString()).trim().split('\n').slice(1));
    }
    const audited = lines
      .map((l) => JSON.parse(l))
      .filter((e) => e.kind === 'workflow')
      .map((e) => e.detail.step);
    for (const step of [
      'Isolate the instance',
      'Revoke credentials',
      'Write the evidence packet under legal hold',
      'Open the incident ticket and notify',
    ])
      assert.ok(audited.includes(step), `audit event for "${step}" (got ${audited.join(' | ')})`);
    assert.ok(
      lines.some((l) => l.includes('"state":"quarantined"')),
      'a lifecycle event says quarantined',
    );
  });

  it('a dry run reads everything, reports the plan and changes nothing in the emulator', async () => {
    const s = await launchFixtureSession(rt(), 'ses-tomb-dry');
    const snapshot = async () => {
      const i = await ec2().send(new DescribeInstancesCommand({ InstanceIds: [s.instanceId] }));
      const tp = await ec2().send(
        new DescribeInstanceAttributeCommand({ InstanceId: s.instanceId, Attribute: 'disableApiTermination' }),
      );
      const a = await ec2().send(new DescribeAddressesCommand({ AllocationIds: [s.allocationId] }));
      const snaps = await ec2().send(
        new DescribeSnapshotsCommand({ Filters: [{ Name: `tag:${Tags.SessionId}`, Values: [s.sessionId] }] }),
      );
      const vols = await ec2().send(new DescribeVolumesCommand({}));
      const pols = await new IAMClient(cfg()).send(new ListRolePoliciesCommand({ RoleName: s.roleName }));
      const secrets = await new SecretsManagerClient(cfg()).send(
        new ListSecretsCommand({ IncludePlannedDeletion: true }),
      );
      const packets = await s3().send(
        new ListObjectVersionsCommand({ Bucket: bucket(), Prefix: `evidence/${s.sessionId}/` }),
      );
      return JSON.stringify({
        i: i.Reservations,
        tp: tp.DisableApiTermination,
        a: a.Addresses,
        snaps: snaps.Snapshots,
        vols: vols.Volumes?.length,
        pols: pols.PolicyNames,
        secrets: secrets.SecretList?.map((x) => [x.ARN, x.DeletedDate]),
        packets: packets.Versions?.length ?? 0,
        opsItems: installStandins(rt()).opsItems.items.size,
      });
    };
    const before = await snapshot();
    const ex = await rt().execute(
      MACHINE,
      { sessionId: s.sessionId, reason: 'what would happen', source: 'manual:dry', requestedBy: 'alice', dryRun: true },
      'tomb-dry-1',
    );
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    assert.equal(await snapshot(), before, 'describe output identical before and after');
    const out = ex.output as Record<string, any>;
    assert.equal(out.dryRun, true);
    const actions = (out.planned.isolation as any[]).map((p) => p.action);
    assert.deepEqual(actions.slice(0, 2), [
      'ec2:ModifyNetworkInterfaceAttribute',
      'ec2:ModifyNetworkInterfaceAttribute',
    ]);
    assert.ok(actions.includes('ec2:DisassociateAddress') && actions.includes('ec2:ModifyInstanceAttribute'));
    assert.ok((out.planned.credentials as any[]).some((p) => p.action === 'iam:PutRolePolicy'));
    assert.ok((out.planned.credentials as any[]).some((p) => p.action === 'secretsmanager:DeleteSecret'));
    assert.deepEqual(
      (out.planned.freeze as any[]).map((p) => p.action),
      ['ec2:StopInstances'],
    );
    const mutating = callsOf(ex).filter(
      (c) => /^(Modify|Create|Delete|Disassociate|Stop|Put|Associate|Replace)/.test(c.action) && c.service !== 'events',
    );
    assert.deepEqual(
      mutating.map((c) => `${c.service}:${c.action}`),
      [],
      'no mutating AWS call',
    );
  });

  it('retries throttled EC2 calls and completes with nothing lost (and never reopens a quarantined interface)', async () => {
    const s = await launchFixtureSession(rt(), 'ses-tomb-throttle');
    const g = rt().gateway;
    // 4 failures outlast the SDK's 3 attempts: the in-process retry and the workflow's Retry must act.
    g.inject({ service: 'ec2', action: 'ModifyNetworkInterfaceAttribute', code: 'RequestLimitExceeded', count: 4 });
    g.inject({ service: 'ec2', action: 'StopInstances', code: 'RequestLimitExceeded', count: 4 });
    g.inject({ service: 'ec2', action: 'CreateSnapshots', code: 'RequestLimitExceeded', count: 4 });
    const ex = await rt().execute(
      MACHINE,
      { sessionId: s.sessionId, reason: 'throttled', source: 'evt-t', requestedBy: 'alice' },
      'tomb-throttle-1',
    );
    g.clearFaults();
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}\n${rt().formatTimeline(ex)}`);
    const injected = g.calls.filter((c) => c.injected && c.start >= ex.startDate).map((c) => c.action);
    assert.equal(injected.length, 12, injected.join(','));
    for (const [, groups] of Object.entries(await groupsOf(ec2(), s.instanceId)))
      assert.deepEqual(groups, [quarantine()]);
    const snaps = await ec2().send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: `tag:${Tags.SessionId}`, Values: [s.sessionId] }] }),
    );
    assert.equal(snaps.Snapshots!.length, 2, 'one snapshot per volume, once');
    const out = ex.output as Record<string, any>;
    assert.deepEqual(out.securityGroups.before, { [s.eniIds[0]!]: [s.sessionGroupId] });
    assert.ok(out.packet.versionId);
  });

  it('a second tombstone of a quarantined session never moves it to the allow-all group and keeps the original groups', async () => {
    const s = await launchFixtureSession(rt(), 'ses-tomb-again');
    const a = await rt().execute(
      MACHINE,
      { sessionId: s.sessionId, reason: 'first', source: 'evt-a', requestedBy: 'alice' },
      'tomb-again-1',
    );
    assert.equal(a.status, 'SUCCEEDED', `${a.error}: ${a.cause}`);
    const b = await rt().execute(
      MACHINE,
      { sessionId: s.sessionId, reason: 'second', source: 'evt-b', requestedBy: 'bob' },
      'tomb-again-2',
    );
    assert.equal(b.status, 'SUCCEEDED', `${b.error}: ${b.cause}`);
    assert.equal(callsOf(b).filter((c) => c.action === 'ModifyNetworkInterfaceAttribute').length, 0);
    const packet = JSON.parse(
      await (
        await s3().send(
          new GetObjectCommand({ Bucket: bucket(), Key: `evidence/${s.sessionId}/tomb-again-2/packet.json` }),
        )
      ).Body!.transformToString(),
    );
    assert.deepEqual(packet.securityGroups.original, { [s.eniIds[0]!]: [s.sessionGroupId] }, 'from the instance tag');
    assert.deepEqual(Object.values(packet.securityGroups.before), [[quarantine()]]);
  });

  it('fails fast with ValidationError on bad input, isolating nothing', async () => {
    for (const [i, input] of [
      { reason: 'no target', source: 'x', requestedBy: 'a' },
      { sessionId: 'ses-tomb-1', reason: '', source: 'x', requestedBy: 'a' },
      { sessionId: 'ses-tomb-1', reason: 'x', requestedBy: 'a' },
      { sessionId: 'ses-tomb-1', reason: 'x', source: 'x', requestedBy: 'a', freeze: 'melt' },
    ].entries()) {
      const ex = await rt().execute(MACHINE, input, `tomb-bad-${i}`);
      assert.equal(ex.status, 'FAILED');
      assert.equal(ex.error, 'ValidationError', JSON.stringify(input));
      assert.equal(callsOf(ex).filter((c) => c.action === 'ModifyNetworkInterfaceAttribute').length, 0);
    }
  });

  /** An instance of session `sessionId` on the given instance profile (the role every session shares). */
  async function launchOnProfile(sessionId: string, profileArn: string): Promise<string> {
    const r = await ec2().send(
      new RunInstancesCommand({
        ImageId: FIXTURE_AMI,
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 'm6a.large',
        SubnetId: sessionSubnet(rt()),
        IamInstanceProfile: { Arn: profileArn },
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: Tags.SessionId, Value: sessionId }] }],
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8, Encrypted: true } }],
      }),
    );
    return r.Instances![0]!.InstanceId!;
  }

  /** Every inline policy of a role, decoded. */
  async function inlinePolicies(roleName: string): Promise<Record<string, string>> {
    const iam = new IAMClient(cfg());
    const names = (await iam.send(new ListRolePoliciesCommand({ RoleName: roleName }))).PolicyNames ?? [];
    const out: Record<string, string> = {};
    for (const n of names)
      out[n] = decodeURIComponent(
        (await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: n }))).PolicyDocument!,
      );
    return out;
  }

  it('41 tombstones on the one role all sessions share: one revocation policy, bounded, every instance in it', async () => {
    const iam = new IAMClient(cfg());
    const role = 'aidops-session-shared';
    await iam.send(
      new CreateRoleCommand({
        RoleName: role,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
      }),
    );
    const profile = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: role }));
    await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: role, RoleName: role }));
    const instances: string[] = [];
    for (let i = 0; i < 41; i++)
      instances.push(await launchOnProfile(`ses-shared-${i}`, profile.InstanceProfile!.Arn!));
    // In waves of 8 at once: concurrent tombstones rewrite the same role's policy, and none may be lost.
    for (let wave = 0; wave < instances.length; wave += 8) {
      const batch = instances.map((_, i) => i).slice(wave, wave + 8);
      const done = await Promise.all(
        batch.map((i) =>
          rt().execute(
            MACHINE,
            {
              sessionId: `ses-shared-${i}`,
              reason: `incident ${i}`,
              source: `evt-shared-${i}`,
              requestedBy: 'alice',
              freeze: 'none',
            },
            `tomb-shared-${i}`,
          ),
        ),
      );
      for (const [k, ex] of done.entries())
        assert.equal(ex.status, 'SUCCEEDED', `${batch[k]}: ${ex.error}: ${ex.cause}`);
      // moto enforces no size limit; IAM does (10,240 characters over all of a role's inline policies).
      const policies = await inlinePolicies(role);
      const chars = Object.values(policies).reduce((n, d) => n + policyChars(d), 0);
      const after = Math.min(wave + 8, instances.length);
      assert.ok(chars <= INLINE_POLICY_LIMIT, `after ${after} tombstones the role holds ${chars} characters`);
      assert.deepEqual(Object.keys(policies), ['aidops-revocations'], `after ${after} tombstones`);
    }
    const doc = JSON.parse((await inlinePolicies(role))['aidops-revocations']!);
    assert.deepEqual(
      [...doc.Statement[0].Condition.ArnEquals['ec2:SourceInstanceARN']].sort(),
      instances.map(instanceArn).sort(),
      'every quarantined instance is denied',
    );
    // The last one was revoked in full: its profile is detached too.
    const last = (await ec2().send(new DescribeInstancesCommand({ InstanceIds: [instances.at(-1)!] })))
      .Reservations![0]!.Instances![0]!;
    assert.equal(last.IamInstanceProfile, undefined);
  });

  it('a revocation that fails still freezes, snapshots and writes a packet that says it is incomplete, and pages', async () => {
    const sqs = new SQSClient(cfg());
    const q = await sqs.send(new CreateQueueCommand({ QueueName: 'tombstone-pages' }));
    const qArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl!, AttributeNames: ['QueueArn'] }))
    ).Attributes!.QueueArn!;
    await new SNSClient(cfg()).send(
      new SubscribeCommand({ TopicArn: rt().ref('AlarmTopic'), Protocol: 'sqs', Endpoint: qArn }),
    );
    const s = await launchFixtureSession(rt(), 'ses-tomb-revoke-fails');
    // What IAM answers past its inline policy limit. The SDK counts it as throttling and tries 3 times;
    // the project does not (it is no transient error), so the workflow does not retry it.
    rt().gateway.inject({ service: 'iam', action: 'PutRolePolicy', code: 'LimitExceeded', status: 409, count: 3 });
    const ex = await rt().execute(
      MACHINE,
      { sessionId: s.sessionId, reason: 'revocation fails', source: 'evt-rf', requestedBy: 'alice' },
      'tomb-revoke-fails',
    );
    rt().gateway.clearFaults();
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}\n${rt().formatTimeline(ex)}`);
    const entered = ex.timeline.filter((e) => e.type === 'StateEntered').map((e) => e.state);
    for (const st of [
      'Freeze the instance',
      'Snapshot every volume (evidence)',
      'Write the evidence packet under legal hold',
    ])
      assert.ok(entered.includes(st), `${st} ran after the failed revocation`);
    // The rest of the revocation was still done: profile detached, secret scheduled for deletion.
    const inst = (await ec2().send(new DescribeInstancesCommand({ InstanceIds: [s.instanceId] }))).Reservations![0]!
      .Instances![0]!;
    assert.equal(inst.State?.Name, 'stopped', 'frozen');
    assert.equal(inst.IamInstanceProfile, undefined, 'instance profile detached');
    const sec = await new SecretsManagerClient(cfg()).send(new DescribeSecretCommand({ SecretId: s.secretArn }));
    assert.ok(sec.DeletedDate, 'session secret scheduled for deletion');
    const out = ex.output as Record<string, any>;
    assert.equal(out.snapshots.snapshotIds.length, 2, 'snapshotted');
    assert.equal(out.packet.complete, false);
    const packet = JSON.parse(
      await (
        await s3().send(
          new GetObjectCommand({ Bucket: bucket(), Key: `evidence/${s.sessionId}/tomb-revoke-fails/packet.json` }),
        )
      ).Body!.transformToString(),
    );
    assert.equal(packet.complete, false);
    const revoke = packet.incomplete.find((x: any) => x.step === 'Revoke credentials');
    assert.equal(revoke?.error, 'RevocationIncompleteError', JSON.stringify(packet.incomplete));
    assert.match(revoke.cause, /deny on the role: LimitExceeded/);
    assert.equal(packet.credentials.failed, true);
    assert.equal(packet.credentials.paged, true);
    const pages = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q.QueueUrl!, MaxNumberOfMessages: 10 }));
    assert.ok(
      (pages.Messages ?? []).some((m) => m.Body?.includes('Revoke credentials') && m.Body?.includes(s.sessionId)),
      'a person was paged about the failed revocation',
    );
  });

  it('refuses an instance id that is not a session instance (typed error), isolating nothing', async () => {
    const r = await ec2().send(
      new RunInstancesCommand({ ImageId: FIXTURE_AMI, MinCount: 1, MaxCount: 1, InstanceType: 'm6a.large' }),
    );
    const instanceId = r.Instances![0]!.InstanceId!;
    const ex = await rt().execute(
      MACHINE,
      { instanceId, reason: 'not ours', source: 'evt-x', requestedBy: 'mallory' },
      'tomb-not-session',
    );
    assert.equal(ex.status, 'FAILED');
    assert.equal(ex.error, 'NotASessionInstanceError', ex.cause);
    assert.equal(callsOf(ex).filter((c) => c.action === 'ModifyNetworkInterfaceAttribute').length, 0);
    assert.equal(callsOf(ex).filter((c) => /^(Stop|Modify|Disassociate)/.test(c.action)).length, 0);
  });

  it('when the audit pipeline lags, the packet waits a bounded time, then says the audit trail is behind', async () => {
    const s = await launchFixtureSession(rt(), 'ses-tomb-audit-lag');
    const ex = await rt().execute(
      MACHINE,
      { sessionId: s.sessionId, reason: 'lagging audit', source: 'evt-lag', requestedBy: 'alice' },
      'tomb-audit-lag',
    );
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    const retried = ex.timeline.filter((e) => e.type === 'StateRetried' && e.state === 'Wait for the audit trail');
    assert.ok(retried.length >= 1 && retried.length <= 4, `bounded: retried ${retried.length} times`);
    const packet = JSON.parse(
      await (
        await s3().send(
          new GetObjectCommand({ Bucket: bucket(), Key: `evidence/${s.sessionId}/tomb-audit-lag/packet.json` }),
        )
      ).Body!.transformToString(),
    );
    assert.equal(packet.audit.complete, false);
    assert.match(packet.audit.reason, /no audit object of the session|had not written/);
    assert.equal(packet.complete, false);
    assert.deepEqual(
      packet.incomplete.map((x: any) => x.step),
      ['Wait for the audit trail'],
    );
  });
});
