/**
 * LOCAL STAND-IN for Lambda's SQS event-source mappings (moto keeps the queues
 * but invokes nothing). Per mapping: receive up to min(10, BatchSize) messages,
 * invoke the function's real handler with an SQS event, delete what it did not
 * report in `batchItemFailures` (ReportBatchItemFailures); a handler that throws
 * fails the whole batch. Messages that failed stay in the queue and come back
 * after its visibility timeout, until the redrive policy moves them to the DLQ.
 *
 * Two ways to run, as the runtime is started:
 *  - continuous (like AWS): one background loop per mapping polls all the time
 *    (a short receive, then a 100 ms pause when the queue is empty); a failed
 *    message comes back after the queue's visibility timeout divided by the
 *    runtime's speed-up, so it reaches the DLQ in seconds, not minutes.
 *    `drain()` waits until every mapping has found its queue empty.
 *  - manual (deterministic tests): nothing runs until `pumpOnce()`, which
 *    delivers what is queued now, in the caller's turn.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { LocalEventSource } from './asl/provisioners/types.ts';
import type { Json } from './asl/sfn-local.ts';
import type { Physical } from './asl/template.ts';
import { inBackground } from './emulator/gateway.ts';
import { LOCAL_REGION } from './emulator/moto.ts';
import { pause, settle } from './timers.ts';

/** What a mapping delivered: messages received and, of those, reported failed. */
export interface DeliveryCounts {
  readonly function: string;
  readonly received: number;
  readonly failed: number;
}

export interface EventSourceDeps {
  readonly sqs: SQSClient;
  readonly invoke: (functionName: string, event: Json) => Promise<Json>;
  /** Local time runs this many times faster (visibility timeouts of failed messages). */
  readonly speedup: number;
}

/** Pause of a continuous poller after an empty receive. */
const IDLE_MS = 100;
/** Pause after a failed receive (e.g. the emulator is gone), so a dead endpoint is not hammered. */
const ERROR_MS = 500;

class Mapping {
  /** Distinct messages delivered since the last drain: id → failed the last time it was delivered. */
  private readonly seen = new Map<string, boolean>();
  private visibilityTimeout: number | undefined;
  /** When the latest receive that found the queue empty was sent. */
  lastEmptyReceiveStartedAt = 0;
  lastError: Error | undefined;

  readonly source: LocalEventSource;
  private readonly queueUrl: string;
  private readonly deps: EventSourceDeps;

  constructor(source: LocalEventSource, queueUrl: string, deps: EventSourceDeps) {
    this.source = source;
    this.queueUrl = queueUrl;
    this.deps = deps;
  }

  /** Receives one batch and delivers it. `continuous` retries failed messages after a compressed visibility timeout. */
  async pollOnce(opts: { continuous: boolean; signal?: AbortSignal }): Promise<{ received: number; failed: number }> {
    const startedAt = Date.now();
    const r = await this.deps.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: Math.min(10, this.source.batchSize),
        WaitTimeSeconds: 0,
        AttributeNames: ['All'],
      }),
      { abortSignal: opts.signal },
    );
    const msgs = r.Messages ?? [];
    if (msgs.length === 0) {
      this.lastEmptyReceiveStartedAt = startedAt;
      return { received: 0, failed: 0 };
    }
    let bad: Set<string>;
    if (opts.continuous) {
      bad = await this.deliver(msgs).catch(() => new Set(msgs.map((m) => m.MessageId!)));
    } else bad = await this.deliver(msgs); // a manual pump reports a throwing handler to its caller
    for (const m of msgs) {
      this.seen.set(m.MessageId!, bad.has(m.MessageId!));
      if (!bad.has(m.MessageId!))
        await this.deps.sqs.send(
          new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: m.ReceiptHandle! }),
        );
      else if (opts.continuous) {
        await this.deps.sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: this.queueUrl,
            ReceiptHandle: m.ReceiptHandle!,
            VisibilityTimeout: Math.ceil((await this.queueVisibilityTimeout()) / this.deps.speedup),
          }),
        );
      }
    }
    return { received: msgs.length, failed: bad.size };
  }

  /** Invokes the handler; returns the ids it reported failed. */
  private async deliver(msgs: Message[]): Promise<Set<string>> {
    const event = {
      Records: msgs.map((m) => ({
        messageId: m.MessageId!,
        receiptHandle: m.ReceiptHandle!,
        body: m.Body ?? '',
        attributes: m.Attributes ?? {},
        messageAttributes: {},
        md5OfBody: m.MD5OfBody ?? '',
        eventSource: 'aws:sqs',
        eventSourceARN: this.source.sourceArn,
        awsRegion: LOCAL_REGION,
      })),
    };
    const out = (await this.deps.invoke(this.source.functionName, event as unknown as Json)) as {
      batchItemFailures?: { itemIdentifier: string }[];
    } | null;
    return new Set((out?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  }

  private async queueVisibilityTimeout(): Promise<number> {
    if (this.visibilityTimeout === undefined) {
      const a = await this.deps.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ['VisibilityTimeout'] }),
      );
      this.visibilityTimeout = Number(a.Attributes?.VisibilityTimeout ?? 30);
    }
    return this.visibilityTimeout;
  }

  /** Counts of distinct messages since the last call, then forgets them. */
  takeCounts(): DeliveryCounts {
    const failed = [...this.seen.values()].filter(Boolean).length;
    const counts = { function: this.source.functionName, received: this.seen.size, failed };
    this.seen.clear();
    return counts;
  }

  /** The background loop: poll until aborted. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const { received } = await this.pollOnce({ continuous: true, signal });
        this.lastError = undefined;
        if (received === 0) await pause(IDLE_MS, signal);
      } catch (e) {
        if (signal.aborted) break;
        this.lastError = e as Error;
        await pause(ERROR_MS, signal);
      }
    }
  }
}

export class EventSourceMappings {
  private readonly mappings: Mapping[];
  private abort: AbortController | undefined;
  private loops: Promise<void>[] = [];

  constructor(sources: readonly LocalEventSource[], resources: ReadonlyMap<string, Physical>, deps: EventSourceDeps) {
    this.mappings = sources.flatMap((es) => {
      const queue = [...resources.values()].find((r) => r.type === 'AWS::SQS::Queue' && r.attrs.Arn === es.sourceArn);
      return queue ? [new Mapping(es, queue.ref, deps)] : [];
    });
  }

  get running(): boolean {
    return this.abort !== undefined;
  }

  /** Starts one background poller per mapping (continuous mode). */
  start(): void {
    if (this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    this.loops = this.mappings.map((m) => inBackground(() => m.run(abort.signal)));
  }

  /**
   * Continuous mode: waits until every mapping has found its queue empty after
   * this call began (so everything queued before it was delivered), and returns
   * the distinct messages each delivered since the previous drain.
   */
  async drain(opts: { timeoutMs?: number } = {}): Promise<DeliveryCounts[]> {
    const since = Date.now();
    const deadline = since + (opts.timeoutMs ?? 30_000);
    for (const m of this.mappings) {
      while (m.lastEmptyReceiveStartedAt < since) {
        if (Date.now() > deadline) {
          throw new Error(
            `event source ${m.source.logicalId}: its queue was not drained in ${opts.timeoutMs ?? 30_000} ms` +
              (m.lastError ? ` (last error: ${m.lastError.name}: ${m.lastError.message})` : ''),
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    return this.mappings.map((m) => m.takeCounts());
  }

  /** Manual mode: delivers what is queued now, up to `maxBatches` batches per mapping. */
  async pumpOnce(opts: { maxBatches?: number } = {}): Promise<DeliveryCounts[]> {
    const results: DeliveryCounts[] = [];
    for (const m of this.mappings) {
      let received = 0;
      let failed = 0;
      for (let i = 0; i < (opts.maxBatches ?? 20); i++) {
        const r = await m.pollOnce({ continuous: false });
        if (r.received === 0) break;
        received += r.received;
        failed += r.failed;
        if (r.failed === r.received) break; // nothing moved; let the redrive policy take them later
      }
      m.takeCounts();
      results.push({ function: m.source.functionName, received, failed });
    }
    return results;
  }

  /** Stops the pollers and waits (bounded) for the batches in flight. */
  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    this.abort = undefined;
    abort.abort();
    await settle(this.loops, 10_000);
    this.loops = [];
  }
}
