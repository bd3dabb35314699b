/**
 * Decision Lambda: a batch of decision requests per call (agents ask for several
 * actions at once). Policies come from, in order of precedence:
 *   POLICY_PARAMETER           SSM parameter naming the active bundle object in S3
 *   POLICY_BUCKET + POLICY_KEY the bundle object itself
 *   POLICY_BUNDLE_FILE         a bundle file shipped with the function (the synth-time default)
 * POLICY_ENGINE is `cedar` or `rego` (default rego). The decider lives across
 * invocations, so the parsed policy set and the decision cache are reused; the
 * source is re-probed at most every POLICY_REFRESH_SECONDS (≤ 30).
 *
 * If AUDIT_BUS_NAME is set the handler publishes the decision audit events and
 * PolicyViolation events itself; either way it returns them.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { publishAuditEvents } from '../../audit/schema.ts';
import { awsClientConfig } from '../../shared/clients.ts';
import { TransientError, ValidationError } from '../../shared/errors.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { createDecider, type Decider, type PolicyViolationEvent } from '../decide.ts';
import { EngineName } from '../model.ts';
import { type PolicySource, parseBundleDoc } from '../source.ts';

const s3 = new S3Client(awsClientConfig());
const ssm = new SSMClient(awsClientConfig());
const events = new EventBridgeClient(awsClientConfig());

export const MAX_BATCH = 100;

export const DecideInput = z.strictObject({
  requests: z.array(z.unknown()).min(1).max(MAX_BATCH),
});

function shippedBundle(env: NodeJS.ProcessEnv) {
  if (!env.POLICY_BUNDLE_FILE) return undefined;
  const here = path.dirname(fileURLToPath(import.meta.url));
  const file = path.resolve(here, env.POLICY_BUNDLE_FILE);
  return parseBundleDoc(JSON.parse(readFileSync(file, 'utf8')));
}

function sourceFromEnv(env: NodeJS.ProcessEnv): PolicySource {
  if (env.POLICY_PARAMETER)
    return { type: 'ssm', ssm, s3, parameterName: env.POLICY_PARAMETER, bundled: shippedBundle(env) };
  if (env.POLICY_BUCKET && env.POLICY_KEY) return { type: 's3', s3, bucket: env.POLICY_BUCKET, key: env.POLICY_KEY };
  const bundle = shippedBundle(env);
  if (bundle) return { type: 'bundle', bundle };
  throw new ValidationError('no policy source: set POLICY_PARAMETER, POLICY_BUCKET+POLICY_KEY or POLICY_BUNDLE_FILE');
}

let decider: Promise<Decider> | undefined;
function getDecider(): Promise<Decider> {
  decider ??= createDecider({
    engine: EngineName.parse(process.env.POLICY_ENGINE ?? 'rego'),
    policies: sourceFromEnv(process.env),
    refreshMs: Number(process.env.POLICY_REFRESH_SECONDS ?? '30') * 1000,
  }).catch((e) => {
    decider = undefined; // let the next invocation retry the load
    throw e;
  });
  return decider;
}

async function publishViolations(bus: string, vs: readonly PolicyViolationEvent[]): Promise<void> {
  for (let i = 0; i < vs.length; i += 10) {
    const out = await events.send(
      new PutEventsCommand({
        Entries: vs.slice(i, i + 10).map((v) => ({
          EventBusName: bus,
          Source: v.source,
          DetailType: v.detailType,
          Detail: JSON.stringify(v.detail),
        })),
      }),
    );
    if ((out.FailedEntryCount ?? 0) > 0)
      throw new TransientError(`PutEvents failed for ${out.FailedEntryCount} violations`);
  }
}

export const handler = makeHandler({
  inputName: 'decision batch',
  input: DecideInput,
  core: async (input) => {
    const d = await getDecider();
    const outcomes = await d.decideBatch(input.requests);
    const auditEvents = outcomes.map((o) => o.events.audit);
    const violations = outcomes.flatMap((o) => (o.events.violation ? [o.events.violation] : []));
    const bus = process.env.AUDIT_BUS_NAME;
    if (bus) {
      await publishAuditEvents(events, bus, auditEvents);
      if (violations.length > 0) await publishViolations(bus, violations);
    }
    return { decisions: outcomes.map((o) => o.decision), auditEvents, violations, published: Boolean(bus) };
  },
});
