/**
 * The restore workflow after a tombstone, driven the way a responder drives it:
 * `aidops incident restore` as a responder, then `approve` / `reject` as a
 * second principal (an approver role session), both signed (SigV4) to the
 * people's door through the API Gateway stand-in. Root volume replacement uses
 * the named local stand-in (moto has no CreateReplaceRootVolumeTask).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  DescribeIamInstanceProfileAssociationsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { RemediationTags } from '../../lambdas/remediation/tags.ts';
import { names } from '../../lambdas/shared/names.ts';
import { tagValue } from '../../lambdas/shared/tags.ts';
import { type FixtureSession, groupsOf, launchFixtureSession } from '../../local/gameday.ts';
import type { LocalCredentials } from '../../local/runtime.ts';
import { installStandins } from '../../local/standins/index.ts';
import { runCli } from '../helpers/cli.ts';
import { useRuntime } from '../helpers/runtime.ts';

describe('restore workflow: approve → release, reject → stay quarantined, approve --terminate', () => {
  const rt = useRuntime();
  const ec2 = () => new EC2Client(rt().clientConfig());
  before(() => {
    installStandins(rt());
  });

  const creds: Record<string, LocalCredentials> = {};
  before(async () => {
    creds.carol = await rt().assumeRole('OperatorsResponder', 'carol');
    creds.bob = await rt().assumeRole('OperatorsApprover', 'bob');
  });
  /** The CLI signing as `who` (a role session moto issued); the door's URL from the stand-in. */
  const cli = (args: string[], who: 'carol' | 'bob' = 'carol') => {
    const c = creds[who]!;
    const door = args[1] && ['tombstone', 'restore', 'approve', 'reject'].includes(args[1]);
    return runCli(
      [...args, '--endpoint', rt().endpoint, ...(door ? ['--door-url', rt().apiEndpoint('PeopleDoorApi')] : [])],
      {
        USER: 'tester',
        AWS_ACCESS_KEY_ID: c.accessKeyId,
        AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
        AWS_SESSION_TOKEN: c.sessionToken,
      },
    );
  };

  /** A session with a known-good snapshot, then tombstoned. */
  async function quarantined(sessionId: string): Promise<{ s: FixtureSession; knownGood: string[] }> {
    const s = await launchFixtureSession(rt(), sessionId);
    const kg = await rt().execute(names().snapshotMachine, { sessionId, reason: 'known-good' }, `kg-${sessionId}`);
    assert.equal(kg.status, 'SUCCEEDED', `${kg.error}: ${kg.cause}`);
    await new Promise((r) => setTimeout(r, 1100)); // snapshot StartTime has 1 s resolution
    const t = await rt().execute(
      names().tombstoneMachine,
      { sessionId, reason: 'incident', source: 'evt', requestedBy: 'alice' },
      `tomb-${sessionId}`,
    );
    assert.equal(t.status, 'SUCCEEDED', `${t.error}: ${t.cause}`);
    return { s, knownGood: (kg.output as any).snapshotIds };
  }

  async function startRestore(sessionId: string): Promise<string> {
    const r = await cli(['incident', 'restore', '--session', sessionId, '--json']);
    assert.equal(r.code, 0, r.err);
    const { executionArn, name } = JSON.parse(r.out);
    await rt().sfn.waitForPending((p) => p.executionArn === executionArn && p.stateName === 'Wait for approval');
    return name;
  }

  const execution = (name: string) => [...rt().sfn.executions.values()].find((e) => e.name === name)!;

  it('approve: the root volume is replaced from the known-good snapshot and the original groups come back', async () => {
    const { s, knownGood } = await quarantined('ses-rest-ok');
    const before = (await ec2().send(new DescribeInstancesCommand({ InstanceIds: [s.instanceId] }))).Reservations![0]!
      .Instances![0]!;
    const oldRoot = before.BlockDeviceMappings!.find((b) => b.DeviceName === '/dev/xvda')!.Ebs!.VolumeId!;
    const name = await startRestore(s.sessionId);
    const status = await cli(['incident', 'status', name, '--json']);
    assert.equal(JSON.parse(status.out).status, 'RUNNING');
    const self = await cli(['incident', 'approve', name, '--comment', 'my own']);
    assert.equal(self.code, 1, 'the requester may not approve their own restore');
    assert.match(
      self.err,
      /not authorized: arn:aws:sts::\d{12}:assumed-role\/[^/]+\/carol may not approve restore .*assume the approver role/,
    );
    const ok = await cli(['incident', 'approve', name, '--comment', 'checked the packet', '--json'], 'bob');
    assert.equal(ok.code, 0, ok.err);
    const bobArn = JSON.parse(ok.out).approver as string;
    assert.match(bobArn, /^arn:aws:sts::\d{12}:assumed-role\/[^/]+\/bob$/);
    const ex = await execution(name).done;
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}\n${rt().formatTimeline(ex)}`);
    const out = ex.output as any;
    assert.equal(out.outcome, 'released');
    assert.equal(out.approval.approver, bobArn, 'the approver is the signer, as its ARN');
    assert.ok(knownGood.includes(out.snapshotId), 'restored from the known-good set');

    assert.deepEqual(Object.values(await groupsOf(ec2(), s.instanceId)), [[s.sessionGroupId]], 'original groups back');
    const inst = (await ec2().send(new DescribeInstancesCommand({ InstanceIds: [s.instanceId] }))).Reservations![0]!
      .Instances![0]!;
    const newRoot = inst.BlockDeviceMappings!.find((b) => b.DeviceName === '/dev/xvda')!.Ebs!.VolumeId!;
    assert.notEqual(newRoot, oldRoot);
    const vol = (await ec2().send(new DescribeVolumesCommand({ VolumeIds: [newRoot] }))).Volumes![0]!;
    assert.equal(vol.SnapshotId, out.snapshotId, 'the new root comes from the chosen snapshot');
    const oldVol = (await ec2().send(new DescribeVolumesCommand({ VolumeIds: [oldRoot] }))).Volumes![0]!;
    assert.equal(oldVol.State, 'available', 'the replaced root is kept (evidence)');
    assert.equal(inst.State?.Name, 'running');
    const tp = await ec2().send(
      new DescribeInstanceAttributeCommand({ InstanceId: s.instanceId, Attribute: 'disableApiTermination' }),
    );
    assert.equal(tp.DisableApiTermination?.Value, false);
    const assoc = await ec2().send(
      new DescribeIamInstanceProfileAssociationsCommand({ Filters: [{ Name: 'instance-id', Values: [s.instanceId] }] }),
    );
    assert.ok(
      assoc.IamInstanceProfileAssociations?.some(
        (a) => a.IamInstanceProfile?.Arn === s.profileArn && a.State === 'associated',
      ),
    );
    assert.equal(tagValue(inst.Tags, RemediationTags.QuarantinedAt), undefined);
    assert.equal(tagValue(inst.Tags, RemediationTags.RootVolumeLineage), oldRoot);
    // The profile is back: the role no longer refuses every credential of the instance, only those
    // issued before its revocation (the stolen ones).
    const pol = await new IAMClient(rt().clientConfig()).send(
      new GetRolePolicyCommand({ RoleName: s.roleName, PolicyName: 'aidops-revocations' }),
    );
    const statements = JSON.parse(decodeURIComponent(pol.PolicyDocument!)).Statement as any[];
    const arn = (v: unknown) => [v].flat().some((a) => String(a).endsWith(`:instance/${s.instanceId}`));
    assert.ok(
      !statements.some((st) => !st.Condition.DateLessThan && arn(st.Condition.ArnEquals['ec2:SourceInstanceARN'])),
      'no longer denied outright',
    );
    const narrowed = statements.find((st) => arn(st.Condition.ArnEquals['ec2:SourceInstanceARN']));
    assert.equal(narrowed?.Effect, 'Deny');
    assert.ok(
      Date.parse(narrowed.Condition.DateLessThan['aws:TokenIssueTime']) < ex.startDate,
      'tokens issued before the revocation stay refused',
    );
    const done = await cli(['incident', 'status', name, '--json']);
    assert.equal(JSON.parse(done.out).status, 'SUCCEEDED');
  });

  it('reject: nothing changes, the session stays quarantined', async () => {
    const { s } = await quarantined('ses-rest-no');
    const name = await startRestore(s.sessionId);
    const r = await cli(['incident', 'reject', name, '--comment', 'still investigating'], 'bob');
    assert.equal(r.code, 0, r.err);
    const ex = await execution(name).done;
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    assert.equal((ex.output as any).outcome.outcome, 'rejected');
    assert.deepEqual(Object.values(await groupsOf(ec2(), s.instanceId)), [[rt().ref('NetworkQuarantineGroup')]]);
    assert.ok(!ex.timeline.some((t) => t.state === 'Replace the root volume'));
    const again = await cli(['incident', 'approve', name], 'bob');
    assert.equal(again.code, 1, 'an answered approval cannot be answered twice');
  });

  it('approve --terminate: the instance is terminated, its volumes kept', async () => {
    const { s } = await quarantined('ses-rest-term');
    const vols = (
      await ec2().send(new DescribeInstancesCommand({ InstanceIds: [s.instanceId] }))
    ).Reservations![0]!.Instances![0]!.BlockDeviceMappings!.map((b) => b.Ebs!.VolumeId!);
    const name = await startRestore(s.sessionId);
    assert.equal((await cli(['incident', 'approve', name, '--terminate'], 'bob')).code, 0);
    const ex = await execution(name).done;
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    assert.equal((ex.output as any).outcome, 'terminated');
    const inst = (await ec2().send(new DescribeInstancesCommand({ InstanceIds: [s.instanceId] }))).Reservations![0]!
      .Instances![0]!;
    assert.equal(inst.State?.Name, 'terminated');
    const left = await ec2().send(new DescribeVolumesCommand({ VolumeIds: vols }));
    assert.equal(left.Volumes!.length, vols.length, 'DeleteOnTermination was off');
  });

  it('the CLI refuses bad arguments with exit 2', async () => {
    assert.equal((await cli(['incident', 'tombstone', '--session', 'ses-x'])).code, 2);
    assert.equal((await cli(['incident', 'restore', '--session', 'ses-x', '--before', 'yesterday'])).code, 2);
    assert.equal((await cli(['incident', 'approve'])).code, 2);
    assert.equal((await cli(['incident', 'frobnicate'])).code, 2);
    assert.equal((await cli(['incident', 'approve', 'x', '--as', 'bob'])).code, 2, '--as is gone: the signer approves');
  });
});
