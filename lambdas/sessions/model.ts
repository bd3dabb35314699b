/**
 * Session request, the runtime view of the tier/profile config the admit
 * function receives, the session context every later step carries, and the
 * session-specific errors (literal names: the workflow's Catch matches them).
 */
import * as z from 'zod';
import { AidopsError } from '../shared/errors.ts';
import { SessionId } from '../shared/ids.ts';
import { CAPABILITIES, TIERS } from './tiers.ts';

export const AUDIT_SOURCE = 'aidops.sessions';
/** The session workflow as audit events label it (`stateMachine`); its physical name is in lambdas/shared/names.ts. */
export const SESSION_MACHINE = 'aidops-session';

/** Session table `status`; the first four are "in flight" (a restart may take them over). */
export const IN_FLIGHT = ['admitted', 'launching', 'booting', 'attesting'] as const;
export const LIVE = [...IN_FLIGHT, 'active', 'ending'] as const;
export const STATUSES = [...LIVE, 'ended', 'failed', 'tombstoned'] as const;
export type SessionStatus = (typeof STATUSES)[number];

/** What a person (CLI, console) puts in the StartExecution input. */
export const SessionRequest = z.strictObject({
  /** @default the execution name */
  sessionId: SessionId.optional(),
  user: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[A-Za-z0-9@._+:=,/-]+$/, 'a principal id (letters, digits, @ . _ + : = , / -)'),
  cohort: z.string().min(1).max(64).default('default'),
  useCase: z.string().min(1).max(64),
  tier: z.enum(TIERS).optional(),
  /** "2h", "30m", "1h30m" or seconds. @default the configured default TTL */
  ttl: z.union([z.string().max(32), z.number().int()]).optional(),
  instanceType: z.string().max(64).optional(),
  image: z.string().max(1100).optional(),
  /** Secrets this session needs. @default every secret its profile allows */
  secrets: z.array(z.string().max(512)).max(20).optional(),
  /** Capabilities the session asks for; each must be allowed by the fleet flags. */
  capabilities: z.array(z.enum(CAPABILITIES)).max(CAPABILITIES.length).default([]),
});
export type SessionRequest = z.input<typeof SessionRequest>;

/** The per-profile facts the admit function needs at run time (from the synthesized config). */
export const RuntimeProfile = z.object({
  isolation: z.enum(['sev-snp', 'nitro-enclave', 'standard']),
  evidenceType: z.enum(['sev-snp', 'nitro-enclave', 'nitrotpm']),
  images: z.array(z.string()).min(1),
  instanceTypes: z.array(z.string()).min(1),
  maxTtlSeconds: z.number().int(),
  secrets: z.array(z.string()),
  memoryEvidence: z.boolean(),
  attestationPolicy: z.record(z.string(), z.unknown()).optional(),
  /** The profile pins no measurement (said explicitly at synth); its sessions' attestation events say so. */
  unpinned: z.boolean().default(false),
  launchTemplateId: z.string(),
  securityGroupId: z.string(),
});
export const RuntimeConfig = z.object({
  profiles: z.record(z.string(), RuntimeProfile),
  tiers: z.object({ low: z.string(), medium: z.string(), high: z.string() }),
  useCases: z.record(z.string(), z.object({ tier: z.enum(TIERS) })),
  cohorts: z.array(z.string()),
  minTtlSeconds: z.number().int(),
  defaultTtlSeconds: z.number().int(),
});
export type RuntimeConfig = z.output<typeof RuntimeConfig>;

/** Carried from state to state as `$.session`. No secret values, ever (it lands in execution history). */
export const SessionContext = z.object({
  sessionId: SessionId,
  executionArn: z.string(),
  user: z.string(),
  cohort: z.string(),
  useCase: z.string(),
  tier: z.enum(TIERS),
  profile: z.string(),
  isolation: z.enum(['sev-snp', 'nitro-enclave', 'standard']),
  evidenceType: z.enum(['sev-snp', 'nitro-enclave', 'nitrotpm']),
  instanceType: z.string(),
  imageRef: z.string(),
  launchTemplateId: z.string(),
  securityGroupId: z.string(),
  ttlSeconds: z.number().int(),
  requestedAt: z.string(),
  expiresAt: z.string(),
  secrets: z.array(z.string()),
  capabilities: z.array(z.string()),
  policyVersion: z.string(),
  memoryEvidence: z.boolean(),
});
export type SessionContext = z.output<typeof SessionContext>;

/** Admission refused the request (flag off, tier or TTL not allowed): nothing was launched. */
export class AdmissionDeniedError extends AidopsError {
  override name = 'AdmissionDeniedError' as const;
}
/** The instance did not reach `running` (terminated, or still pending after the bounded polls). */
export class LaunchFailedError extends AidopsError {
  override name = 'LaunchFailedError' as const;
}

export const SessionErrorNames = {
  AdmissionDenied: 'AdmissionDeniedError',
  LaunchFailed: 'LaunchFailedError',
} as const;

export const hash32 = (s: string): number => {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
};
