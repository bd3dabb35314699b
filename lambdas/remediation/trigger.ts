/**
 * The automatic path: an EventBridge event (the project's own PolicyViolation /
 * AttestationFailed / SuspiciousWrite, a GuardDuty finding on a session
 * instance, a Security Hub finding on a session resource) → at most one
 * tombstone execution per session and triggering event.
 *
 *  - The execution name is derived from the session and the triggering event id,
 *    so a second delivery of the same event starts nothing (StartExecution with
 *    the same name and input returns the first; ExecutionAlreadyExists counts as
 *    already started).
 *  - A session lock (DynamoDB, conditional put) makes later events about a
 *    session that is already being tombstoned a no-op, reported, not a second run.
 *  - The blast-radius guard allows at most N tombstones a minute fleet-wide; past
 *    it the execution starts `held` (it waits for a slot in the machine) and a
 *    person is paged.
 *  - An SSM parameter switches the whole automatic path to dry-run.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { SessionId } from '../shared/ids.ts';
import { Tags } from '../shared/tags.ts';
import { audit, sha256Hex, stepEvent } from './common.ts';
import type { TombstoneRequest } from './tombstone.ts';

export const OWN_DETAIL_TYPES = ['PolicyViolation', 'AttestationFailed', 'SuspiciousWrite'] as const;
export const OWN_SOURCE_PREFIX = 'aidops.' as const;
/** SSM parameter naming the incident table (the CLI reads it to find pending approvals). */
export const INCIDENT_TABLE_PARAMETER = '/aidops/remediation/incident-table' as const;

/** An EventBridge event as a rule delivers it to a Lambda target. */
export const EventBridgeEvent = z.looseObject({
  id: z.string().min(1),
  source: z.string().min(1),
  'detail-type': z.string().min(1),
  time: z.string().optional(),
  detail: z.looseObject({}),
});
export type EventBridgeEvent = z.output<typeof EventBridgeEvent>;

export interface DerivedTrigger {
  readonly kind: 'own' | 'guardduty' | 'securityhub';
  readonly sessionId: string;
  readonly instanceId: string | null;
  /** Id that identifies the occurrence: the event id, or the finding id (updates of a finding share it). */
  readonly eventId: string;
  readonly reason: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Reads who and why from the three kinds of events; null when the event names no session. */
export function deriveTrigger(e: EventBridgeEvent): DerivedTrigger | null {
  const d = e.detail as Obj;
  if (e.source === 'aws.guardduty') {
    const inst = obj(obj(d.resource).instanceDetails);
    const tag = arr(inst.tags)
      .map(obj)
      .find((t) => t.key === Tags.SessionId);
    const sessionId = str(tag?.value);
    if (!sessionId || !SessionId.safeParse(sessionId).success) return null;
    return {
      kind: 'guardduty',
      sessionId,
      instanceId: str(inst.instanceId) ?? null,
      eventId: `guardduty:${str(d.id) ?? e.id}`,
      reason:
        `GuardDuty ${str(d.type) ?? 'finding'} (severity ${String(d.severity ?? '?')}): ${str(d.title) ?? ''}`.slice(
          0,
          512,
        ),
    };
  }
  if (e.source === 'aws.securityhub') {
    for (const f of arr(d.findings).map(obj)) {
      for (const r of arr(f.Resources).map(obj)) {
        const sessionId = str(obj(r.Tags)[Tags.SessionId]);
        if (!sessionId || !SessionId.safeParse(sessionId).success) continue;
        const m = /instance\/(i-[0-9a-f]+)/.exec(String(r.Id ?? ''));
        return {
          kind: 'securityhub',
          sessionId,
          instanceId: m?.[1] ?? null,
          eventId: `securityhub:${str(f.Id) ?? e.id}`,
          reason: `Security Hub ${str(obj(f.Severity).Label) ?? ''} finding: ${str(f.Title) ?? ''}`.slice(0, 512),
        };
      }
    }
    return null;
  }
  if (e.source.startsWith(OWN_SOURCE_PREFIX) && (OWN_DETAIL_TYPES as readonly string[]).includes(e['detail-type'])) {
    const sessionId = str(d.sessionId);
    if (!sessionId || !SessionId.safeParse(sessionId).success) return null;
    const why = Array.isArray(d.reasons) ? d.reasons.join('; ') : (str(d.reason) ?? str(d.description) ?? '');
    const what = [str(d.action), str(d.resource)].filter(Boolean).join(' ');
    return {
      kind: 'own',
      sessionId,
      instanceId: null,
      eventId: e.id,
      reason: `${e['detail-type']} from ${e.source}${what ? `: ${what}` : ''}${why ? ` (${why})` : ''}`.slice(0, 512),
    };
  }
  return null;
}

/**
 * Execution name: session + a hash of the triggering event id (names are ≤ 80
 * characters of [A-Za-z0-9_-], and event ids are not). Dry runs get their own
 * prefix so switching the path back to live acts on the next delivery.
 */
export function tombstoneExecutionName(sessionId: string, eventId: string, dryRun: boolean): string {
  const prefix = dryRun ? 'dry-' : '';
  return `${prefix}${sessionId.slice(0, 80 - prefix.length - 17)}-${sha256Hex(eventId).slice(0, 16)}`;
}

// ---------------------------------------------------------------------------
// The incident table: rate counters, session locks and approval tokens.

export interface IncidentStore {
  /** 'acquired' (new), 'same' (held by this execution already), or the execution that holds it. */
  lockSession(
    sessionId: string,
    executionName: string,
    ttlSeconds: number,
  ): Promise<{ status: 'acquired' | 'same' | 'held'; holder: string }>;
  releaseSession(sessionId: string): Promise<void>;
  /** Takes one of `max` slots of the current minute; false when they are gone. */
  claimSlot(minute: string, max: number): Promise<boolean>;
  putApproval(
    executionArn: string,
    item: { token: string; sessionId: string | null; expiresAt: number; summary: string },
  ): Promise<void>;
  getApproval(executionArn: string): Promise<{ token: string; sessionId: string | null; summary: string } | null>;
  deleteApproval(executionArn: string): Promise<void>;
}

const isConditional = (e: unknown) =>
  e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException';

export function dynamoIncidentStore(
  ddb: DynamoDBClient,
  table: string,
  nowSec: () => number = () => Math.floor(Date.now() / 1000),
): IncidentStore {
  return {
    async lockSession(sessionId, executionName, ttlSeconds) {
      const pk = `lock#${sessionId}`;
      try {
        await awsCall('dynamodb:PutItem', () =>
          ddb.send(
            new PutItemCommand({
              TableName: table,
              Item: { pk: { S: pk }, execution: { S: executionName }, expiresAt: { N: String(nowSec() + ttlSeconds) } },
              // An expired lock (TTL deletion lags) counts as free.
              ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR execution = :e',
              ExpressionAttributeValues: { ':now': { N: String(nowSec()) }, ':e': { S: executionName } },
            }),
          ),
        );
        return { status: 'acquired', holder: executionName };
      } catch (e) {
        if (!isConditional(e)) throw e;
        const cur = await awsCall('dynamodb:GetItem', () =>
          ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } }, ConsistentRead: true })),
        );
        const holder = cur.Item?.execution?.S ?? 'unknown';
        return { status: holder === executionName ? 'same' : 'held', holder };
      }
    },
    async releaseSession(sessionId) {
      await awsCall('dynamodb:DeleteItem', () =>
        ddb.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: `lock#${sessionId}` } } })),
      );
    },
    async claimSlot(minute, max) {
      try {
        await awsCall('dynamodb:UpdateItem', () =>
          ddb.send(
            new UpdateItemCommand({
              TableName: table,
              Key: { pk: { S: `rate#${minute}` } },
              UpdateExpression: 'ADD n :one SET expiresAt = :ttl',
              ConditionExpression: 'attribute_not_exists(n) OR n < :max',
              ExpressionAttributeValues: {
                ':one': { N: '1' },
                ':max': { N: String(max) },
                ':ttl': { N: String(nowSec() + 3600) },
              },
            }),
          ),
        );
        return true;
      } catch (e) {
        if (isConditional(e)) return false;
        throw e;
      }
    },
    async putApproval(executionArn, item) {
      await awsCall('dynamodb:PutItem', () =>
        ddb.send(
          new PutItemCommand({
            TableName: table,
            Item: {
              pk: { S: `approval#${executionArn}` },
              token: { S: item.token },
              sessionId: { S: item.sessionId ?? '' },
              summary: { S: item.summary },
              expiresAt: { N: String(item.expiresAt) },
            },
          }),
        ),
      );
    },
    async getApproval(executionArn) {
      const out = await awsCall('dynamodb:GetItem', () =>
        ddb.send(
          new GetItemCommand({
            TableName: table,
            Key: { pk: { S: `approval#${executionArn}` } },
            ConsistentRead: true,
          }),
        ),
      );
      if (!out.Item?.token?.S) return null;
      return { token: out.Item.token.S, sessionId: out.Item.sessionId?.S || null, summary: out.Item.summary?.S ?? '' };
    },
    async deleteApproval(executionArn) {
      await awsCall('dynamodb:DeleteItem', () =>
        ddb.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: `approval#${executionArn}` } } })),
      );
    },
  };
}

/** `2025-06-01T12:03`: the minute a slot is counted in. */
export const minuteOf = (d: Date): string => d.toISOString().slice(0, 16);

// ---------------------------------------------------------------------------

/** Caches the dry-run switch briefly: the trigger path should not pay an SSM read per event. */
export class DryRunSwitch {
  private cached: { value: boolean; at: number } | undefined;
  private readonly ssm: SSMClient;
  private readonly name: string;
  private readonly ttlMs: number;
  constructor(ssm: SSMClient, name: string, ttlMs = 15_000) {
    this.ssm = ssm;
    this.name = name;
    this.ttlMs = ttlMs;
  }
  async get(now = Date.now()): Promise<boolean> {
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached.value;
    const out = await awsCall('ssm:GetParameter', () => this.ssm.send(new GetParameterCommand({ Name: this.name })));
    // Anything but an explicit "false" keeps the automatic path safe (dry run).
    const value = (out.Parameter?.Value ?? 'true').trim().toLowerCase() !== 'false';
    this.cached = { value, at: now };
    return value;
  }
}

export interface TriggerDeps {
  readonly sfn: SFNClient;
  readonly store: IncidentStore;
  readonly dryRunSwitch: { get(): Promise<boolean> };
  readonly sns?: SNSClient;
  readonly topicArn?: string;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  readonly tombstoneMachineArn: string;
  readonly maxPerMinute: number;
  /** How long a session lock lasts without a release. @default 86_400 */
  readonly lockTtlSeconds?: number;
  readonly now?: () => Date;
}

export interface TriggerResult {
  readonly outcome: 'started' | 'duplicate' | 'already-tombstoning' | 'ignored';
  readonly executionName: string | null;
  readonly executionArn: string | null;
  readonly sessionId: string | null;
  readonly dryRun: boolean;
  readonly held: boolean;
  readonly reason?: string;
}

export async function handleTrigger(deps: TriggerDeps, raw: unknown): Promise<TriggerResult> {
  const parsed = EventBridgeEvent.safeParse(raw);
  const ignored = (reason: string): TriggerResult => ({
    outcome: 'ignored',
    executionName: null,
    executionArn: null,
    sessionId: null,
    dryRun: false,
    held: false,
    reason,
  });
  if (!parsed.success) return ignored('not an EventBridge event');
  const trig = deriveTrigger(parsed.data);
  if (!trig) return ignored('the event names no session');
  const now = (deps.now ?? (() => new Date()))();
  const dryRun = await deps.dryRunSwitch.get();
  const name = tombstoneExecutionName(trig.sessionId, trig.eventId, dryRun);
  const executionArn = `${deps.tombstoneMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  const base = { executionName: name, executionArn, sessionId: trig.sessionId, dryRun };

  // A redelivery of an event whose execution exists starts nothing and takes no slot.
  const exists = await awsCall('states:DescribeExecution', () =>
    deps.sfn.send(new DescribeExecutionCommand({ executionArn })),
  ).then(
    () => true,
    (e: Error) => {
      if (e.name === 'ExecutionDoesNotExist') return false;
      throw e;
    },
  );
  if (exists) return { ...base, outcome: 'duplicate', held: false };

  let held = false;
  if (!dryRun) {
    const lock = await deps.store.lockSession(trig.sessionId, name, deps.lockTtlSeconds ?? 86_400);
    if (lock.status === 'held') {
      await audit(deps.eventBridge, deps.busName, [
        stepEvent(
          {
            executionId: executionArn,
            stateMachine: 'aidops-trigger',
            sessionId: trig.sessionId,
            requestedBy: 'automatic',
          },
          `Trigger ${trig.kind}: session already being tombstoned by ${lock.holder}`,
          'succeeded',
        ),
      ]);
      return { ...base, outcome: 'already-tombstoning', held: false, reason: `held by ${lock.holder}` };
    }
    held = !(await deps.store.claimSlot(minuteOf(now), deps.maxPerMinute));
  }
  const input: TombstoneRequest = {
    sessionId: trig.sessionId,
    ...(trig.instanceId ? { instanceId: trig.instanceId } : {}),
    reason: trig.reason,
    source: trig.eventId.slice(0, 256),
    requestedBy: `automatic:${trig.kind}`,
    dryRun,
    held,
    isolateSubnet: false,
    freeze: 'auto',
    allowHibernate: true,
  };
  let started = true;
  try {
    await awsCall('states:StartExecution', () =>
      deps.sfn.send(
        new StartExecutionCommand({ stateMachineArn: deps.tombstoneMachineArn, name, input: JSON.stringify(input) }),
      ),
    );
  } catch (e) {
    // Same name, other input (e.g. `held` differs on a concurrent redelivery): it is already running.
    if ((e as Error).name !== 'ExecutionAlreadyExists') throw e;
    started = false;
  }
  if (held && started && deps.sns && deps.topicArn) {
    await awsCall('sns:Publish', () =>
      deps.sns!.send(
        new PublishCommand({
          TopicArn: deps.topicArn,
          Subject: 'aidops: tombstone held by the blast-radius guard',
          Message: `More than ${deps.maxPerMinute} tombstones this minute. ${name} (session ${trig.sessionId}) waits for a slot.\nReason: ${trig.reason}\nStop it: aws stepfunctions stop-execution --execution-arn ${executionArn}`,
        }),
      ),
    );
  }
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(
      {
        executionId: executionArn,
        stateMachine: 'aidops-trigger',
        sessionId: trig.sessionId,
        requestedBy: `automatic:${trig.kind}`,
      },
      `Trigger ${trig.kind}: ${started ? 'started' : 'already started'}${held ? ' (held)' : ''}${dryRun ? ' (dry run)' : ''}`,
      'succeeded',
    ),
  ]);
  return { ...base, outcome: started ? 'started' : 'duplicate', held };
}

export const ClaimSlotInput = z.strictObject({
  attempt: z.number().int().min(0).default(0),
});

/** The held path inside the machine: one more try for a slot. */
export async function claimHeldSlot(
  store: IncidentStore,
  maxPerMinute: number,
  input: z.output<typeof ClaimSlotInput>,
  now: Date = new Date(),
): Promise<{ granted: boolean; attempt: number }> {
  return { granted: await store.claimSlot(minuteOf(now), maxPerMinute), attempt: input.attempt + 1 };
}
