/**
 * The guest's door to the attestation step. The workflow parked its
 * attestation callback token on the session item; this finds it by session id,
 * checks the evidence is of the kind the session's profile produces (a high-tier
 * session must present SEV-SNP, never a Nitro document) and that its bytes are
 * what they claim to be (base64, hex), runs the attestation helper's step
 * (verify → consume nonce → seal secrets → SendTaskSuccess/Failure) against what
 * the session table says (the profile's policy, the session's instance), and
 * audits the verdict. It also relays boot heartbeats and hands out the nonce.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import type { AmdCertSource } from '../attestation/kds-source.ts';
import type { NonceStore } from '../attestation/nonce-store.ts';
import {
  type AttestationStepInput,
  AttestationStepInputSchema,
  runAttestationStep,
  type TaskCallbacks,
} from '../attestation/step.ts';
import type { ChainCache } from '../attestation/x509.ts';
import { ConflictError, ForbiddenError, ValidationError } from '../shared/errors.ts';
import { SessionId } from '../shared/ids.ts';
import { formatPath } from '../shared/validation.ts';
import { type AuditSink, attestationEvent } from './audit.ts';
import type { SessionTable } from './table.ts';

export const EvidenceRequest = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('nonce'), sessionId: SessionId }),
  z.strictObject({ op: z.literal('heartbeat'), sessionId: SessionId }),
  z.strictObject({
    op: z.literal('evidence'),
    sessionId: SessionId,
    evidenceType: z.enum(['nitro-enclave', 'nitrotpm', 'sev-snp']),
    evidence: z.string().max(200_000),
    certs: z
      .strictObject({ leaf: z.string().max(20_000).optional(), chain: z.string().max(40_000).optional() })
      .optional(),
    nonce: z.string().max(2048).optional(),
    publicKey: z.string().max(8192).optional(),
  }),
]);
export type EvidenceRequest = z.input<typeof EvidenceRequest>;

export interface HeartbeatSender {
  heartbeat(taskToken: string): Promise<void>;
}

export interface EvidenceDeps {
  readonly table: SessionTable;
  readonly nonceStore: NonceStore;
  readonly secrets: SecretsManagerClient;
  readonly callbacks: TaskCallbacks & HeartbeatSender;
  readonly audit: AuditSink;
  readonly secretPrefix: string;
  /** The verification clock (certificates in evidence expire within hours). @default now */
  readonly now?: () => Date;
  readonly cache?: ChainCache;
  /** SEV-SNP evidence without its AMD chain takes it from the deployment's verified cache. */
  readonly amdCerts?: AmdCertSource;
  /**
   * The instance that called (from a Function URL's IAM identity). When set, the request
   * must be about that instance's own session: a guest cannot act for another session.
   */
  readonly caller?: { readonly instanceId: string };
}

export type EvidenceResult =
  | { op: 'nonce'; sessionId: string; nonce: string }
  | { op: 'heartbeat'; sessionId: string }
  | {
      op: 'evidence';
      sessionId: string;
      verdict: 'verified' | 'rejected';
      reason: string | null;
      message: string;
      /** Sealed to the attested key: only the attested guest can open it. */
      sealedSecrets: unknown;
    };

export async function handleEvidence(raw: EvidenceRequest, deps: EvidenceDeps): Promise<EvidenceResult> {
  const req = EvidenceRequest.parse(raw);
  const item = await deps.table.mustGet(req.sessionId);
  if (deps.caller && deps.caller.instanceId !== item.instanceId) {
    throw new ForbiddenError(`caller ${deps.caller.instanceId} is not the instance of session ${req.sessionId}`, {
      caller: deps.caller.instanceId,
    });
  }
  if (item.status !== 'attesting' || !item.attestToken)
    throw new ConflictError(`session ${req.sessionId} is ${item.status}, not waiting for attestation`, {
      status: item.status,
    });
  if (req.op === 'nonce') {
    if (!item.nonce) throw new ConflictError(`session ${req.sessionId} has no nonce yet`);
    return { op: 'nonce', sessionId: req.sessionId, nonce: item.nonce };
  }
  if (req.op === 'heartbeat') {
    await deps.callbacks.heartbeat(item.attestToken);
    return { op: 'heartbeat', sessionId: req.sessionId };
  }
  const w = {
    sessionId: req.sessionId,
    user: item.user ?? null,
    policyVersion: item.policyVersion ?? null,
    instanceId: item.instanceId ?? null,
  };
  const unpinned = item.attestationUnpinned === 'true';
  if (req.evidenceType !== item.evidenceType) {
    const message = `profile ${item.profile} requires ${item.evidenceType} evidence; ${req.evidenceType} was presented`;
    await deps.callbacks.failure(item.attestToken, 'AttestationFailed', `WRONG_EVIDENCE_TYPE: ${message}`);
    await deps.audit([
      attestationEvent(w, 'fail', req.evidenceType, `WRONG_EVIDENCE_TYPE: ${message}`, {}, { unpinned }),
    ]);
    return {
      op: 'evidence',
      sessionId: req.sessionId,
      verdict: 'rejected',
      reason: 'WRONG_EVIDENCE_TYPE',
      message,
      sealedSecrets: null,
    };
  }
  if (!item.instanceId) throw new ConflictError(`session ${req.sessionId} has no instance recorded`);
  const stepInput: AttestationStepInput = {
    taskToken: item.attestToken,
    sessionId: req.sessionId,
    evidenceType: req.evidenceType,
    evidence: req.evidence,
    ...(req.certs ? { certs: req.certs } : {}),
    ...(req.nonce ? { nonce: req.nonce } : {}),
    ...(req.publicKey ? { publicKey: req.publicKey } : {}),
  };
  // Bytes that are not what they claim (base64, hex) are refused here, named and audited,
  // before any verifier sees them; the session keeps waiting for a well-formed attempt.
  const checked = AttestationStepInputSchema.safeParse(stepInput);
  if (!checked.success) {
    const issues = checked.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
    const named = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    await deps.audit([
      attestationEvent(w, 'fail', req.evidenceType, `MALFORMED: refused at the door: ${named}`, {}, { unpinned }),
    ]);
    throw new ValidationError(`invalid evidence request: ${named}`, issues);
  }
  const r = await runAttestationStep(
    stepInput,
    {
      // From the session table, never from the request.
      instanceId: item.instanceId,
      ...(item.attestationPolicy ? { policy: JSON.parse(item.attestationPolicy) } : {}),
      unpinned,
    },
    {
      nonceStore: deps.nonceStore,
      secrets: deps.secrets,
      callbacks: deps.callbacks,
      secretPrefix: deps.secretPrefix,
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.cache ? { cache: deps.cache } : {}),
      ...(deps.amdCerts ? { amdCerts: deps.amdCerts } : {}),
    },
  );
  const m = r.audit.detail;
  const measurements: Record<string, string> = {};
  if (m.measurement) measurements.measurement = m.measurement;
  if (m.moduleId) measurements.moduleId = m.moduleId;
  if (m.leafFingerprint) measurements.leafFingerprint = m.leafFingerprint;
  await deps.audit([
    attestationEvent(
      w,
      r.verdict === 'verified' ? 'pass' : 'fail',
      m.evidenceType,
      r.reason ? `${r.reason}: ${r.message}` : null,
      measurements,
      { unpinned },
    ),
  ]);
  return {
    op: 'evidence',
    sessionId: req.sessionId,
    verdict: r.verdict,
    reason: r.reason,
    message: r.message,
    sealedSecrets: r.sealedSecrets,
  };
}

/** A Lambda Function URL request, as far as this door reads it. */
export const FunctionUrlEvent = z.object({
  requestContext: z.object({
    http: z.object({ method: z.string() }),
    authorizer: z.object({ iam: z.object({ userArn: z.string(), accountId: z.string().optional() }) }).optional(),
  }),
  body: z.string().max(400_000).optional(),
  isBase64Encoded: z.boolean().optional(),
});
export type FunctionUrlEvent = z.output<typeof FunctionUrlEvent>;

/**
 * The calling instance, from the Function URL's IAM identity. EC2 instance-profile credentials
 * are role sessions named after the instance: `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/i-0123…`.
 * Only the session instances' role is accepted.
 */
export function callerFromUrlEvent(event: FunctionUrlEvent, instanceRoleName: string): { instanceId: string } {
  const arn = event.requestContext.authorizer?.iam.userArn;
  const m = arn ? /^arn:aws[a-z-]*:sts::\d{12}:assumed-role\/([^/]+)\/(i-[0-9a-f]{8,17})$/.exec(arn) : null;
  if (!m || m[1] !== instanceRoleName) {
    throw new ForbiddenError(`caller ${arn ?? '(unsigned)'} is not a session instance (role ${instanceRoleName})`);
  }
  return { instanceId: m[2]! };
}

/** The JSON body of a Function URL request. */
export function bodyOf(event: FunctionUrlEvent): unknown {
  if (event.requestContext.http.method !== 'POST') throw new ValidationError('use POST with a JSON body');
  const text = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('the request body is not JSON', [{ path: '(body)', message: 'invalid JSON' }]);
  }
}
