/**
 * Validate and admit a session request: user, cohort, use case, tier, TTL,
 * instance type, image and secrets against the profile; then the fleet flags.
 * A refusal is audited (decision: deny, with every reason) and thrown, so the
 * workflow ends before anything is launched.
 */

import { stepEvent } from '../audit/step-event.ts';
import { ValidationError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { type AuditSink, decisionEvent, lifecycleEvent, sessionStep } from './audit.ts';
import type { FlagReader } from './flags.ts';
import { AdmissionDeniedError, type RuntimeConfig, type SessionContext, SessionRequest } from './model.ts';
import type { SessionTable } from './table.ts';
import { parseTtl, TIER_RANK, type Tier } from './tiers.ts';

export interface AdmitInput {
  readonly request: unknown;
  /** The execution name: the session id when the request names none. */
  readonly requestId: string;
  readonly executionArn: string;
}

export interface AdmitDeps {
  readonly config: RuntimeConfig;
  readonly flags: FlagReader;
  readonly table: SessionTable;
  readonly audit: AuditSink;
  /** The active policy version (tags and audit events carry it). */
  readonly policyVersion: () => Promise<string>;
  readonly now?: () => Date;
}

function fmt(s: number): string {
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

export async function admit(input: AdmitInput, deps: AdmitDeps): Promise<SessionContext> {
  const now = (deps.now ?? (() => new Date()))();
  const c = deps.config;
  let req: ReturnType<typeof SessionRequest.parse>;
  try {
    req = parseOrThrow(SessionRequest, input.request, 'session request');
  } catch (e) {
    await deps.audit([
      decisionEvent({ sessionId: null }, input.request, 'session.admit', input.requestId, 'deny', [
        (e as Error).message,
      ]),
    ]);
    throw e;
  }
  const sessionId = req.sessionId ?? input.requestId;
  const who = { sessionId, user: req.user };
  const reasons: string[] = [];
  const useCase = c.useCases[req.useCase];
  if (!useCase) reasons.push(`unknown use case "${req.useCase}"; known: ${Object.keys(c.useCases).sort().join(', ')}`);
  if (!c.cohorts.includes(req.cohort))
    reasons.push(`unknown cohort "${req.cohort}"; known: ${[...c.cohorts].sort().join(', ')}`);
  const tier: Tier = req.tier ?? useCase?.tier ?? 'high';
  if (useCase && TIER_RANK[tier] < TIER_RANK[useCase.tier])
    reasons.push(`use case "${req.useCase}" needs tier ${useCase.tier} or stronger; ${tier} was requested`);
  const profileName = c.tiers[tier];
  const profile = c.profiles[profileName];
  if (!profile) throw new ValidationError(`tier ${tier} maps to profile ${profileName}, which is not configured`);
  const ttlSeconds = req.ttl === undefined ? c.defaultTtlSeconds : parseTtl(req.ttl);
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
    reasons.push(`ttl "${String(req.ttl)}" is not a duration (e.g. 90m, 2h, 1h30m)`);
  else if (ttlSeconds > profile.maxTtlSeconds)
    reasons.push(
      `ttl ${fmt(ttlSeconds)} exceeds the ${tier} tier's maximum of ${fmt(profile.maxTtlSeconds)} (profile ${profileName})`,
    );
  else if (ttlSeconds < c.minTtlSeconds)
    reasons.push(`ttl ${fmt(ttlSeconds)} is below the minimum ${fmt(c.minTtlSeconds)}`);
  const instanceType = req.instanceType ?? profile.instanceTypes[0]!;
  if (!profile.instanceTypes.includes(instanceType))
    reasons.push(
      `instance type ${instanceType} is not allowed for profile ${profileName}: ${profile.instanceTypes.join(', ')}`,
    );
  const imageRef = req.image ?? profile.images[0]!;
  if (!profile.images.includes(imageRef)) reasons.push(`image ${imageRef} is not allowed for profile ${profileName}`);
  const secrets = req.secrets ?? profile.secrets;
  for (const s of secrets)
    if (!profile.secrets.includes(s))
      reasons.push(`secret ${s} may not be given to ${tier} sessions (profile ${profileName})`);
  if (req.capabilities.includes('memory-evidence') && !profile.memoryEvidence)
    reasons.push(`profile ${profileName} does not allow memory evidence`);

  // Flags last: a malformed request is reported as such even while a flag is off.
  const flags = await deps.flags.capabilities(req.cohort);
  if (!flags['new-sessions'])
    reasons.push(`new sessions are switched off for cohort ${req.cohort} (flag new-sessions)`);
  if (!flags[`tier-${tier}`])
    reasons.push(`${tier}-tier sessions are switched off for cohort ${req.cohort} (flag tier-${tier})`);
  for (const cap of req.capabilities)
    if (!flags[cap]) reasons.push(`capability ${cap} is switched off for cohort ${req.cohort} (flag ${cap})`);

  const policyVersion = await deps.policyVersion();
  if (reasons.length > 0) {
    await deps.audit([decisionEvent({ ...who, policyVersion }, req, 'session.admit', sessionId, 'deny', reasons)]);
    throw new AdmissionDeniedError(`session ${sessionId} refused: ${reasons.join('; ')}`, { sessionId, reasons });
  }
  const session: SessionContext = {
    sessionId,
    executionArn: input.executionArn,
    user: req.user,
    cohort: req.cohort,
    useCase: req.useCase,
    tier,
    profile: profileName,
    isolation: profile.isolation,
    evidenceType: profile.evidenceType,
    instanceType,
    imageRef,
    launchTemplateId: profile.launchTemplateId,
    securityGroupId: profile.securityGroupId,
    ttlSeconds,
    requestedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
    secrets,
    // Capabilities the flags allow at admission; the guest agent enforces them.
    capabilities: req.capabilities,
    policyVersion,
    memoryEvidence: profile.memoryEvidence,
  };
  await deps.table.admit(session, { policy: profile.attestationPolicy, unpinned: profile.unpinned }, now);
  await deps.audit([
    decisionEvent({ ...who, policyVersion }, req, 'session.admit', sessionId, 'allow', [
      `tier ${tier} → profile ${profileName} (${profile.isolation})`,
      `ttl ${fmt(ttlSeconds)} ≤ ${fmt(profile.maxTtlSeconds)}`,
    ]),
    lifecycleEvent({ ...who, policyVersion }, 'provisioning', `admitted: ${req.useCase} as ${tier}`),
    stepEvent(sessionStep({ ...who, policyVersion }, input.executionArn), 'admit', 'succeeded'),
  ]);
  return session;
}
