/**
 * The playbook's case, end to end against moto: a session's agent tries SFTP
 * (TCP 22) to a host no allowlist names, 20 times; the security group drops it
 * and the flow log records 20 REJECTs from the session's interface. Delivered
 * through the flow-log group's synthesized subscription filter (local stand-in:
 * local/standins/log-subscriptions.ts) to the real network-watch function, then
 * through the synthesized rules (local/events.ts) to the real trigger: one
 * SuspiciousEgress with count 20 and one tombstone for a high-tier session; a
 * page and no tombstone for a low-tier one; the rest of the burst raises nothing.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { AUDIT_DETAIL_TYPE } from '../../lambdas/audit/schema.ts';
import { names } from '../../lambdas/shared/names.ts';
import { LOCAL_ACCOUNT } from '../../local/emulator/moto.ts';
import { deliverEvent } from '../../local/events.ts';
import { launchFixtureSession } from '../../local/gameday.ts';
import { installStandins } from '../../local/standins/index.ts';
import { useRuntime } from '../helpers/runtime.ts';

const BUS = names().auditBus;
const SFTP_HOST = '203.0.113.77';

describe('suspicious egress: flow logs → network watch → SuspiciousEgress → by tier (local delivery)', () => {
  const rt = useRuntime();
  const cfg = () => rt().clientConfig();
  const sqs = () => new SQSClient(cfg());
  let raisedQueue = '';
  let pagesQueue = '';

  async function queue(name: string): Promise<{ url: string; arn: string }> {
    const q = await sqs().send(new CreateQueueCommand({ QueueName: name }));
    const arn = (
      await sqs().send(new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl!, AttributeNames: ['QueueArn'] }))
    ).Attributes!.QueueArn!;
    return { url: q.QueueUrl!, arn };
  }

  async function drain(url: string): Promise<Record<string, any>[]> {
    const out: Record<string, any>[] = [];
    for (;;) {
      const r = await sqs().send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
      if (!r.Messages?.length) return out;
      for (const m of r.Messages) {
        out.push(JSON.parse(m.Body!));
        await sqs().send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
      }
    }
  }

  before(async () => {
    installStandins(rt());
    // What the watch raises on the bus, read back: moto delivers bus rules to SQS.
    const raised = await queue('egress-raised');
    const eb = new EventBridgeClient(cfg());
    for (const [name, pattern] of [
      ['egress-own', { source: ['aidops.network'], 'detail-type': ['SuspiciousEgress'] }],
      ['egress-audit', { 'detail-type': [AUDIT_DETAIL_TYPE], detail: { source: ['aidops.network'] } }],
    ] as const) {
      await eb.send(new PutRuleCommand({ Name: name, EventBusName: BUS, EventPattern: JSON.stringify(pattern) }));
      await eb.send(new PutTargetsCommand({ Rule: name, EventBusName: BUS, Targets: [{ Id: 'q', Arn: raised.arn }] }));
    }
    raisedQueue = raised.url;
    const pages = await queue('egress-pages');
    await new SNSClient(cfg()).send(
      new SubscribeCommand({ TopicArn: rt().ref('AlarmTopic'), Protocol: 'sqs', Endpoint: pages.arn }),
    );
    pagesQueue = pages.url;
  });

  /** A fixture session with its session item (the tier the remediation reads). */
  async function session(id: string, tier: 'high' | 'low') {
    const s = await launchFixtureSession(rt(), id);
    const inst = (await new EC2Client(cfg()).send(new DescribeInstancesCommand({ InstanceIds: [s.instanceId] })))
      .Reservations![0]!.Instances![0]!;
    await new DynamoDBClient(cfg()).send(
      new PutItemCommand({
        TableName: names().sessionTable,
        Item: {
          sessionId: { S: id },
          status: { S: 'active' },
          tier: { S: tier },
          instanceId: { S: s.instanceId },
        },
      }),
    );
    return { ...s, eni: s.eniIds[0]!, ip: inst.PrivateIpAddress! };
  }

  /** The flow log's default v2 records: `n` rejected SFTP attempts from the session's interface. */
  function sftpRejects(eni: string, ip: string, n: number, t0: number): string[] {
    return Array.from(
      { length: n },
      (_, i) =>
        `2 ${LOCAL_ACCOUNT} ${eni} ${ip} ${SFTP_HOST} ${40000 + i} 22 6 1 60 ${t0 + i} ${t0 + i + 50} REJECT OK`,
    );
  }

  const tombstonesOf = (sessionId: string) =>
    [...rt().sfn.executions.values()].filter(
      (e) => e.stateMachineName === names().tombstoneMachine && (e.input as any)?.sessionId === sessionId,
    );

  /** Flow records in → what the watch answered, and the events it put on the bus, delivered to the rules. */
  async function flow(lines: string[]) {
    const deliveries = await rt().deliverLogEvents('NetworkFlowLogs', lines);
    assert.equal(deliveries.length, 1, JSON.stringify(deliveries));
    assert.equal(deliveries[0]!.error, undefined, deliveries[0]!.error);
    const raised = await drain(raisedQueue);
    const own = raised.filter((e) => e['detail-type'] === 'SuspiciousEgress');
    const audit = raised.filter((e) => e['detail-type'] === AUDIT_DETAIL_TYPE);
    const triggered = [];
    for (const e of own) triggered.push(...(await deliverEvent(rt(), e, BUS)));
    return { watch: deliveries[0]!, result: deliveries[0]!.result as any, own, audit, triggered };
  }

  it('high tier: 20 rejected SFTP attempts in one payload → one SuspiciousEgress (count 20) → one tombstone; the rest of the burst starts nothing', async () => {
    const s = await session('ses-egress-high', 'high');
    const t0 = Math.floor(Date.now() / 1000) - 120;
    // Noise the watch must not count: accepted traffic, NODATA, and someone knocking on the session.
    const noise = [
      `2 ${LOCAL_ACCOUNT} ${s.eni} ${s.ip} 10.42.0.10 40100 443 6 10 840 ${t0} ${t0 + 60} ACCEPT OK`,
      `2 ${LOCAL_ACCOUNT} ${s.eni} - - - - - - - ${t0} ${t0 + 60} - NODATA`,
      `2 ${LOCAL_ACCOUNT} ${s.eni} 198.51.100.5 ${s.ip} 51515 22 6 1 40 ${t0} ${t0 + 60} REJECT OK`,
    ];
    const first = await flow([...sftpRejects(s.eni, s.ip, 20, t0), ...noise]);
    // The filter passes REJECT records only: 20 egress + 1 inbound knock.
    assert.equal(first.watch.matched, 21);
    assert.equal(first.result.rejected, 21);
    assert.equal(first.result.egress, 20);
    assert.equal(first.result.raised.length, 1);
    assert.equal(first.own.length, 1, 'one SuspiciousEgress');
    assert.equal(first.audit.length, 1, 'one audit event');
    const audit = first.audit[0]!.detail;
    assert.equal(audit.kind, 'security');
    assert.equal(audit.sessionId, s.sessionId);
    assert.deepEqual(
      { ...audit.detail, firstSeen: undefined, lastSeen: undefined, incidentId: undefined },
      {
        type: 'suspicious_egress',
        destination: SFTP_HOST,
        port: 22,
        protocol: 'tcp',
        count: 20,
        interfaceId: s.eni,
        firstSeen: undefined,
        lastSeen: undefined,
        incidentId: undefined,
      },
    );
    assert.equal(audit.detail.firstSeen, new Date(t0 * 1000).toISOString());
    assert.equal(audit.detail.lastSeen, new Date((t0 + 19 + 50) * 1000).toISOString());
    const own = first.own[0]!.detail;
    assert.equal(own.count, 20);
    assert.equal(own.incidentId, audit.detail.incidentId);

    assert.equal(first.triggered.length, 1, 'one rule matched');
    assert.equal((first.triggered[0]!.result as any).outcome, 'started', JSON.stringify(first.triggered));
    const execs = tombstonesOf(s.sessionId);
    assert.equal(execs.length, 1, 'one tombstone, not twenty');
    assert.equal((execs[0]!.input as any).requestedBy, 'automatic:own');
    assert.match((execs[0]!.input as any).reason, /SuspiciousEgress from aidops\.network/);

    // The same burst in the next payload: claimed already, nothing raised, nothing started.
    const second = await flow(sftpRejects(s.eni, s.ip, 20, t0 + 60));
    assert.equal(second.result.raised.length, 0);
    assert.equal(second.result.continuing.length, 1);
    assert.equal(second.result.continuing[0].incidentId, own.incidentId);
    assert.equal(second.own.length + second.audit.length, 0);
    assert.equal(tombstonesOf(s.sessionId).length, 1);
    // A redelivery of the first SuspiciousEgress is the same execution.
    const again = await deliverEvent(rt(), first.own[0]!, BUS);
    assert.equal((again[0]!.result as any).outcome, 'duplicate');
    await execs[0]!.done;
  });

  it('low tier: the same burst pages a person and starts no tombstone', async () => {
    await drain(pagesQueue);
    const s = await session('ses-egress-low', 'low');
    const t0 = Math.floor(Date.now() / 1000) - 120;
    const r = await flow(sftpRejects(s.eni, s.ip, 20, t0));
    assert.equal(r.own.length, 1);
    assert.equal(r.own[0]!.detail.count, 20);
    assert.equal(r.audit.length, 1);
    assert.equal((r.triggered[0]!.result as any).outcome, 'alerted', JSON.stringify(r.triggered));
    assert.equal(tombstonesOf(s.sessionId).length, 0);
    const pages = (await drain(pagesQueue)).map((m) => `${m.Subject}\n${m.Message}`);
    assert.equal(pages.length, 1, pages.join('\n---\n'));
    assert.match(pages[0]!, /SuspiciousEgress on a low-tier session/);
    assert.match(pages[0]!, new RegExp(`${SFTP_HOST} port 22`));
    // The next payload of the burst pages nobody again.
    const second = await flow(sftpRejects(s.eni, s.ip, 5, t0 + 60));
    assert.equal(second.own.length, 0);
    assert.equal((await drain(pagesQueue)).length, 0);
  });
});
