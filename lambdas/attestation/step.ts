/**
 * The session workflow's attestation step (a `.waitForTaskToken` task), run by the
 * guests' door (POST /v1/evidence, lambdas/doors/guest/attest.ts).
 *
 * verify evidence (against the session's policy, bound to the session's instance) →
 * consume the session's nonce → read the session's secrets and seal them to the
 * attested key → SendTaskSuccess; on any AttestationError →
 * SendTaskFailure(error 'AttestationFailed', cause '<REASON>: <message>').
 * Either way it returns a `security` audit event for the caller to publish.
 *
 * What the evidence is judged against (policy, instance) comes from the control
 * plane's records of the session, passed as a SessionBinding; the guest's request
 * carries only the evidence.
 *
 * The sealed secrets are returned to the caller (the guest's endpoint), never put
 * in the task output, so they do not land in the execution history.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { ConfigurationError } from '../shared/errors.ts';
import type { MetricSink } from '../shared/middleware.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { claimsToJson, decodeEvidence, EVIDENCE_TYPES, verifyEvidence } from './evidence.ts';
import type { AmdCertSource } from './kds-source.ts';
import type { NonceStore } from './nonce-store.ts';
import { type AttestationPolicyInput, AttestationPolicySchema } from './policy.ts';
import { AttestationError, type ReasonCode } from './reasons.ts';
import { importAttestedPublicKey, releaseSecrets, type SealedSecrets } from './release.ts';
import { SNP_REPORT_SIZE } from './snp.ts';
import { parseSnpAttestationPb } from './snp-protobuf.ts';
import type { ChainCache } from './x509.ts';

export const ATTESTATION_FAILED = 'AttestationFailed';
/** Documents older than this are rejected when the policy sets no maxAgeSeconds. */
export const DEFAULT_STEP_MAX_AGE_SECONDS = 300;

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
/** Standard base64 (whitespace ignored), non-empty, whole quanta: anything else is refused, not guessed at. */
function isBase64(s: string): boolean {
  const t = s.replace(/\s+/g, '');
  return t.length > 0 && t.length % 4 === 0 && B64_RE.test(t);
}
const b64 = (max: number) => z.string().max(max).refine(isBase64, 'must be base64');
const hex = z.string().regex(/^([0-9a-fA-F]{2})+$/, 'must be hex');

/** What the guest sends: the evidence and its binding material, nothing it is judged against. */
export const AttestationStepInputSchema = z.strictObject({
  taskToken: z.string().min(1).max(8192),
  sessionId: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'letters, digits, . _ - (1-128)'),
  evidenceType: z.enum(EVIDENCE_TYPES),
  /** base64 of the COSE_Sign1 document, the 1184-byte SNP report or a go-sev-guest Attestation protobuf. */
  evidence: b64(200_000),
  /** SEV-SNP: the VCEK/VLEK (PEM or base64 DER) and the AMD chain PEM (ASK or ASVK, then ARK). */
  certs: z
    .strictObject({ leaf: z.string().max(20_000).optional(), chain: z.string().max(40_000).optional() })
    .optional(),
  /** SEV-SNP: the nonce the guest hashed into report_data (hex). */
  nonce: hex.max(2048).optional(),
  /** SEV-SNP: the session public key (base64 SPKI DER) bound by report_data. Nitro uses the document's public_key. */
  publicKey: b64(8192).optional(),
});
export type AttestationStepInput = z.input<typeof AttestationStepInputSchema>;

/** The Step Functions callback, as an interface so the core runs without SFN. */
export interface TaskCallbacks {
  success(taskToken: string, output: Record<string, unknown>): Promise<void>;
  failure(taskToken: string, error: string, cause: string): Promise<void>;
}

export class SfnTaskCallbacks implements TaskCallbacks {
  readonly #sfn: SFNClient;
  constructor(sfn: SFNClient) {
    this.#sfn = sfn;
  }
  async success(taskToken: string, output: Record<string, unknown>): Promise<void> {
    await awsCall('SendTaskSuccess', () =>
      this.#sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) })),
    );
  }
  async failure(taskToken: string, error: string, cause: string): Promise<void> {
    // SFN limits cause to 32,768 characters.
    await awsCall('SendTaskFailure', () =>
      this.#sfn.send(new SendTaskFailureCommand({ taskToken, error, cause: cause.slice(0, 32_000) })),
    );
  }
}

export interface AttestationAuditEvent {
  readonly kind: 'security';
  readonly sessionId: string;
  readonly at: string;
  readonly detail: {
    readonly type: 'attestation_result';
    readonly verdict: 'verified' | 'rejected';
    readonly reason: ReasonCode | null;
    readonly message: string;
    readonly evidenceType: string;
    /** Nitro module_id, or null. */
    readonly moduleId: string | null;
    /** Nitro PCR0 or SNP measurement, when known. */
    readonly measurement: string | null;
    readonly leafFingerprint: string | null;
    /** The session's profile pins no measurement (allowed only by an explicit `unpinned: true`). */
    readonly unpinned: boolean;
  };
}

/** What the control plane recorded for the session (its table), never what the guest says. */
export interface SessionBinding {
  /** The session's instance: a Nitro document's module_id must name it. */
  readonly instanceId: string;
  /** The session profile's attestation policy (checked at synth). @default the default policy */
  readonly policy?: AttestationPolicyInput;
  /** The profile pins no measurement (said explicitly at synth); the audit event says so. */
  readonly unpinned?: boolean;
}

export interface StepResult {
  readonly verdict: 'verified' | 'rejected';
  readonly reason: ReasonCode | null;
  readonly message: string;
  readonly claims: Record<string, unknown> | null;
  /** Present only when verified. */
  readonly sealedSecrets: SealedSecrets | null;
  readonly audit: AttestationAuditEvent;
}

export interface StepDeps {
  readonly nonceStore: NonceStore;
  readonly secrets: SecretsManagerClient;
  readonly callbacks: TaskCallbacks;
  /** Secrets Manager name prefix; the session's secret is `${secretPrefix}${sessionId}`. */
  readonly secretPrefix: string;
  /** @default () => new Date() */
  readonly now?: () => Date;
  readonly cache?: ChainCache;
  /**
   * SEV-SNP evidence that arrives without its VCEK/VLEK or AMD chain takes them from here
   * (the deployment's AMD certificate cache, see kds-source.ts). Without it such evidence is rejected MALFORMED.
   */
  readonly amdCerts?: AmdCertSource;
  /** Operations metrics: AttestationVerified, AttestationRejected (in all and by reason code). */
  readonly metric?: MetricSink;
}

function pemOf(der: Uint8Array): Buffer {
  return Buffer.from(
    `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`,
  );
}

function fromB64(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'base64');
}

/** The policy a step applies: the session's, with the step's default age bound. */
function stepPolicy(policy: AttestationPolicyInput | undefined) {
  const r = AttestationPolicySchema.safeParse({
    ...policy,
    maxAgeSeconds: policy?.maxAgeSeconds ?? DEFAULT_STEP_MAX_AGE_SECONDS,
  });
  // Checked at synth: a bad stored policy is a deployment fault, not the guest's.
  if (!r.success) throw new ConfigurationError(`the session's attestation policy is invalid: ${r.error.message}`);
  return r.data;
}

/**
 * Runs the attestation step. A bad input is a ValidationError (naming the field);
 * non-attestation errors (throttling) propagate for retry.
 */
export async function runAttestationStep(
  raw: AttestationStepInput,
  binding: SessionBinding,
  deps: StepDeps,
): Promise<StepResult> {
  const input = parseOrThrow(AttestationStepInputSchema, raw, 'attestation step input');
  const at = (deps.now ?? (() => new Date()))();
  const parsedPolicy = stepPolicy(binding.policy);
  let claimsJson: Record<string, unknown> | null = null;
  let rejectedModuleId: string | null = null;
  const audit = (
    verdict: 'verified' | 'rejected',
    reason: ReasonCode | null,
    message: string,
  ): AttestationAuditEvent => ({
    kind: 'security',
    sessionId: input.sessionId,
    at: at.toISOString(),
    detail: {
      type: 'attestation_result',
      verdict,
      reason,
      message,
      evidenceType: input.evidenceType,
      moduleId: (claimsJson?.moduleId as string | undefined) ?? rejectedModuleId,
      measurement:
        (claimsJson?.measurement as string | undefined) ??
        (claimsJson?.pcrs as Record<string, string> | undefined)?.['0'] ??
        null,
      leafFingerprint: (claimsJson?.leafFingerprint as string | undefined) ?? null,
      unpinned: binding.unpinned === true,
    },
  });
  try {
    const evidence = decodeEvidence(fromB64(input.evidence), 'raw');
    const isSnp = input.evidenceType === 'sev-snp';
    const snpNonce = input.nonce ? Buffer.from(input.nonce, 'hex') : undefined;
    const snpKey = input.publicKey ? fromB64(input.publicKey) : undefined;
    if (isSnp && (!snpNonce || !snpKey))
      throw new AttestationError(
        'NONCE_MISMATCH',
        'an SEV-SNP attestation must carry the nonce and the session public key.',
      );
    const leaf = input.certs?.leaf;
    let leafCert: Uint8Array | undefined = leaf
      ? leaf.includes('-----BEGIN')
        ? Buffer.from(leaf)
        : fromB64(leaf)
      : undefined;
    let chain: Uint8Array | undefined = input.certs?.chain ? Buffer.from(input.certs.chain) : undefined;
    if (isSnp && deps.amdCerts && (!leafCert || !chain)) {
      // A bare report (or a protobuf without certificates): the certificates come from the cache.
      let report = evidence;
      if (evidence.length !== SNP_REPORT_SIZE) {
        const pb = parseSnpAttestationPb(evidence);
        report = pb.report;
        leafCert ??= pb.vlekCert ?? pb.vcekCert;
        if (pb.askCert && pb.arkCert) chain ??= Buffer.concat([pemOf(pb.askCert), pemOf(pb.arkCert)]);
      }
      if (!leafCert || !chain) {
        const got = await deps.amdCerts.certsFor(report, leafCert ? { leaf: leafCert } : {});
        leafCert = got.leaf;
        chain ??= got.chain;
      }
    }
    const claims = verifyEvidence({
      type: input.evidenceType,
      evidence,
      at,
      policy: parsedPolicy,
      instanceId: binding.instanceId,
      ...(isSnp ? { nonce: snpNonce, sessionPublicKey: snpKey } : {}),
      ...(leafCert ? { leafCert } : {}),
      ...(chain ? { chain } : {}),
      ...(deps.cache ? { cache: deps.cache } : {}),
    });
    claimsJson = claimsToJson(claims);
    const recipientBytes = claims.type === 'sev-snp' ? snpKey : claims.publicKey;
    const recipient = importAttestedPublicKey(recipientBytes);
    const nonce = claims.type === 'sev-snp' ? snpNonce : claims.nonce;
    if (!nonce) throw new AttestationError('NONCE_MISMATCH', 'the document has no nonce.');
    await deps.nonceStore.consume(nonce, input.sessionId);
    const sealedSecrets = await releaseSecrets(deps.secrets, {
      secretPrefix: deps.secretPrefix,
      sessionId: input.sessionId,
      recipient,
    });
    const message = 'The evidence verified; secrets released to the attested key.';
    deps.metric?.('AttestationVerified', MetricUnit.Count, 1, { EvidenceType: input.evidenceType });
    deps.metric?.('AttestationVerified', MetricUnit.Count, 1);
    await deps.callbacks.success(input.taskToken, {
      sessionId: input.sessionId,
      verdict: 'verified',
      evidenceType: input.evidenceType,
      claims: claimsJson,
      secretScheme: sealedSecrets.scheme,
    });
    return {
      verdict: 'verified',
      reason: null,
      message,
      claims: claimsJson,
      sealedSecrets,
      audit: audit('verified', null, message),
    };
  } catch (e) {
    if (!(e instanceof AttestationError)) throw e;
    if (typeof e.details.moduleId === 'string') rejectedModuleId = e.details.moduleId;
    await deps.callbacks.failure(input.taskToken, ATTESTATION_FAILED, `${e.reason}: ${e.message}`);
    // In all (the rejection-rate alarm's numerator) and by reason code (the dashboard).
    deps.metric?.('AttestationRejected', MetricUnit.Count, 1);
    deps.metric?.('AttestationRejected', MetricUnit.Count, 1, { Reason: e.reason });
    return {
      verdict: 'rejected',
      reason: e.reason,
      message: e.message,
      claims: claimsJson,
      sealedSecrets: null,
      audit: audit('rejected', e.reason, e.message),
    };
  }
}
