/**
 * Automatic tombstones: events delivered through the synthesized EventBridge
 * rules (local/events.ts) to the real trigger function, then the real machine.
 * One execution per session and event, however often it is delivered; later
 * events about a session already being tombstoned start nothing; the blast-radius
 * guard holds and pages; the dry-run switch makes the whole path report only.
 * And the attacks on it: a throttled start or a failed tombstone must not leave
 * the session locked; a Security Hub finding imported under the account's own
 * product, or carrying a forged session tag, must not tombstone a session.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DeleteItemCommand, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { minuteOf } from '../../lambdas/remediation/incidents.ts';
import { names } from '../../lambdas/shared/names.ts';
import { Tags } from '../../lambdas/shared/tags.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../local/emulator/moto.ts';
import { deliverEvent, envelope, matchesPattern } from '../../local/events.ts';
import { FIXTURE_AMI, groupsOf, launchFixtureSession } from '../../local/gameday.ts';
import { installStandins } from '../../local/standins/index.ts';
import { useRuntime } from '../helpers/runtime.ts';

const BUS = names().auditBus;
/** GuardDuty's product in Security Hub, in the local region (a trusted product by default). */
const GUARDDUTY_PRODUCT = `arn:aws:securityhub:${LOCAL_REGION}::product/aws/guardduty`;

describe('triggers: EventBridge rules → trigger → tombstone (local delivery)', () => {
  const rt = useRuntime();
  const cfg = () => rt().clientConfig();
  let pages = '';
  before(async () => {
    installStandins(rt());
    // The trigger caches the dry-run switch for 15 s in AWS; the template does not set this, so the test can.
    process.env.DRY_RUN_SWITCH_CACHE_MS = '0';
    // Read what is paged: an SQS queue subscribed to the alarm topic.
    const sqs = new SQSClient(cfg());
    const q = await sqs.send(new CreateQueueCommand({ QueueName: 'pages' }));
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl!, AttributeNames: ['QueueArn'] })))
      .Attributes!.QueueArn!;
    await new SNSClient(cfg()).send(
      new SubscribeCommand({ TopicArn: rt().ref('AlarmTopic'), Protocol: 'sqs', Endpoint: arn }),
    );
    pages = q.QueueUrl!;
  });
  const executionsFor = (sessionId: string) =>
    [...rt().sfn.executions.values()].filter(
      (e) => e.stateMachineName === names().tombstoneMachine && (e.input as any)?.sessionId === sessionId,
    );
  const violation = (sessionId: string, id?: string) =>
    envelope({
      id,
      source: 'aidops.policy',
      'detail-type': 'PolicyViolation',
      detail: {
        sessionId,
        action: 'fs_write',
        resource: 'file:/finance/q3.xlsx',
        reasons: ['write to protected path: /finance/q3.xlsx'],
        decisionId: 'd-1',
        policyVersion: 'v1',
        engine: 'rego',
      },
    });

  it('the same PolicyViolation delivered twice gives one execution; a later one for the same session starts nothing', async () => {
    const s = await launchFixtureSession(rt(), 'ses-trig-1');
    const event = violation(s.sessionId);
    const first = await deliverEvent(rt(), event, BUS);
    const second = await deliverEvent(rt(), event, BUS);
    assert.equal(first.length, 1, 'exactly one rule matched');
    assert.equal((first[0]!.result as any).outcome, 'started', JSON.stringify(first));
    assert.equal((second[0]!.result as any).outcome, 'duplicate');
    const execs = executionsFor(s.sessionId);
    assert.equal(execs.length, 1);
    const done = await execs[0]!.done;
    assert.equal(done.status, 'SUCCEEDED', `${done.error}: ${done.cause}`);
    assert.equal((done.input as any).requestedBy, 'automatic:own');
    // The event's own time travels with the request: time to isolation is measured from it.
    assert.match((done.input as any).triggeredAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    for (const g of Object.values(await groupsOf(new EC2Client(cfg()), s.instanceId)))
      assert.deepEqual(g, [rt().ref('NetworkQuarantineGroup')]);
    // A different event about the same session while its tombstone holds the lock.
    const third = await deliverEvent(rt(), violation(s.sessionId), BUS);
    assert.equal((third[0]!.result as any).outcome, 'already-tombstoning');
    assert.equal(executionsFor(s.sessionId).length, 1);
  });

  it('GuardDuty and Security Hub findings on session resources match; others do not', async () => {
    const s = await launchFixtureSession(rt(), 'ses-trig-gd');
    const gd = (tags: { key: string; value: string }[], severity: number) =>
      envelope({
        source: 'aws.guardduty',
        'detail-type': 'GuardDuty Finding',
        detail: {
          id: `finding-${Math.random()}`,
          type: 'Backdoor:EC2/C&CActivity.B!DNS',
          severity,
          title: 'C&C domain queried',
          resource: { resourceType: 'Instance', instanceDetails: { instanceId: s.instanceId, tags } },
        },
      });
    assert.equal(
      (await deliverEvent(rt(), gd([{ key: 'Name', value: 'build-box' }], 8))).length,
      0,
      'not a session instance',
    );
    assert.equal(
      (await deliverEvent(rt(), gd([{ key: Tags.SessionId, value: s.sessionId }], 2))).length,
      0,
      'low severity',
    );
    const hit = await deliverEvent(
      rt(),
      gd(
        [
          { key: 'Name', value: 'x' },
          { key: Tags.SessionId, value: s.sessionId },
        ],
        8,
      ),
    );
    assert.equal(hit.length, 1);
    assert.equal((hit[0]!.result as any).outcome, 'started');
    const ex = await executionsFor(s.sessionId)[0]!.done;
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    assert.equal((ex.input as any).instanceId, s.instanceId);
    assert.match((ex.input as any).reason, /GuardDuty Backdoor/);

    const sh = envelope({
      source: 'aws.securityhub',
      'detail-type': 'Security Hub Findings - Imported',
      detail: {
        findings: [
          {
            Id: 'sh-1',
            ProductArn: GUARDDUTY_PRODUCT,
            Title: 'EC2 instance has a public IP',
            RecordState: 'ACTIVE',
            Workflow: { Status: 'NEW' },
            Severity: { Label: 'HIGH' },
            Resources: [
              {
                Type: 'AwsEc2Instance',
                Id: `arn:aws:ec2:us-east-1:123456789012:instance/${s.instanceId}`,
                Tags: { [Tags.SessionId]: s.sessionId },
              },
            ],
          },
        ],
      },
    });
    assert.equal((await deliverEvent(rt(), sh)).length, 1);
    const resolved = structuredClone(sh) as any;
    resolved.detail.findings[0].RecordState = 'ARCHIVED';
    assert.equal((await deliverEvent(rt(), resolved)).length, 0);
  });

  it('pattern matching: prefix, exists, anything-but, numeric, arrays of objects', () => {
    const e = { source: 'aidops.policy', detail: { n: 7, tags: [{ key: 'a' }, { key: 'b' }], s: 'x' } };
    assert.ok(matchesPattern({ source: [{ prefix: 'aidops.' }] }, e));
    assert.ok(!matchesPattern({ source: [{ prefix: 'aws.' }] }, e));
    assert.ok(!matchesPattern({ source: ['aidops'] }, e));
    assert.ok(matchesPattern({ detail: { s: [{ exists: true }], z: [{ exists: false }] } }, e));
    assert.ok(!matchesPattern({ detail: { z: [{ exists: true }] } }, e));
    assert.ok(matchesPattern({ detail: { s: [{ 'anything-but': ['y'] }] } }, e));
    assert.ok(!matchesPattern({ detail: { s: [{ 'anything-but': 'x' }] } }, e));
    assert.ok(matchesPattern({ detail: { n: [{ numeric: ['>=', 7, '<', 8] }] } }, e));
    assert.ok(!matchesPattern({ detail: { n: [{ numeric: ['>', 7] }] } }, e));
    assert.ok(matchesPattern({ detail: { tags: { key: ['b'] } } }, e));
    assert.ok(!matchesPattern({ detail: { tags: { key: ['c'] } } }, e));
  });

  it('past N tombstones a minute, a request is held (nothing isolated) and a person is paged', async () => {
    const s = await launchFixtureSession(rt(), 'ses-trig-held');
    // Fill this minute's and the next minute's slots, as N earlier tombstones would have.
    const ddb = new DynamoDBClient(cfg());
    const table = rt().ref('RemediationIncidents');
    for (const m of [new Date(), new Date(Date.now() + 60_000)]) {
      await ddb.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: { S: `rate#${minuteOf(m)}` } },
          UpdateExpression: 'SET n = :n',
          ExpressionAttributeValues: { ':n': { N: '5' } },
        }),
      );
    }
    const r = await deliverEvent(rt(), violation(s.sessionId), BUS);
    assert.equal((r[0]!.result as any).held, true);
    const ex = await executionsFor(s.sessionId)[0]!.done;
    // Waits are instant locally, so the held request runs out of attempts within the minute.
    assert.equal(ex.status, 'FAILED');
    assert.equal(ex.error, 'BlastRadiusGuardTimeout');
    assert.ok(ex.timeline.some((t) => t.state === 'Wait for a blast-radius slot'));
    assert.ok(!ex.timeline.some((t) => t.state === 'Isolate the instance'), 'nothing isolated while held');
    for (const g of Object.values(await groupsOf(new EC2Client(cfg()), s.instanceId)))
      assert.deepEqual(g, [s.sessionGroupId]);
    const msgs = await new SQSClient(cfg()).send(
      new ReceiveMessageCommand({ QueueUrl: pages, MaxNumberOfMessages: 10 }),
    );
    assert.ok(
      (msgs.Messages ?? []).some((m) => m.Body?.includes('blast-radius') && m.Body?.includes(s.sessionId)),
      'a person was paged about the held request',
    );
  });

  it('the dry-run switch puts the automatic path in dry run: a dry-run execution, nothing changed', async () => {
    const s = await launchFixtureSession(rt(), 'ses-trig-dry');
    const ssm = new SSMClient(cfg());
    const name = names().dryRunParameter;
    await ssm.send(new PutParameterCommand({ Name: name, Value: 'true', Overwrite: true, Type: 'String' }));
    try {
      const ec2 = new EC2Client(cfg());
      const before = JSON.stringify(
        (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [s.instanceId] }))).Reservations,
      );
      const r = await deliverEvent(rt(), violation(s.sessionId), BUS);
      assert.equal((r[0]!.result as any).dryRun, true);
      assert.match((r[0]!.result as any).executionName, /^dry-/);
      const ex = await executionsFor(s.sessionId)[0]!.done;
      assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
      assert.equal((ex.output as any).dryRun, true);
      const after = JSON.stringify(
        (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [s.instanceId] }))).Reservations,
      );
      assert.equal(after, before);
    } finally {
      await ssm.send(new PutParameterCommand({ Name: name, Value: 'false', Overwrite: true, Type: 'String' }));
    }
  });

  /** Clears the blast-radius counters (the held test above fills this minute and the next). */
  async function freeSlots(): Promise<void> {
    const ddb = new DynamoDBClient(cfg());
    for (const m of [new Date(Date.now() - 60_000), new Date(), new Date(Date.now() + 60_000)])
      await ddb.send(
        new DeleteItemCommand({
          TableName: rt().ref('RemediationIncidents'),
          Key: { pk: { S: `rate#${minuteOf(m)}` } },
        }),
      );
  }

  /** A Security Hub finding about `instanceId`, whose copy of the tags names `taggedSession`. */
  const shFinding = (productArn: string, instanceId: string, taggedSession: string, id: string) =>
    envelope({
      source: 'aws.securityhub',
      'detail-type': 'Security Hub Findings - Imported',
      detail: {
        findings: [
          {
            Id: id,
            ProductArn: productArn,
            Title: 'Suspicious activity',
            RecordState: 'ACTIVE',
            Workflow: { Status: 'NEW' },
            Severity: { Label: 'CRITICAL' },
            Resources: [
              {
                Type: 'AwsEc2Instance',
                Id: `arn:aws:ec2:${LOCAL_REGION}:${LOCAL_ACCOUNT}:instance/${instanceId}`,
                Tags: { [Tags.SessionId]: taggedSession },
              },
            ],
          },
        ],
      },
    });

  it('a Security Hub finding imported under the account’s own product tombstones nothing', async () => {
    const s = await launchFixtureSession(rt(), 'ses-trig-forged-product');
    // What anyone allowed securityhub:BatchImportFindings can import.
    const own = `arn:aws:securityhub:${LOCAL_REGION}:${LOCAL_ACCOUNT}:product/${LOCAL_ACCOUNT}/default`;
    const r = await deliverEvent(rt(), shFinding(own, s.instanceId, s.sessionId, 'forged-1'));
    assert.deepEqual(r, [], 'no rule matches an untrusted product');
    // Even delivered to the trigger directly, it is ignored.
    const direct = (await rt().invoke(
      rt().functionName('RemediationTriggersTrigger'),
      shFinding(own, s.instanceId, s.sessionId, 'forged-2') as never,
    )) as any;
    assert.equal(direct.outcome, 'ignored');
    assert.equal(executionsFor(s.sessionId).length, 0);
    for (const g of Object.values(await groupsOf(new EC2Client(cfg()), s.instanceId)))
      assert.deepEqual(g, [s.sessionGroupId], 'not isolated');
  });

  it('a finding acts on the session EC2 says its resource belongs to, never on the finding’s copy of the tags', async () => {
    await freeSlots();
    const victim = await launchFixtureSession(rt(), 'ses-trig-victim');
    // A non-session instance whose finding carries a forged session tag: nothing happens.
    const plain = (
      await new EC2Client(cfg()).send(
        new RunInstancesCommand({ ImageId: FIXTURE_AMI, MinCount: 1, MaxCount: 1, InstanceType: 'm6a.large' }),
      )
    ).Instances![0]!.InstanceId!;
    const forged = await deliverEvent(rt(), shFinding(GUARDDUTY_PRODUCT, plain, victim.sessionId, 'sh-forged-tag'));
    assert.equal((forged[0]!.result as any).outcome, 'ignored', JSON.stringify(forged));
    assert.equal(executionsFor(victim.sessionId).length, 0, 'the session the forged tag names is untouched');
    // A session instance whose finding's tags name another session: the real owner is tombstoned.
    const owner = await launchFixtureSession(rt(), 'ses-trig-owner');
    const r = await deliverEvent(rt(), shFinding(GUARDDUTY_PRODUCT, owner.instanceId, victim.sessionId, 'sh-mistag'));
    assert.equal((r[0]!.result as any).outcome, 'started', JSON.stringify(r));
    assert.equal((r[0]!.result as any).sessionId, owner.sessionId);
    assert.equal(executionsFor(victim.sessionId).length, 0);
    const ex = await executionsFor(owner.sessionId)[0]!.done;
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    assert.match((ex.input as any).reason, /the finding's tags named ses-trig-victim/);
  });

  it('a throttled StartExecution leaves the session unlocked: the next event about it starts a tombstone', async () => {
    await freeSlots();
    const s = await launchFixtureSession(rt(), 'ses-trig-throttled');
    // The SDK tries 3 times; all 3 are throttled.
    rt().gateway.inject({ service: 'states', action: 'StartExecution', code: 'ThrottlingException', count: 3 });
    const first = await deliverEvent(rt(), violation(s.sessionId), BUS);
    rt().gateway.clearFaults();
    assert.match(first[0]!.error ?? '', /TransientError/, JSON.stringify(first));
    assert.equal(executionsFor(s.sessionId).length, 0, 'nothing started');
    const next = await deliverEvent(rt(), violation(s.sessionId), BUS);
    assert.equal((next[0]!.result as any).outcome, 'started', JSON.stringify(next));
    const ex = await executionsFor(s.sessionId)[0]!.done;
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
  });

  it('a tombstone that fails gives its session lock back (status-change rule → release function)', async () => {
    await freeSlots();
    // A session with no live instance: its tombstone fails validation.
    const sessionId = 'ses-trig-ghost';
    const first = await deliverEvent(rt(), violation(sessionId), BUS);
    assert.equal((first[0]!.result as any).outcome, 'started');
    const failed = await executionsFor(sessionId)[0]!.done;
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.error, 'InstanceNotFoundError');
    // Locked by the failed execution until the status change is delivered.
    const locked = await deliverEvent(rt(), violation(sessionId), BUS);
    assert.equal((locked[0]!.result as any).outcome, 'already-tombstoning');
    const statusChange = (ex: typeof failed, status: string) =>
      envelope({
        source: 'aws.states',
        'detail-type': 'Step Functions Execution Status Change',
        resources: [ex.executionArn],
        detail: {
          executionArn: ex.executionArn,
          stateMachineArn: ex.stateMachineArn,
          name: ex.name,
          status,
          input: JSON.stringify(ex.input),
        },
      });
    // A success keeps the lock (later events are recorded, not acted on); only unsuccessful ends release it.
    assert.deepEqual(await deliverEvent(rt(), statusChange(failed, 'SUCCEEDED')), []);
    const released = await deliverEvent(rt(), statusChange(failed, 'FAILED'));
    assert.equal(released.length, 1, 'the rule on the tombstone machine matched');
    assert.deepEqual(released[0]!.result, { outcome: 'released', sessionId, executionName: failed.name });
    // A second delivery of the same change releases nothing more (the lock is no longer this execution's).
    const again = await deliverEvent(rt(), statusChange(failed, 'FAILED'));
    assert.equal((again[0]!.result as any).outcome, 'not-held');
    const next = await deliverEvent(rt(), violation(sessionId), BUS);
    assert.equal((next[0]!.result as any).outcome, 'started', 'the next event acts again');
    await executionsFor(sessionId).at(-1)!.done;
  });
});
