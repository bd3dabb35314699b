/**
 * Admission core: the steps the plugin admission workflow runs as Lambda tasks.
 *
 *   verifyStaged     artifact + bundle from the staging bucket → Sigstore verification
 *                    → trust policy → {verdict, reason, facts, needsApproval, decision}
 *   recordAdmission  (after approval, when asked for) → registry item + decision event
 *   revokePlugin     version or publisher → registry + PolicyViolation events for the
 *                    sessions the caller names as having run it
 *
 * A refusal is a result (`verdict: 'reject'` with a reason code), not an exception, so
 * the workflow writes the decision event either way; only infrastructure failures throw.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { type AuditEventOf, newEvent } from '../audit/schema.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { ForbiddenError, NotFoundError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { PluginVerificationError, type ReasonCode } from './errors.ts';
import { evaluatePolicy, type PolicyDecision, type TrustPolicy } from './policy.ts';
import { PluginId, type PluginRecord, type PluginRegistry, PluginVersion, type PublisherRecord } from './registry.ts';
import { bundlesOf, type PluginVerifier, type VerifiedBundle } from './verify.ts';

export const AUDIT_SOURCE = 'aidops.plugins';

const S3Key = z.string().min(1).max(1024);
export const VerifyStagedInput = z.strictObject({
  bucket: z.string().min(3).max(63),
  key: S3Key,
  bundleKey: S3Key,
  pluginId: PluginId,
  version: PluginVersion,
  /** Who asked for the admission (recorded in the decision event). @default 'admission-workflow' */
  requestedBy: z.string().min(1).max(256).default('admission-workflow'),
});
export type VerifyStagedInput = z.input<typeof VerifyStagedInput>;

/** Everything recordAdmission needs; produced by verifyStaged, carried by the workflow. */
export const AdmissionFacts = z.strictObject({
  pluginId: PluginId,
  version: PluginVersion,
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  otherDigests: z.record(z.string(), z.string()),
  publisher: z.string().min(1),
  signer: z.record(z.string(), z.unknown()),
  provenance: z.record(z.string(), z.unknown()).nullable(),
  slsaBuildLevel: z.number().int().min(0).max(3),
  signedAt: z.string(),
  bundles: z.array(
    z.strictObject({ mediaType: z.string(), content: z.string(), predicateType: z.string().nullable() }),
  ),
});
export type AdmissionFacts = z.output<typeof AdmissionFacts>;

export type DecisionEvent = AuditEventOf<'decision'>;
export type ViolationEvent = AuditEventOf<'security'>;

export interface VerifyStagedResult {
  readonly verdict: 'admit' | 'reject';
  readonly reason: ReasonCode | null;
  readonly message: string;
  readonly facts: AdmissionFacts | null;
  readonly needsApproval: boolean;
  readonly decision: DecisionEvent;
}

export interface AdmissionDeps {
  readonly s3: S3Client;
  readonly verifier: PluginVerifier;
  readonly policy: TrustPolicy;
  readonly registry: PluginRegistry;
  /** Policy version string recorded in events. @default null */
  readonly policyVersion?: string | null;
  readonly now?: () => Date;
}

function inputDigest(v: unknown): string {
  return createHash('sha256').update(JSON.stringify(v)).digest('hex');
}

export function decisionEvent(args: {
  action: string;
  resource: string;
  outcome: 'allow' | 'deny';
  reasons: string[];
  input: unknown;
  by: string;
  time: Date;
  policyVersion?: string | null | undefined;
}): DecisionEvent {
  return newEvent('decision', {
    source: AUDIT_SOURCE,
    time: args.time,
    user: { id: args.by, type: args.by.includes('workflow') ? 'service' : 'human' },
    policyVersion: args.policyVersion ?? null,
    detail: {
      engine: 'guard',
      inputDigest: inputDigest(args.input),
      action: args.action,
      resource: args.resource,
      outcome: args.outcome,
      reasons: args.reasons.map((r) => r.slice(0, 1024)),
    },
  });
}

async function readObject(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  try {
    const r = await awsCall('s3:GetObject', () => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
    return Buffer.from((await r.Body?.transformToByteArray()) ?? new Uint8Array());
  } catch (e) {
    if ((e as { name?: string }).name === 'NoSuchKey')
      throw new NotFoundError(`s3://${bucket}/${key} does not exist`, { bucket, key });
    throw e;
  }
}

/** Verifies every bundle in the bundle file and evaluates the policy over them (pure, no I/O). */
export function checkArtifact(
  verifier: PluginVerifier,
  policy: TrustPolicy,
  artifact: Buffer,
  bundleFile: Buffer | unknown,
): { verified: VerifiedBundle[]; decision: PolicyDecision } {
  const verified = bundlesOf(bundleFile).map((b) => verifier.verify(b, { bytes: artifact }));
  return { verified, decision: evaluatePolicy(policy, verified) };
}

export async function verifyStaged(deps: AdmissionDeps, raw: VerifyStagedInput): Promise<VerifyStagedResult> {
  const input = parseOrThrow(VerifyStagedInput, raw, 'verify-staged input');
  const now = deps.now?.() ?? new Date();
  const resource = `plugin:${input.pluginId}@${input.version}`;
  const [artifact, bundleFile] = await Promise.all([
    readObject(deps.s3, input.bucket, input.key),
    readObject(deps.s3, input.bucket, input.bundleKey),
  ]);
  const sha256 = createHash('sha256').update(artifact).digest('hex');
  const auditInput = { ...input, artifactSha256: sha256 };
  const reject = (reason: ReasonCode, message: string): VerifyStagedResult => ({
    verdict: 'reject',
    reason,
    message,
    facts: null,
    needsApproval: false,
    decision: decisionEvent({
      action: 'plugin_admit',
      resource,
      outcome: 'deny',
      reasons: [reason, message],
      input: auditInput,
      by: input.requestedBy,
      time: now,
      policyVersion: deps.policyVersion,
    }),
  });

  let verified: VerifiedBundle[];
  let pd: PolicyDecision;
  try {
    ({ verified, decision: pd } = checkArtifact(deps.verifier, deps.policy, artifact, bundleFile));
  } catch (e) {
    if (e instanceof PluginVerificationError) return reject(e.reason, e.message);
    throw e;
  }

  const [existing, publisher] = await Promise.all([
    deps.registry.get(input.pluginId, input.version),
    deps.registry.getPublisher(pd.publisher),
  ]);
  if (publisher?.revoked) return reject('PUBLISHER_REVOKED', `publisher ${pd.publisher} is revoked`);
  if (existing?.status === 'revoked') return reject('VERSION_REVOKED', `${input.pluginId}@${input.version} is revoked`);
  if (existing && existing.digest !== `sha256:${sha256}`)
    return reject('DIGEST_MISMATCH', `${input.pluginId}@${input.version} is already admitted with another digest`);

  const needsApproval = deps.policy.newPublisherNeedsApproval && !publisher;
  const facts: AdmissionFacts = {
    pluginId: input.pluginId,
    version: input.version,
    digest: `sha256:${sha256}`,
    otherDigests: { sha512: createHash('sha512').update(artifact).digest('hex') },
    publisher: pd.publisher,
    signer: { ...pd.signer },
    provenance: pd.provenance ? { ...pd.provenance, subjects: undefined } : null,
    slsaBuildLevel: pd.slsaBuildLevel,
    signedAt: verified[0]?.signedAt ?? '',
    bundles: verified.map((v) => ({
      mediaType: v.mediaType,
      content: v.content,
      predicateType: v.statement?.predicateType ?? null,
    })),
  };
  // JSON round trip drops the undefined field, so the workflow payload equals what is stored.
  const clean = JSON.parse(JSON.stringify(facts)) as AdmissionFacts;
  return {
    verdict: 'admit',
    reason: null,
    message: needsApproval ? `verified; new publisher ${pd.publisher} needs approval` : 'verified',
    facts: clean,
    needsApproval,
    decision: decisionEvent({
      action: 'plugin_verify',
      resource,
      outcome: 'allow',
      reasons: needsApproval ? ['VERIFIED', 'NEEDS_APPROVAL'] : ['VERIFIED'],
      input: auditInput,
      by: input.requestedBy,
      time: now,
      policyVersion: deps.policyVersion,
    }),
  };
}

export const RecordAdmissionInput = z.strictObject({
  facts: AdmissionFacts,
  admittedBy: z.string().min(1).max(256),
  /** Required when the publisher is new and the policy asks for approval. */
  approvedBy: z.string().min(1).max(256).nullable().default(null),
});
export type RecordAdmissionInput = z.input<typeof RecordAdmissionInput>;

export async function recordAdmission(
  deps: Pick<AdmissionDeps, 'registry' | 'policy' | 'policyVersion' | 'now'>,
  raw: RecordAdmissionInput,
): Promise<{ record: PluginRecord; decision: DecisionEvent }> {
  const input = parseOrThrow(RecordAdmissionInput, raw, 'record-admission input');
  const f = input.facts;
  const now = deps.now?.() ?? new Date();
  // Re-checked here, not trusted from the earlier step's output: approval cannot be skipped.
  const known = await deps.registry.getPublisher(f.publisher);
  if (deps.policy.newPublisherNeedsApproval && !known && !input.approvedBy)
    throw new ForbiddenError(`publisher ${f.publisher} is new and the policy requires an approval`, {
      publisher: f.publisher,
    });
  const record = await deps.registry.admit({
    pluginId: f.pluginId,
    version: f.version,
    digest: f.digest,
    otherDigests: f.otherDigests,
    publisher: f.publisher,
    signer: f.signer,
    provenance: f.provenance,
    slsaBuildLevel: f.slsaBuildLevel,
    admittedBy: input.admittedBy,
    approvedBy: input.approvedBy,
    admittedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + deps.policy.admissionTtlDays * 86_400_000).toISOString(),
  });
  const decision = decisionEvent({
    action: 'plugin_admit',
    resource: `plugin:${f.pluginId}@${f.version}`,
    outcome: 'allow',
    reasons: [
      'ADMITTED',
      `digest ${f.digest}`,
      `publisher ${f.publisher}`,
      ...(input.approvedBy ? [`approved by ${input.approvedBy}`] : []),
    ],
    input: input,
    by: input.admittedBy,
    time: now,
    policyVersion: deps.policyVersion,
  });
  return { record, decision };
}

export const RevokeInput = z
  .strictObject({
    pluginId: PluginId.optional(),
    version: PluginVersion.optional(),
    publisher: z.string().min(1).optional(),
    by: z.string().min(1).max(256),
    reason: z.string().min(1).max(1024),
    /** Sessions that ran the revoked plugin (from the caller's session index / audit query). */
    sessionIds: z
      .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/))
      .max(10_000)
      .default([]),
  })
  .refine((r) => (r.publisher !== undefined) !== (r.pluginId !== undefined && r.version !== undefined), {
    message: 'give either pluginId and version, or publisher',
  });
export type RevokeInput = z.input<typeof RevokeInput>;

export interface RevokeResult {
  readonly revoked: { readonly versions: PluginRecord[]; readonly publisher: PublisherRecord | null };
  readonly violations: ViolationEvent[];
  readonly decision: DecisionEvent;
}

export async function revokePlugin(
  deps: Pick<AdmissionDeps, 'registry' | 'policyVersion' | 'now'>,
  raw: RevokeInput,
): Promise<RevokeResult> {
  const input = parseOrThrow(RevokeInput, raw, 'revoke input');
  const now = deps.now?.() ?? new Date();
  let versions: PluginRecord[];
  let publisher: PublisherRecord | null = null;
  let what: string;
  if (input.publisher) {
    publisher = await deps.registry.revokePublisher(input.publisher, input.by, input.reason, now);
    versions = await deps.registry.listByPublisher(input.publisher);
    what = `publisher ${input.publisher}`;
  } else {
    versions = [
      await deps.registry.revokeVersion(input.pluginId as string, input.version as string, input.by, input.reason, now),
    ];
    what = `${input.pluginId}@${input.version}`;
  }
  const violations = input.sessionIds.map((sessionId) =>
    newEvent('security', {
      source: AUDIT_SOURCE,
      time: now,
      sessionId,
      policyVersion: deps.policyVersion ?? null,
      detail: {
        type: 'policy_violation',
        rule: 'plugin_revoked',
        severity: 'high',
        description: `session ran ${what}, revoked by ${input.by}: ${input.reason}`.slice(0, 65_536),
      },
    }),
  );
  const decision = decisionEvent({
    action: 'plugin_revoke',
    resource: input.publisher ? `publisher:${input.publisher}` : `plugin:${input.pluginId}@${input.version}`,
    outcome: 'deny',
    reasons: ['REVOKED', input.reason],
    input,
    by: input.by,
    time: now,
    policyVersion: deps.policyVersion,
  });
  return { revoked: { versions, publisher }, violations, decision };
}
