/**
 * `GET /v1/session`: what the control plane holds about the caller's session,
 * all from its own state: the session item (status, tier, cohort, profile,
 * expiry, the door's attestation verdict, the agent's last report), the scopes
 * granted to it and not expired (server time), the fleet flags in effect for
 * its cohort, and the policy bundle it was admitted under beside the one
 * active now (with where to fetch it).
 */
import type { Capability } from '../../sessions/tiers.ts';
import type { Binding } from './binding.ts';
import type { GrantedScope, SessionMarks } from './marks.ts';
import type { ActivePolicy } from './policy-pointer.ts';

export interface StateDeps {
  readonly marks: Pick<SessionMarks, 'scopes'>;
  readonly flags: { capabilities(cohort: string): Promise<Record<Capability, boolean>> };
  readonly policy: { active(): Promise<ActivePolicy> };
  /** Server time (scope expiry). */
  readonly now: () => Date;
}

export interface SessionState {
  readonly sessionId: string;
  readonly status: string;
  readonly tier: string | null;
  readonly cohort: string | null;
  readonly profile: string | null;
  readonly instanceId: string;
  readonly expiresAt: string | null;
  readonly attestation: {
    readonly status: 'not-started' | 'pending' | 'verified' | 'rejected';
    readonly evidenceType: string | null;
    readonly at: string | null;
    readonly unpinned: boolean;
  };
  readonly scopes: readonly GrantedScope[];
  readonly flags: Readonly<Record<Capability, boolean>>;
  readonly policy: { readonly admittedUnder: string | null; readonly active: ActivePolicy };
  readonly agent: { readonly lastSeenAt: string | null; readonly state: string | null };
}

export async function sessionState(b: Binding, deps: StateDeps): Promise<SessionState> {
  const s = b.session;
  const [scopes, flags, active] = await Promise.all([
    deps.marks.scopes(s.sessionId, deps.now()),
    deps.flags.capabilities(s.cohort ?? 'default'),
    deps.policy.active(),
  ]);
  const attestation = s.attestation ?? (s.status === 'attesting' ? 'pending' : 'not-started');
  return {
    sessionId: s.sessionId,
    status: s.status,
    tier: s.tier ?? null,
    cohort: s.cohort ?? null,
    profile: s.profile ?? null,
    instanceId: b.instanceId,
    expiresAt: s.expiresAt ?? null,
    attestation: {
      status: attestation,
      evidenceType: s.evidenceType ?? null,
      at: s.attestedAt ?? null,
      unpinned: s.attestationUnpinned === 'true',
    },
    scopes,
    flags,
    policy: { admittedUnder: s.policyVersion ?? null, active },
    agent: { lastSeenAt: s.lastSeenAt ?? null, state: s.agentState ?? null },
  };
}
