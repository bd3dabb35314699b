/**
 * Decision Lambda: a batch of decision requests per call (agents ask for several
 * actions at once). Each request names only `{ sessionId, action, resource }`;
 * the session's state is looked up (authoritative.ts):
 *   SESSION_TABLE                    the session table (status, tier, cohort, scopes, …), cached ≤ 10 s
 *   SESSION_STATE_CACHE_SECONDS      that cache's lifetime (≤ 10, default 10)
 *   FLAG_PREFIX, FLAG_CACHE_SECONDS  the fleet flags in SSM, cached ≤ 30 s
 *   REGISTRY_TABLE                   the plugin registry, cached ≤ 30 s
 * Policies come from, in order of precedence:
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
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { publishAuditEvents } from '../../audit/schema.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../shared/env.ts';
import { ConfigurationError, TransientError } from '../../shared/errors.ts';
import { makeHandler, metric } from '../../shared/middleware.ts';
import { type AuthoritativeDecider, createAuthoritativeDecider } from '../authoritative.ts';
import { createDecider, type PolicyViolationEvent } from '../decide.ts';
import { EngineName } from '../model.ts';
import { type PolicyBundle, type PolicySource, parseBundleDoc } from '../source.ts';
import { awsStateLookup, type StateLookup } from '../state.ts';

const s3 = new S3Client(awsClientConfig());
const ssm = new SSMClient(awsClientConfig());
const ddb = new DynamoDBClient(awsClientConfig());
const events = new EventBridgeClient(awsClientConfig());

export const MAX_BATCH = 100;

export const DecideInput = z.strictObject({
  requests: z.array(z.unknown()).min(1).max(MAX_BATCH),
});

function shippedBundle(): PolicyBundle | undefined {
  const name = optionalEnv('POLICY_BUNDLE_FILE');
  if (!name) return undefined;
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), name);
  // Not shipped (run from source, locally): only a published bundle can decide.
  if (!existsSync(file)) return undefined;
  return parseBundleDoc(JSON.parse(readFileSync(file, 'utf8')));
}

function sourceFromEnv(): PolicySource {
  const parameterName = optionalEnv('POLICY_PARAMETER');
  if (parameterName) return { type: 'ssm', ssm, s3, parameterName, bundled: shippedBundle() };
  const bucket = optionalEnv('POLICY_BUCKET');
  const key = optionalEnv('POLICY_KEY');
  if (bucket && key) return { type: 's3', s3, bucket, key };
  const bundle = shippedBundle();
  if (bundle) return { type: 'bundle', bundle };
  throw new ConfigurationError(
    'no policy source: set POLICY_PARAMETER, POLICY_BUCKET+POLICY_KEY or POLICY_BUNDLE_FILE',
  );
}

function engineFromEnv(): EngineName {
  const engine = EngineName.safeParse(optionalEnv('POLICY_ENGINE') ?? 'rego');
  if (!engine.success) {
    throw new ConfigurationError('environment variable POLICY_ENGINE must be cedar or rego', {
      variable: 'POLICY_ENGINE',
    });
  }
  return engine.data;
}

function stateFromEnv(): StateLookup {
  return awsStateLookup({
    ddb,
    ssm,
    sessionTable: requireEnv('SESSION_TABLE'),
    flagPrefix: requireEnv('FLAG_PREFIX'),
    registryTable: requireEnv('REGISTRY_TABLE'),
    sessionTtlMs: numberEnv('SESSION_STATE_CACHE_SECONDS', 10) * 1000,
    flagsTtlMs: numberEnv('FLAG_CACHE_SECONDS', 30) * 1000,
  });
}

let decider: Promise<AuthoritativeDecider> | undefined;
function getDecider(): Promise<AuthoritativeDecider> {
  decider ??= (async () => {
    const state = stateFromEnv();
    const evaluator = await createDecider({
      engine: engineFromEnv(),
      policies: sourceFromEnv(),
      refreshMs: numberEnv('POLICY_REFRESH_SECONDS', 30) * 1000,
      metric,
    });
    return createAuthoritativeDecider({ decider: evaluator, state });
  })().catch((e) => {
    decider = undefined; // let the next invocation retry the load
    throw e;
  });
  return decider;
}

async function publishViolations(bus: string, vs: readonly PolicyViolationEvent[]): Promise<void> {
  for (let i = 0; i < vs.length; i += 10) {
    const out = await awsCall('events:PutEvents', () =>
      events.send(
        new PutEventsCommand({
          Entries: vs.slice(i, i + 10).map((v) => ({
            EventBusName: bus,
            Source: v.source,
            DetailType: v.detailType,
            Detail: JSON.stringify(v.detail),
          })),
        }),
      ),
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
    const bus = optionalEnv('AUDIT_BUS_NAME');
    if (bus) {
      await publishAuditEvents(events, bus, auditEvents);
      if (violations.length > 0) await publishViolations(bus, violations);
    }
    // Requests refused before policy (unknown or ended session), by index, with their typed error name.
    const refusals = outcomes.flatMap((o, index) => (o.refusal ? [{ index, ...o.refusal }] : []));
    return {
      decisions: outcomes.map((o) => o.decision),
      refusals,
      auditEvents,
      violations,
      published: Boolean(bus),
    };
  },
});
