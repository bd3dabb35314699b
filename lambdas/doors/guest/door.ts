/**
 * The guests' door: one request from API Gateway (a private REST API, AWS_IAM
 * on every method, a resource policy that admits only the session VPC's
 * endpoint and the session instance role) to an answer. In order: the route;
 * the caller (the instance, from the platform's identity); its session (from
 * the session table, by instance); its own request limit; the body, checked
 * with zod; the route itself. Refusals of who is calling are 403 and audited;
 * every route that changes something audits it.
 */
import { newEvent } from '../../audit/schema.ts';
import { bounded } from '../../audit/step-event.ts';
import { type AuditSink, digestOf } from '../../sessions/audit.ts';
import type { SessionTable } from '../../sessions/table.ts';
import { ForbiddenError, NotFoundError } from '../../shared/errors.ts';
import { SessionId } from '../../shared/ids.ts';
import { parseOrThrow } from '../../shared/validation.ts';
import { type AttestDeps, EvidenceBody, issueNonce, MAX_EVIDENCE_BYTES, presentEvidence } from './attest.ts';
import { type Binding, bindCaller, instanceOf } from './binding.ts';
import { HeartbeatBody, heartbeat } from './heartbeat.ts';
import { type DoorEvent, type DoorReply, jsonBody, ok, refusal, TooManyRequestsError } from './http.ts';
import type { CallerLimit, SessionMarks } from './marks.ts';
import { ApprovalRequest, type RequestStore } from './requests.ts';
import { type StateDeps, sessionState } from './state.ts';
import { acceptTelemetry, TelemetryBatch } from './telemetry.ts';

export const DOOR_SOURCE = 'aidops.doors.guest';

export interface GuestDoorDeps extends Omit<AttestDeps, 'now'>, Omit<StateDeps, 'marks' | 'now'> {
  readonly table: SessionTable;
  readonly marks: SessionMarks;
  readonly requests: RequestStore;
  readonly audit: AuditSink;
  /** The instance roles whose sessions may call (their names). */
  readonly roleNames: readonly string[];
  readonly callerLimit: CallerLimit;
  /** Server time: limits, scope expiry, records. @default now */
  readonly now?: () => Date;
  /** The verification clock for evidence and nonces. @default now */
  readonly attestationNow?: () => Date;
}

/** The two clocks a route may read: the server's, and the one evidence is verified by. */
interface Clocks {
  readonly now: () => Date;
  readonly attestationNow: () => Date;
}
type Route = (event: DoorEvent, b: Binding, deps: GuestDoorDeps, clocks: Clocks) => Promise<unknown>;

/** A door decision: who asked for what on which session, allowed or refused, and why. */
function doorEvent(
  route: string,
  on: { sessionId: string | null; instanceId: string | null; callerArn: string | null; policyVersion?: string },
  input: unknown,
  outcome: 'allow' | 'deny',
  reasons: readonly string[],
) {
  return newEvent('decision', {
    source: DOOR_SOURCE,
    sessionId: on.sessionId,
    sandboxId: on.instanceId,
    user: on.callerArn ? { id: bounded(on.callerArn), type: 'agent' } : null,
    policyVersion: on.policyVersion ?? null,
    detail: {
      engine: 'guard',
      inputDigest: digestOf(input),
      action: `door:${route}`,
      resource: on.sessionId ? `session/${on.sessionId}` : 'session/-',
      outcome,
      reasons: reasons.map(bounded),
    },
  });
}

const about = (b: Binding) => ({
  sessionId: b.session.sessionId,
  instanceId: b.instanceId,
  callerArn: b.callerArn,
  ...(b.session.policyVersion ? { policyVersion: b.session.policyVersion } : {}),
});

const ROUTES: Readonly<Record<string, Route>> = {
  'POST /v1/nonce': async (_e, b, deps, clocks) => {
    const r = await issueNonce(b, { ...deps, now: clocks.attestationNow });
    await deps.audit([
      doorEvent('POST /v1/nonce', about(b), { route: 'nonce' }, 'allow', [`nonce issued until ${r.expiresAt}`]),
    ]);
    return r;
  },
  'POST /v1/evidence': async (e, b, deps, clocks) =>
    await presentEvidence(b, jsonBody(e, EvidenceBody, 'evidence', MAX_EVIDENCE_BYTES), {
      ...deps,
      now: clocks.attestationNow,
    }),
  'GET /v1/session': async (_e, b, deps, clocks) => await sessionState(b, { ...deps, now: clocks.now }),
  'POST /v1/telemetry': async (e, b, deps, clocks) =>
    await acceptTelemetry(b, jsonBody(e, TelemetryBatch, 'telemetry batch'), { audit: deps.audit, now: clocks.now }),
  'POST /v1/requests': async (e, b, deps, clocks) => {
    const body = jsonBody(e, ApprovalRequest, 'approval request');
    const r = await deps.requests.record(b, body, clocks.now());
    if (!r.alreadyPending)
      await deps.audit([
        doorEvent('POST /v1/requests', about(b), body, 'allow', [
          `request ${r.requestId} pending approval: ${r.kind} ${r.subject}`,
        ]),
      ]);
    return r;
  },
  'POST /v1/heartbeat': async (e, b, deps, clocks) =>
    await heartbeat(b, jsonBody(e, HeartbeatBody, 'heartbeat'), {
      marks: deps.marks,
      callbacks: deps.callbacks,
      audit: deps.audit,
      now: clocks.now,
    }),
};

/** The session id a request names (`?sessionId=`): an assertion about the caller's own session. */
function assertedSession(event: DoorEvent): string | undefined {
  const v = event.queryStringParameters?.sessionId;
  return v === undefined ? undefined : parseOrThrow(SessionId, v, 'sessionId query parameter');
}

export async function serveGuestDoor(event: DoorEvent, deps: GuestDoorDeps): Promise<DoorReply> {
  const name = `${event.httpMethod} ${event.resource}`;
  const now = deps.now ?? (() => new Date());
  const clocks: Clocks = { now, attestationNow: deps.attestationNow ?? now };
  let caller: { instanceId: string; callerArn: string } | undefined;
  try {
    const route = ROUTES[name];
    if (!route) throw new NotFoundError(`the guests' door has no route ${name}`);
    caller = instanceOf(event.requestContext.identity, deps.roleNames, event.requestContext.accountId);
    const binding = await bindCaller(caller, deps.table, assertedSession(event));
    if (!(await deps.marks.countRequest(binding.session.sessionId, deps.callerLimit, now())))
      throw new TooManyRequestsError(
        `instance ${binding.instanceId} sent more than ${deps.callerLimit.requests} requests in ${deps.callerLimit.windowSeconds} s`,
      );
    return ok(await route(event, binding, deps, clocks));
  } catch (e) {
    if (e instanceof ForbiddenError) {
      // Someone the platform let through is refused: audited, in the chain of the caller's own session if it has one.
      const own = caller ? await deps.table.byInstance(caller.instanceId).catch(() => undefined) : undefined;
      await deps.audit([
        doorEvent(
          name,
          {
            sessionId: own?.sessionId ?? null,
            instanceId: caller?.instanceId ?? null,
            callerArn: caller?.callerArn ?? event.requestContext.identity.userArn ?? null,
          },
          { route: name, query: event.queryStringParameters ?? null },
          'deny',
          [e.message],
        ),
      ]);
    }
    const reply = refusal(e);
    if (!reply) throw e;
    return reply;
  }
}
