/**
 * EventBridge rules → this function → at most one tombstone execution per
 * session and triggering event (see ../trigger/start.ts). The input is the raw event.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { SessionTable } from '../../sessions/table.ts';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../shared/env.ts';
import { ConfigurationError } from '../../shared/errors.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { dynamoIncidentStore } from '../incidents.ts';
import { ClaimSlotInput, claimHeldSlot } from '../tombstone/guard.ts';
import { DryRunSwitch } from '../trigger/dry-run-switch.ts';
import { type EgressActions, parseEgressActions } from '../trigger/egress-actions.ts';
import { releaseLockOnFailure } from '../trigger/release.ts';
import { handleTrigger } from '../trigger/start.ts';

const sfn = new SFNClient(awsClientConfig());
const ec2 = new EC2Client(awsClientConfig());
const ddb = new DynamoDBClient(awsClientConfig());
const ssm = new SSMClient(awsClientConfig());
const sns = new SNSClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());
let dryRunSwitch: DryRunSwitch | undefined;

const store = () => dynamoIncidentStore(ddb, requireEnv('INCIDENT_TABLE'));
const maxPerMinute = () => numberEnv('MAX_TOMBSTONES_PER_MINUTE', 5);

/** TRUSTED_FINDING_PRODUCTS: a JSON array of Security Hub product ARNs. */
function trustedProducts(): string[] {
  let raw: unknown;
  try {
    raw = JSON.parse(optionalEnv('TRUSTED_FINDING_PRODUCTS') ?? '[]');
  } catch {
    raw = undefined;
  }
  const parsed = z.array(z.string().min(1)).safeParse(raw);
  if (!parsed.success) throw new ConfigurationError('TRUSTED_FINDING_PRODUCTS must be a JSON array of product ARNs');
  return parsed.data;
}

/** EGRESS_ACTIONS: JSON `{ "high": "tombstone", "medium": "alert", "low": "alert" }` (checked at synth too). */
function egressActions(): EgressActions {
  try {
    return parseEgressActions(optionalEnv('EGRESS_ACTIONS'), 'EGRESS_ACTIONS');
  } catch (e) {
    throw new ConfigurationError((e as Error).message);
  }
}

/** SESSION_TABLE: where a session's tier is read (SuspiciousEgress acts by tier); absent, every tier is unknown. */
function sessionTier(): ((sessionId: string) => Promise<string | undefined>) | undefined {
  const table = optionalEnv('SESSION_TABLE');
  if (!table) return undefined;
  const sessions = new SessionTable(ddb, table);
  return async (sessionId) => (await sessions.get(sessionId))?.tier;
}

export const handler = makeHandler({
  inputName: 'EventBridge event',
  // The trigger answers anything it cannot read with an explicit no-op (see handleTrigger).
  input: z.unknown(),
  core: async (event) => {
    const tombstoneMachineArn = requireEnv('TOMBSTONE_MACHINE_ARN');
    dryRunSwitch ??= new DryRunSwitch(
      ssm,
      requireEnv('DRY_RUN_PARAMETER'),
      numberEnv('DRY_RUN_SWITCH_CACHE_MS', 15_000),
    );
    return await handleTrigger(
      {
        sfn,
        ec2,
        trustedProducts: trustedProducts(),
        store: store(),
        dryRunSwitch,
        sns,
        topicArn: requireEnv('NOTIFY_TOPIC_ARN'),
        eventBridge,
        busName: requireEnv('AUDIT_BUS_NAME'),
        tombstoneMachineArn,
        maxPerMinute: maxPerMinute(),
        egressActions: egressActions(),
        sessionTier: sessionTier(),
      },
      event,
    );
  },
});

/** Tombstone executions that end unsuccessfully release their session lock. The input is the raw event. */
export const releaseLock = makeHandler({
  inputName: 'EventBridge event',
  // Anything but an unsuccessful status change is answered with an explicit no-op.
  input: z.unknown(),
  core: (event) => releaseLockOnFailure({ store: store(), sfn }, event),
});

/** The machine's held path: try again for a blast-radius slot. */
export const claimSlot = makeHandler({
  inputName: 'claim slot input',
  input: ClaimSlotInput,
  core: (input) => claimHeldSlot(store(), maxPerMinute(), input),
});
