/**
 * The door's attestation routes. `POST /v1/nonce` issues a fresh single-use
 * nonce to the caller's session while it waits for attestation. `POST
 * /v1/evidence` checks the evidence is of the kind the session's profile
 * produces (a high-tier session must present SEV-SNP, never a Nitro document)
 * and that its bytes are what they claim to be (base64, hex), runs the
 * attestation step (verify → consume nonce → seal secrets →
 * SendTaskSuccess/Failure) against what the session table says (the profile's
 * policy, the session's instance), records and audits the verdict, and answers
 * with the secrets sealed to the attested key. Everything the evidence is
 * judged against comes from the session table, never from the request.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import type { AmdCertSource } from '../../attestation/kds-source.ts';
import type { NonceStore } from '../../attestation/nonce-store.ts';
import {
  type AttestationStepInput,
  AttestationStepInputSchema,
  runAttestationStep,
  type TaskCallbacks,
} from '../../attestation/step.ts';
import type { ChainCache } from '../../attestation/x509.ts';
import { type AuditSink, attestationEvent, type Who } from '../../sessions/audit.ts';
import { ConflictError, ValidationError } from '../../shared/errors.ts';
import type { MetricSink } from '../../shared/middleware.ts';
import { formatPath } from '../../shared/validation.ts';
import type { Binding } from './binding.ts';
import type { SessionMarks } from './marks.ts';

export const EvidenceBody = z.strictObject({
  evidenceType: z.enum(['nitro-enclave', 'nitrotpm', 'sev-snp']),
  evidence: z.string().max(200_000),
  certs: z
    .strictObject({ leaf: z.string().max(20_000).optional(), chain: z.string().max(40_000).optional() })
    .optional(),
  nonce: z.string().max(2048).optional(),
  publicKey: z.string().max(8192).optional(),
});
export type EvidenceBody = z.output<typeof EvidenceBody>;
/** The evidence body's fields at their limits, with room for JSON. */
export const MAX_EVIDENCE_BYTES = 300_000;

export interface HeartbeatSender {
  heartbeat(taskToken: string): Promise<void>;
}

export interface AttestDeps {
  readonly nonceStore: NonceStore;
  readonly secrets: SecretsManagerClient;
  readonly callbacks: TaskCallbacks & HeartbeatSender;
  readonly audit: AuditSink;
  readonly marks: SessionMarks;
  readonly secretPrefix: string;
  /** How long an issued nonce lives (the attestation budget). */
  readonly nonceTtlSeconds: number;
  /** The verification clock: certificates in evidence expire within hours of it being made. */
  readonly now: () => Date;
  readonly cache?: ChainCache;
  /** SEV-SNP evidence without its AMD chain takes it from the deployment's verified cache. */
  readonly amdCerts?: AmdCertSource;
  /** Operations metrics from the attestation step. */
  readonly metric?: MetricSink;
}

export interface EvidenceResult {
  readonly sessionId: string;
  readonly verdict: 'verified' | 'rejected';
  readonly reason: string | null;
  readonly message: string;
  /** Sealed to the attested key: only the attested guest can open it. */
  readonly sealedSecrets: unknown;
}

export const who = (b: Binding): Who => ({
  sessionId: b.session.sessionId,
  user: b.session.user ?? null,
  policyVersion: b.session.policyVersion ?? null,
  instanceId: b.instanceId,
});

/** The attestation callback token, when the session is waiting for attestation. */
function waitingToken(b: Binding): string {
  const s = b.session;
  if (s.status !== 'attesting' || !s.attestToken)
    throw new ConflictError(`session ${s.sessionId} is ${s.status}, not waiting for attestation`, {
      status: s.status,
    });
  return s.attestToken;
}

export async function issueNonce(
  b: Binding,
  deps: Pick<AttestDeps, 'nonceStore' | 'nonceTtlSeconds' | 'now'>,
): Promise<{ sessionId: string; nonce: string; expiresAt: string }> {
  waitingToken(b);
  const nonce = await deps.nonceStore.issue(b.session.sessionId, { ttlSeconds: deps.nonceTtlSeconds });
  return {
    sessionId: b.session.sessionId,
    nonce: Buffer.from(nonce).toString('hex'),
    expiresAt: new Date(deps.now().getTime() + deps.nonceTtlSeconds * 1000).toISOString(),
  };
}

export async function presentEvidence(b: Binding, req: EvidenceBody, deps: AttestDeps): Promise<EvidenceResult> {
  const item = b.session;
  const taskToken = waitingToken(b);
  const sessionId = item.sessionId;
  const w = who(b);
  const unpinned = item.attestationUnpinned === 'true';
  const rejected = async (reason: string, message: string): Promise<EvidenceResult> => {
    await deps.callbacks.failure(taskToken, 'AttestationFailed', `${reason}: ${message}`);
    await deps.marks.attested(sessionId, 'rejected', new Date());
    await deps.audit([attestationEvent(w, 'fail', req.evidenceType, `${reason}: ${message}`, {}, { unpinned })]);
    return { sessionId, verdict: 'rejected', reason, message, sealedSecrets: null };
  };
  if (req.evidenceType !== item.evidenceType)
    return await rejected(
      'WRONG_EVIDENCE_TYPE',
      `profile ${item.profile} requires ${item.evidenceType} evidence; ${req.evidenceType} was presented`,
    );
  const stepInput: AttestationStepInput = {
    taskToken,
    sessionId,
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
    throw new ValidationError(`invalid evidence: ${named}`, issues);
  }
  const r = await runAttestationStep(
    stepInput,
    {
      // From the session table (and the platform's word on the caller), never from the request.
      instanceId: b.instanceId,
      ...(item.attestationPolicy ? { policy: JSON.parse(item.attestationPolicy) } : {}),
      unpinned,
    },
    {
      nonceStore: deps.nonceStore,
      secrets: deps.secrets,
      callbacks: deps.callbacks,
      secretPrefix: deps.secretPrefix,
      now: deps.now,
      ...(deps.cache ? { cache: deps.cache } : {}),
      ...(deps.amdCerts ? { amdCerts: deps.amdCerts } : {}),
      ...(deps.metric ? { metric: deps.metric } : {}),
    },
  );
  await deps.marks.attested(sessionId, r.verdict, new Date());
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
  return { sessionId, verdict: r.verdict, reason: r.reason, message: r.message, sealedSecrets: r.sealedSecrets };
}
