/**
 * The local runtime behaves like AWS between calls (`continuous: true`, what the
 * demo runs): the SQS event-source mapping polls on its own, schedules fire on
 * their own (here 3600× faster: rate(1 hour) every second), rejected messages
 * come back and reach the DLQ, and `rt.stop()` ends every loop (this file's
 * process exits).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ListObjectVersionsCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { newEvent, publishAuditEvents } from '../../lambdas/audit/schema.ts';
import { ratePeriodMs } from '../../local/schedules.ts';
import { useRuntime } from '../helpers/runtime.ts';

/** Polls `check` until it returns a value, at most `ms`. */
async function eventually<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(100);
  }
}

describe('the local runtime between calls (continuous)', { timeout: 120_000 }, () => {
  const rt = useRuntime({ continuous: true, speedup: 3600 });
  const s3 = () => new S3Client(rt().clientConfig());
  const sqs = () => new SQSClient(rt().clientConfig());
  const versions = async (prefix: string) =>
    (await s3().send(new ListObjectVersionsCommand({ Bucket: rt().ref('AuditBucketPinned'), Prefix: prefix })))
      .Versions ?? [];
  const depth = async (prefix: string) => {
    const a = await sqs().send(
      new GetQueueAttributesCommand({
        QueueUrl: rt().ref(prefix),
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(a.Attributes!.ApproximateNumberOfMessages) + Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible)
    );
  };

  it('plans each schedule: rate() compressed by the speed-up, internet refresh jobs on demand only', () => {
    assert.equal(ratePeriodMs('rate(1 hour)'), 3_600_000);
    assert.equal(ratePeriodMs('rate(15 minutes)'), 900_000);
    assert.equal(ratePeriodMs('cron(0 12 * * ? *)'), undefined);
    const plan = Object.fromEntries(
      rt()
        .schedules.plan()
        .map((p) => [p.rule.replace(/[0-9A-F]{8}$/, ''), p]),
    );
    assert.equal(plan.AuditIngestDigestSchedule?.everyMs, 1000);
    assert.equal(plan.SessionsSweeperSchedule?.everyMs, 1000, 'no more often than an hourly schedule');
    assert.match(plan.AttestationRefreshAmdDaily?.onDemandOnly ?? '', /AMD KDS/);
    assert.match(plan.PluginsRefreshDaily?.onDemandOnly ?? '', /Sigstore/);
  });

  it('writes audit events without a pump, digests them on schedule, and moves a rejected event to the DLQ', async () => {
    const eb = new EventBridgeClient(rt().clientConfig());
    const sessionId = 'ses-between-calls';
    await publishAuditEvents(eb, rt().ref('AuditIngestBus'), [
      newEvent('intent', { source: 'agent', sessionId, detail: { type: 'prompt', text: 'hello' } }),
      newEvent('health', {
        source: 'agent',
        sessionId,
        detail: { type: 'metrics', latencyMs: 3, cpuPercent: 1, memoryMb: 64 },
      }),
    ]);
    await eb.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: rt().ref('AuditIngestBus'),
            Source: 'aidops',
            DetailType: 'AuditEvent',
            Detail: JSON.stringify({ kind: 'gossip', sessionId }),
          },
        ],
      }),
    );
    const written = await eventually('the chain object', 15_000, async () => {
      const v = await versions(`audit/chains/${sessionId}/`);
      return v.length ? v : undefined;
    });
    assert.equal(written.length, 1);
    await eventually('a digest of the chain', 15_000, async () => {
      const v = await versions(`audit/digests/${sessionId}/`);
      return v.length ? v : undefined;
    });
    // Five receives (visibility timeout 180 s / 3600 → 1 s each), then the redrive policy moves it.
    await eventually('the rejected event in the DLQ', 30_000, async () =>
      (await depth('AuditIngestDeadLetters')) === 1 ? true : undefined,
    );
    assert.equal(await depth('AuditIngestQueue'), 0, 'the audit queue is empty');
    // The pollers' calls are recorded apart: timelines and faults see only the system's own calls.
    assert.ok(rt().gateway.backgroundCalls.some((c) => c.action === 'ReceiveMessage'));
    assert.ok(!rt().gateway.calls.some((c) => c.action === 'ReceiveMessage'));
    assert.ok(rt().invocations.some((i) => i.fn.startsWith('AuditIngestWriter')));
  });

  it('pumpEventSources waits until the queue is drained and counts what came since the last pump', async () => {
    await rt().pumpEventSources();
    const sessionId = 'ses-between-calls-pump';
    await publishAuditEvents(new EventBridgeClient(rt().clientConfig()), rt().ref('AuditIngestBus'), [
      newEvent('intent', { source: 'agent', sessionId, detail: { type: 'prompt', text: 'one' } }),
      newEvent('intent', { source: 'agent', sessionId, detail: { type: 'prompt', text: 'two' } }),
    ]);
    const [counts] = await rt().pumpEventSources();
    assert.equal(counts?.received, 2);
    assert.equal(counts?.failed, 0);
    assert.equal((await versions(`audit/chains/${sessionId}/`)).length >= 1, true);
    assert.equal(await depth('AuditIngestQueue'), 0);
  });
});
