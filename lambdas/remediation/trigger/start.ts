/**
 * The automatic path: an EventBridge event → at most one tombstone execution per
 * session and triggering event.
 *
 *  - The execution name is derived from the session and the triggering event id,
 *    so a second delivery of the same event starts nothing (StartExecution with
 *    the same name and input returns the first; ExecutionAlreadyExists counts as
 *    already started).
 *  - A finding acts only on what EC2 says: the session is read from the real tags
 *    of the resource the finding names, never from the finding's copy of them.
 *  - A session lock (DynamoDB, conditional put) makes later events about a
 *    session that is already being tombstoned a no-op, reported, not a second run.
 *    It is released when the start fails (the redelivery takes it again) and when
 *    the execution ends unsuccessfully (./release.ts).
 *  - The blast-radius guard allows at most N tombstones a minute fleet-wide; past
 *    it the execution starts `held` (it waits for a slot in the machine) and a
 *    person is paged.
 *  - An SSM parameter switches the whole automatic path to dry-run.
 *  - A `SuspiciousEgress` event is acted on by the session's tier, read from the
 *    session table (./egress-actions.ts): tombstone, or page a person (alert).
 */
import { DescribeTagsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { IsoTime } from '../../shared/ids.ts';
import { Tags } from '../../shared/tags.ts';
import { audit, stepContext } from '../audit.ts';
import { type IncidentStore, minuteOf } from '../incidents.ts';
import type { TombstoneRequest } from '../tombstone/request.ts';
import { DEFAULT_EGRESS_ACTIONS, type EgressActions, egressActionFor } from './egress-actions.ts';
import {
  BY_TIER_DETAIL_TYPES,
  type DerivedTrigger,
  deriveTrigger,
  EventBridgeEvent,
  tombstoneExecutionName,
} from './event.ts';

/** The trigger's own name in audit events (it is not a state machine). */
const TRIGGER = 'aidops-trigger';

export interface TriggerDeps {
  readonly sfn: SFNClient;
  /** Reads the real tags of the resources findings name. */
  readonly ec2: EC2Client;
  /** Security Hub product ARNs whose findings count (anyone may import findings under the account's own). */
  readonly trustedProducts: readonly string[];
  readonly store: IncidentStore;
  readonly dryRunSwitch: { get(): Promise<boolean> };
  readonly sns?: SNSClient;
  readonly topicArn?: string;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  readonly tombstoneMachineArn: string;
  readonly maxPerMinute: number;
  /** What a SuspiciousEgress does, by tier. @default high → tombstone, medium and low → alert */
  readonly egressActions?: EgressActions;
  /** The session's tier from the session table (undefined: no such session, treated as the strictest tier). */
  readonly sessionTier?: (sessionId: string) => Promise<string | undefined>;
  /** How long a session lock lasts without a release. @default 86_400 */
  readonly lockTtlSeconds?: number;
  readonly now?: () => Date;
}

export interface TriggerResult {
  readonly outcome: 'started' | 'duplicate' | 'already-tombstoning' | 'alerted' | 'ignored';
  readonly executionName: string | null;
  readonly executionArn: string | null;
  readonly sessionId: string | null;
  readonly dryRun: boolean;
  readonly held: boolean;
  readonly reason?: string;
}

/** The session each resource carries in EC2 (resources without the tag are absent). */
async function realSessions(ec2: EC2Client, resourceIds: readonly string[]): Promise<Map<string, string>> {
  if (resourceIds.length === 0) return new Map();
  const out = await awsCall('ec2:DescribeTags', () =>
    ec2.send(
      new DescribeTagsCommand({
        Filters: [
          { Name: 'resource-id', Values: [...resourceIds] },
          { Name: 'key', Values: [Tags.SessionId] },
        ],
      }),
    ),
  );
  return new Map(
    (out.Tags ?? []).filter((t) => t.ResourceId && t.Value).map((t) => [t.ResourceId!, t.Value!] as const),
  );
}

/** A finding's trigger with the session EC2 says its resource belongs to; null when none does. */
async function confirmed(ec2: EC2Client, trig: DerivedTrigger): Promise<DerivedTrigger | null> {
  if (trig.kind === 'own') return trig;
  const real = await realSessions(ec2, trig.resourceIds);
  const resourceId = trig.resourceIds.find((id) => real.has(id));
  if (!resourceId) return null;
  const sessionId = real.get(resourceId)!;
  const note = sessionId === trig.sessionId ? '' : ` [the finding's tags named ${trig.sessionId}]`;
  return { ...trig, sessionId, reason: `${trig.reason}${note}`.slice(0, 512) };
}

/** The event's own time, if it is one (EventBridge writes `2026-01-01T00:00:00Z`). */
function triggeredAt(time: string | undefined): { triggeredAt?: string } {
  return time && IsoTime.safeParse(time).success ? { triggeredAt: time } : {};
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
  const derived = deriveTrigger(parsed.data, deps.trustedProducts);
  if (!derived) return ignored('the event names no session');
  const trig = await confirmed(deps.ec2, derived);
  if (!trig) return ignored('no resource the finding names carries a session tag in EC2');
  if (trig.detailType && BY_TIER_DETAIL_TYPES.includes(trig.detailType)) {
    const tier = await deps.sessionTier?.(trig.sessionId);
    if (egressActionFor(deps.egressActions ?? DEFAULT_EGRESS_ACTIONS, tier) === 'alert')
      return await alert(deps, trig, tier);
  }
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
          stepContext(
            { executionId: executionArn, sessionId: trig.sessionId, request: { requestedBy: 'automatic' } },
            TRIGGER,
          ),
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
    ...triggeredAt(parsed.data.time),
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
    if ((e as Error).name !== 'ExecutionAlreadyExists') {
      // Nothing started: the lock must not outlive the attempt (EventBridge redelivers; that takes it again).
      if (!dryRun) await deps.store.releaseSessionIf(trig.sessionId, name).catch(() => undefined);
      throw e;
    }
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
      stepContext(
        { executionId: executionArn, sessionId: trig.sessionId, request: { requestedBy: `automatic:${trig.kind}` } },
        TRIGGER,
      ),
      `Trigger ${trig.kind}: ${started ? 'started' : 'already started'}${held ? ' (held)' : ''}${dryRun ? ' (dry run)' : ''}`,
      'succeeded',
    ),
  ]);
  return { ...base, outcome: started ? 'started' : 'duplicate', held };
}

/** Pages a person about an event the session's tier does not tombstone for, and records that it did. */
async function alert(deps: TriggerDeps, trig: DerivedTrigger, tier: string | undefined): Promise<TriggerResult> {
  if (deps.sns && deps.topicArn) {
    await awsCall('sns:Publish', () =>
      deps.sns!.send(
        new PublishCommand({
          TopicArn: deps.topicArn,
          Subject: `aidops: ${trig.detailType} on a ${tier ?? 'unknown'}-tier session`.slice(0, 99),
          Message: `Session ${trig.sessionId} (tier ${tier ?? 'unknown'}): ${trig.reason}\nIncident ${trig.eventId}. The tier's action is alert: nothing was tombstoned.\nTombstone it: aidops incident tombstone --session ${trig.sessionId} --reason "suspicious egress"`,
        }),
      ),
    );
  }
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(
      stepContext(
        { executionId: trig.eventId, sessionId: trig.sessionId, request: { requestedBy: 'automatic' } },
        TRIGGER,
      ),
      `Trigger ${trig.kind}: ${trig.detailType} alerted (tier ${tier ?? 'unknown'})`,
      'succeeded',
    ),
  ]);
  return {
    outcome: 'alerted',
    executionName: null,
    executionArn: null,
    sessionId: trig.sessionId,
    dryRun: false,
    held: false,
    reason: `tier ${tier ?? 'unknown'}: alert`,
  };
}
