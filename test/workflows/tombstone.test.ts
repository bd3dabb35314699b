/**
 * The tombstone workflow, synthesized and run against moto with the real
 * handlers: isolation first (the gateway's recorded calls prove the order),
 * quarantine only, credentials revoked, frozen, evidence snapshots, a packet
 * under legal hold that cannot be deleted, an OpsItem, an audit chain that
 * verifies; a dry run that changes nothing; throttling retried with nothing lost.
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
} from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetRolePolicyCommand, IAMClient, ListRolePoliciesCommand } from '@aws-sdk/client-iam';
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
import { newEvent, publishAuditEvents } from '../../lambdas/audit/schema.ts';
import { s3AuditStore, trustFromKms, verifyAudit } from '../../lambdas/audit/verify.ts';
import { RemediationTags } from '../../lambdas/remediation/tags.ts';
import { Tags, tagValue } from '../../lambdas/shared/tags.ts';
import type { Execution } from '../../local/asl/sfn-local.ts';
import { groupsOf, launchFixtureSession } from '../../local/gameday.ts';
import { installStandins } from '../../local/standins/index.ts';
import { useRuntime } from '../helpers/runtime.ts';

const MACHINE = 'aidops-tombstone';

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

    const ex = await rt().execute(
      MACHINE,
      { sessionId: s.sessionId, reason: 'wrote to /finance', source: 'evt-123', requestedBy: 'alice@example.com' },
      'tomb-1',
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
    const pol = await iam.send(
      new GetRolePolicyCommand({ RoleName: s.roleName, PolicyName: `aidops-revoke-${s.instanceId}` }),
    );
    const doc = JSON.parse(decodeURIComponent(pol.PolicyDocument!));
    assert.equal(doc.Statement[0].Effect, 'Deny');
    assert.ok(doc.Statement[0].Condition.DateLessThan['aws:TokenIssueTime']);
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
});
