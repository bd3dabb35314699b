/**
 * Small workflow steps: issue the attestation nonce, stage the session's
 * secrets (for the attestation step to seal), and record a status change.
 * Each writes the session table and an audit event.
 */
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { NonceStore } from '../attestation/nonce-store.ts';
import type { AuditEvent } from '../audit/schema.ts';
import { stepEvent } from '../audit/step-event.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { NotFoundError } from '../shared/errors.ts';
import { Tags } from '../shared/tags.ts';
import { type AuditSink, lifecycleEvent, sessionStep } from './audit.ts';
import type { SessionContext, SessionStatus } from './model.ts';
import type { SessionTable } from './table.ts';

const who = (s: SessionContext, instanceId?: string) => ({
  sessionId: s.sessionId,
  user: s.user,
  policyVersion: s.policyVersion,
  instanceId: instanceId ?? null,
});

export interface NonceDeps {
  readonly nonceStore: NonceStore;
  readonly table: SessionTable;
  readonly audit: AuditSink;
  /** Lifetime of the nonce: the attestation timeout. */
  readonly ttlSeconds: number;
}

/** Issues a fresh nonce for this attempt and publishes it on the session item (it is a challenge, not a secret). */
export async function issueNonce(session: SessionContext, deps: NonceDeps): Promise<{ nonce: string }> {
  const nonce = Buffer.from(await deps.nonceStore.issue(session.sessionId, { ttlSeconds: deps.ttlSeconds })).toString(
    'hex',
  );
  await deps.table.update(session.sessionId, { nonce, status: 'launching' });
  await deps.audit([stepEvent(sessionStep(who(session), session.executionArn), 'issue nonce', 'succeeded')]);
  return { nonce };
}

export interface StageSecretsDeps {
  readonly secrets: SecretsManagerClient;
  readonly audit: AuditSink;
  /** The session's bundle is `${secretPrefix}${sessionId}` (what the attestation step reads). */
  readonly secretPrefix: string;
  /** KMS key the bundle is encrypted with. @default the account's aws/secretsmanager key */
  readonly kmsKeyId?: string;
}

/**
 * Copies the values of the secrets this session may receive into one bundle
 * secret, tagged with the session and its expiry so the sweeper can find it.
 * The values never enter the workflow state.
 */
export async function stageSecrets(
  session: SessionContext,
  deps: StageSecretsDeps,
): Promise<{ secretName: string; count: number }> {
  const values: Record<string, string> = {};
  for (const name of session.secrets) {
    const v = await awsCall(`GetSecretValue ${name}`, () =>
      deps.secrets.send(new GetSecretValueCommand({ SecretId: name })),
    ).catch((e: Error) => {
      if (e.name === 'ResourceNotFoundException')
        throw new NotFoundError(`secret ${name} (allowed for profile ${session.profile}) does not exist`);
      throw e;
    });
    values[name] = v.SecretString ?? Buffer.from(v.SecretBinary ?? new Uint8Array()).toString('base64');
  }
  const secretName = `${deps.secretPrefix}${session.sessionId}`;
  const body = JSON.stringify({ sessionId: session.sessionId, expiresAt: session.expiresAt, secrets: values });
  try {
    await awsCall('CreateSecret session', () =>
      deps.secrets.send(
        new CreateSecretCommand({
          Name: secretName,
          SecretString: body,
          Description: `ai-desktop-ops session ${session.sessionId}: released only to attested evidence`,
          ...(deps.kmsKeyId ? { KmsKeyId: deps.kmsKeyId } : {}),
          Tags: [
            { Key: Tags.SessionId, Value: session.sessionId },
            { Key: Tags.ExpiresAt, Value: session.expiresAt },
            { Key: Tags.Tier, Value: session.tier },
            { Key: Tags.ManagedBy, Value: 'ai-desktop-ops' },
          ],
        }),
      ),
    );
  } catch (e) {
    // A restarted run: the bundle exists; refresh its value.
    if (!(e instanceof ResourceExistsException) && (e as Error).name !== 'ResourceExistsException') throw e;
    await awsCall('PutSecretValue session', () =>
      deps.secrets.send(new PutSecretValueCommand({ SecretId: secretName, SecretString: body })),
    );
  }
  await deps.audit([
    stepEvent(sessionStep(who(session), session.executionArn), `stage ${session.secrets.length} secrets`, 'succeeded'),
  ]);
  return { secretName, count: session.secrets.length };
}

export interface RecordInput {
  readonly session: SessionContext;
  readonly status: SessionStatus;
  readonly step: string;
  readonly instanceId?: string;
  readonly note?: string;
  /** The active wait's callback token: `aidops session end` answers it. */
  readonly endToken?: string;
}

/** Records a status change and the step's audit events (used after non-Lambda states). */
export async function recordStep(
  input: RecordInput,
  deps: { table: SessionTable; audit: AuditSink },
  now = new Date(),
): Promise<{ status: SessionStatus; remainingSeconds: number }> {
  const s = input.session;
  await deps.table.update(s.sessionId, {
    status: input.status,
    ...(input.instanceId ? { instanceId: input.instanceId } : {}),
    ...(input.endToken ? { endToken: input.endToken } : {}),
  });
  const events: AuditEvent[] = [
    stepEvent(sessionStep(who(s, input.instanceId), s.executionArn), input.step, 'succeeded'),
  ];
  // One lifecycle event per transition (parking the end token is not one).
  const lifecycle = input.endToken
    ? undefined
    : input.status === 'attesting'
      ? 'attesting'
      : input.status === 'active'
        ? 'running'
        : undefined;
  if (lifecycle) events.push(lifecycleEvent(who(s, input.instanceId), lifecycle, input.note));
  await deps.audit(events);
  // The active wait's TimeoutSecondsPath: the rest of the TTL, counted from admission (≥ 1 s).
  const remainingSeconds = Math.max(1, Math.ceil((Date.parse(s.expiresAt) - now.getTime()) / 1000));
  return { status: input.status, remainingSeconds };
}
