/** Step inputs are typed (a bad one is a ValidationError), dry runs are planned in one place, ARNs follow the partition. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arnOf, consoleUrl, executionParts } from '../../../lambdas/remediation/addresses.ts';
import { ISOLATION_INCOMPLETE, IsolationIncompleteError } from '../../../lambdas/remediation/errors.ts';
import { ApprovalRequestInput } from '../../../lambdas/remediation/restore/approval.ts';
import type { RestorePlan } from '../../../lambdas/remediation/restore/plan.ts';
import { ReplaceInput } from '../../../lambdas/remediation/restore/replace.ts';
import { Changes } from '../../../lambdas/remediation/tombstone/changes.ts';
import { EvidenceInput } from '../../../lambdas/remediation/tombstone/evidence.ts';
import { FreezeCheckInput, type FreezeResult } from '../../../lambdas/remediation/tombstone/freeze.ts';
import { IsolateInput, type IsolationResult } from '../../../lambdas/remediation/tombstone/isolate.ts';
import type { RevokeResult } from '../../../lambdas/remediation/tombstone/revoke.ts';
import type { Target } from '../../../lambdas/remediation/tombstone/target.ts';
import { AidopsError, ValidationError } from '../../../lambdas/shared/errors.ts';
import { parseOrThrow } from '../../../lambdas/shared/validation.ts';

const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:aidops-tombstone:tomb-1';
const NOW = '2026-01-02T03:04:05.000Z';
const target: Target = {
  incidentId: 'tomb-1',
  executionId: EXECUTION,
  request: {
    sessionId: 'ses-1',
    reason: 'x',
    source: 'evt',
    requestedBy: 'alice',
    dryRun: false,
    held: false,
    isolateSubnet: false,
    freeze: 'auto',
    allowHibernate: true,
  },
  instanceId: 'i-0123456789abcdef0',
  sessionId: 'ses-1',
  state: 'running',
  vpcId: 'vpc-1',
  subnetId: 'subnet-1',
  availabilityZone: 'us-east-1a',
  enis: [{ id: 'eni-1', groups: ['sg-1'], subnetId: 'subnet-1', publicIp: null }],
  originalGroups: { 'eni-1': ['sg-1'] },
  volumes: [{ id: 'vol-1', device: '/dev/xvda', deleteOnTermination: true }],
  rootDevice: '/dev/xvda',
  instanceProfileArn: null,
  hibernationConfigured: false,
  alreadyQuarantined: false,
  evidenceExecutionName: 'evidence-abc',
  validatedAt: NOW,
  instance: { instanceId: 'i-0123456789abcdef0' },
};
const isolation: IsolationResult = {
  dryRun: false,
  startedAt: NOW,
  quarantineAppliedAt: NOW,
  finishedAt: NOW,
  groupsBefore: { 'eni-1': ['sg-1'] },
  groupsAfter: { 'eni-1': ['sg-q'] },
  originalGroups: { 'eni-1': ['sg-1'] },
  movedInterfaces: ['eni-1'],
  terminationProtection: { before: false, after: true },
  deleteOnTerminationDisabled: ['vol-1'],
  elasticIps: [],
  networkAcl: null,
  planned: [],
};
const credentials: RevokeResult = {
  dryRun: false,
  revokedBefore: NOW,
  role: null,
  policyName: null,
  revocationSet: null,
  instanceProfile: null,
  secrets: [],
  planned: [],
};
const freeze: FreezeResult = {
  dryRun: false,
  mode: 'stop',
  commandId: null,
  ssmReachable: false,
  requestedAt: NOW,
  planned: [],
};
/** What Step Functions hands the next task: the JSON of the previous step's output. */
const viaJson = <T>(v: T): T => JSON.parse(JSON.stringify(v));

describe('remediation step inputs', () => {
  it('each step takes what the step before it returns, through JSON', () => {
    const iso = IsolateInput.parse(viaJson({ target }));
    assert.equal(iso.stateMachine, 'aidops-tombstone');
    assert.equal(iso.recheck, false);
    assert.deepEqual(iso.target, target);
    FreezeCheckInput.parse(viaJson({ target, freeze }));
    EvidenceInput.parse(
      viaJson({ target, isolation, credentials, freeze, snapshots: { snapshotIds: ['snap-1'], executionArn: null } }),
    );
    EvidenceInput.parse(
      viaJson({
        target,
        isolation,
        credentials,
        freeze,
        snapshots: { snapshotIds: [], executionArn: null, skipped: 'dry run' },
      }),
    );
  });

  it('a target or result that is not what the step before returns is a ValidationError', () => {
    const bad: [string, unknown][] = [
      ['no target', {}],
      ['a target missing its instance', { target: { ...target, instanceId: undefined } }],
      ['a target with an extra field', { target: { ...target, admin: true } }],
      ['a target whose execution is not an ARN', { target: { ...target, executionId: 'exec-1' } }],
      ['a request that is not a tombstone request', { target: { ...target, request: { reason: 'x' } } }],
    ];
    for (const [what, input] of bad)
      assert.throws(() => parseOrThrow(IsolateInput, input, 'isolate input'), ValidationError, what);
    assert.throws(
      () => parseOrThrow(FreezeCheckInput, { target, freeze: { ...freeze, mode: 'melt' } }, 'freeze check input'),
      ValidationError,
    );
  });

  it('restore steps take the plan and the approval, typed', () => {
    const plan: RestorePlan = {
      executionId: 'arn:aws:states:us-east-1:123456789012:execution:aidops-restore:r-1',
      request: { sessionId: 'ses-1', reason: 'restore after incident', requestedBy: 'alice' },
      sessionId: 'ses-1',
      instanceId: 'i-0123456789abcdef0',
      state: 'stopped',
      incidentId: 'tomb-1',
      snapshot: { id: 'snap-0123456789abcdef0', startTime: NOW, volumeId: 'vol-1' },
      rootDevice: '/dev/xvda',
      rootVolumeId: 'vol-1',
      originalGroups: { 'eni-1': ['sg-1'] },
      packet: null,
      terminationProtectionBefore: false,
      instanceProfileArn: null,
      chosenBefore: NOW,
    };
    assert.deepEqual(ApprovalRequestInput.parse(viaJson({ token: 't', plan })).plan, plan);
    const approval = { decision: 'release', approver: 'bob' };
    const first = ReplaceInput.parse(viaJson({ plan, approval, progress: { phase: 'not-started' } }));
    assert.deepEqual(first.progress, { phase: 'not-started' });
    assert.equal(first.approval.comment, '');
    const polling = { phase: 'replacing', taskId: 'rrv-1', taskState: 'pending', replacer: 'x', done: false };
    assert.deepEqual(ReplaceInput.parse(viaJson({ plan, approval, progress: polling })).progress, polling);
    assert.throws(
      () => parseOrThrow(ReplaceInput, { plan, approval: { decision: 'yolo', approver: 'bob' } }, 'replace input'),
      ValidationError,
    );
    assert.throws(
      () => parseOrThrow(ReplaceInput, { plan: { ...plan, snapshot: null }, approval }, 'x'),
      ValidationError,
    );
  });
});

describe('dry runs: applyOrPlan', () => {
  it('applies the change outside a dry run, records nothing', async () => {
    const c = new Changes(false);
    let calls = 0;
    const out = await c.applyOrPlan({ action: 'ec2:StopInstances', resource: 'i-1' }, async () => ++calls);
    assert.equal(out, 1);
    assert.equal(calls, 1);
    assert.deepEqual(c.planned, []);
  });

  it('in a dry run records every change in order (several for one call) and makes none', async () => {
    const c = new Changes(true);
    const call = async () => assert.fail('a dry run makes no change');
    assert.equal(await c.applyOrPlan({ action: 'a', resource: '1', detail: 'd' }, call), undefined);
    await c.applyOrPlan(
      [
        { action: 'b', resource: '2' },
        { action: 'b', resource: '3' },
      ],
      call,
    );
    assert.deepEqual(
      c.planned.map((p) => `${p.action}:${p.resource}`),
      ['a:1', 'b:2', 'b:3'],
    );
  });
});

describe('remediation addresses and errors', () => {
  it('ARNs and console links follow the execution’s partition and region', () => {
    const gov = executionParts('arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:aidops-tombstone:t-1');
    assert.deepEqual(gov, {
      partition: 'aws-us-gov',
      region: 'us-gov-west-1',
      account: '123456789012',
      stateMachine: 'aidops-tombstone',
      name: 't-1',
    });
    assert.equal(arnOf.instance(gov, 'i-1'), 'arn:aws-us-gov:ec2:us-gov-west-1:123456789012:instance/i-1');
    assert.equal(arnOf.snapshot(gov, 'snap-1'), 'arn:aws-us-gov:ec2:us-gov-west-1::snapshot/snap-1');
    assert.match(consoleUrl.opsItem(gov, 'oi-1'), /^https:\/\/console\.amazonaws-us-gov\.com\//);
    const cn = executionParts('arn:aws-cn:states:cn-north-1:123456789012:execution:m:n');
    assert.equal(arnOf.s3Object(cn, 'b', 'k'), 'arn:aws-cn:s3:::b/k');
    assert.match(consoleUrl.execution(cn, 'x'), /^https:\/\/console\.amazonaws\.cn\//);
    assert.match(
      consoleUrl.snapshot(executionParts(EXECUTION), 'snap-1'),
      /^https:\/\/us-east-1\.console\.aws\.amazon\.com\//,
    );
  });

  it('IsolationIncompleteError has its own literal name (what the workflow retries)', () => {
    const e = new IsolationIncompleteError('open', { open: ['eni-1'] });
    assert.equal(e.name, ISOLATION_INCOMPLETE);
    assert.equal(e.name, 'IsolationIncompleteError');
    assert.ok(e instanceof AidopsError);
  });
});
