/**
 * The decider the decision function runs: the caller names the session, the
 * action and the resource; everything else is the control plane's.
 *
 *   const d = createAuthoritativeDecider({ decider, state: createStateLookup({ sessions, flags, plugins }) });
 *   const outcome = await d.decide({ sessionId: 'ses-1', action: 'fs_write', resource: { kind: 'file', path: '/finance/q3.xlsx' } });
 *
 * For each request it looks up (state.ts, cached briefly): the session item (status,
 * tier, cohort, path profile, user, expiry, granted scopes), the flags, and, for a
 * plugin_exec, the registry's facts about that artifact; time is the server's clock.
 * Scopes held are the session's unexpired grants at that time. It then asks the
 * policy evaluator (decide.ts) with the filled-in evaluation request, so the
 * engines see exactly the normalized request they always did.
 *
 * A session that does not exist is refused with a deny (NotFoundError,
 * SESSION_NOT_FOUND), one that is no longer live or past its TTL with a deny
 * (ForbiddenError, SESSION_NOT_LIVE / SESSION_EXPIRED); both are audited like any
 * decision and raise no PolicyViolation (there is no live session to remediate).
 * Every decision's audit event records the state it used (`detail.state`).
 */
import { createHash, randomUUID } from 'node:crypto';
import { type DecisionState, newEvent } from '../audit/schema.ts';
import type { FlagEntry } from '../sessions/flags.ts';
import { activeScopes } from '../sessions/scopes.ts';
import type { SessionItem } from '../sessions/table.ts';
import { ValidationError } from '../shared/errors.ts';
import {
  type Decider,
  type DeciderInfo,
  type DecisionAuditEvent,
  type DecisionOutcome,
  POLICY_EVENT_SOURCE,
  type PolicyViolationEvent,
} from './decide.ts';
import {
  type Action,
  canonicalJson,
  type Decision,
  type EvaluationRequest,
  type NormalizedRequest,
  type ParsedDecisionRequest,
  type PluginFacts,
  parseDecisionRequest,
  type Resource,
} from './model.ts';
import { PATH_PROFILES, type PathProfile } from './paths.ts';
import { attestationOf, disabledActions, flagsVersion, isLive, type StateLookup } from './state.ts';

/** Why a request was refused before policy. */
export type RefusalReason = 'SESSION_NOT_FOUND' | 'SESSION_NOT_LIVE' | 'SESSION_EXPIRED';

export interface Refusal {
  /** The typed error this refusal stands for. */
  readonly error: 'NotFoundError' | 'ForbiddenError';
  readonly reason: RefusalReason;
  readonly message: string;
}

export interface AuthoritativeOutcome {
  decision: Decision;
  /** The normalized request the engine saw; absent when the request was refused before policy. */
  request?: NormalizedRequest;
  events: { audit: DecisionAuditEvent; violation?: PolicyViolationEvent };
  /** The control-plane state the decision used (also in the audit event). */
  state: DecisionState;
  refusal?: Refusal;
}

export interface AuthoritativeDecider {
  decide(request: unknown): Promise<AuthoritativeOutcome>;
  /** Validates every request first (a bad one fails the batch, naming `[i].field`), then decides. */
  decideBatch(requests: readonly unknown[]): Promise<AuthoritativeOutcome[]>;
  info(): DeciderInfo & { state: ReturnType<StateLookup['stats']> };
}

export interface AuthoritativeDeciderOptions {
  /** The policy evaluator (createDecider). */
  readonly decider: Decider;
  /** Where the state comes from (createStateLookup); its clock is the decisions' time. */
  readonly state: StateLookup;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const SHORT_MAX = 1024;
const short = (s: string): string => (s.length <= SHORT_MAX ? s : `${s.slice(0, SHORT_MAX - 1)}…`);

/** A label of the resource as the caller spelled it (a refused request is never normalized). */
function rawLabel(r: Resource): string {
  switch (r.kind) {
    case 'file':
      return r.path || '-';
    case 'host':
      return `${r.host}:${r.port}`;
    case 'plugin':
      return `${r.pluginId}@${r.digest}`;
    case 'secret':
      return r.secretName;
  }
}

function refusalOf(req: ParsedDecisionRequest, item: SessionItem | undefined, nowMs: number): Refusal | undefined {
  if (!item) return { error: 'NotFoundError', reason: 'SESSION_NOT_FOUND', message: `no session ${req.sessionId}` };
  if (!isLive(item.status))
    return {
      error: 'ForbiddenError',
      reason: 'SESSION_NOT_LIVE',
      message: `session ${req.sessionId} is ${item.status}`,
    };
  if (item.expiresAt && Date.parse(item.expiresAt) <= nowMs)
    return {
      error: 'ForbiddenError',
      reason: 'SESSION_EXPIRED',
      message: `session ${req.sessionId} expired at ${item.expiresAt}`,
    };
  return undefined;
}

const osOf = (item: SessionItem): PathProfile =>
  (PATH_PROFILES as readonly string[]).includes(item.os ?? '') ? (item.os as PathProfile) : 'linux';

function batchError(issues: readonly { path: string; message: string }[], what = 'decision requests'): ValidationError {
  const summary = issues
    .slice(0, 5)
    .map((x) => `${x.path}: ${x.message}`)
    .join('; ');
  return new ValidationError(`invalid ${what}: ${summary}`, issues);
}

/** Renames `[j]` in the evaluator's batch issues to the caller's index `[index[j]]`. */
const remapIssues = (e: ValidationError, index: readonly number[]): ValidationError =>
  batchError(
    e.issues.map((is) => ({
      ...is,
      path: is.path.replace(/^\[(\d+)\]/, (_, j: string) => `[${index[Number(j)] ?? j}]`),
    })),
  );

export function createAuthoritativeDecider(opts: AuthoritativeDeciderOptions): AuthoritativeDecider {
  const { decider, state } = opts;
  // What the flags mean for a cohort, computed once per flags read (the reader returns the same array while cached).
  const flagsMeaning = new WeakMap<readonly FlagEntry[], Map<string, { version: string; off: Action[] }>>();
  const meaningOf = (entries: readonly FlagEntry[], cohort: string) => {
    let byCohort = flagsMeaning.get(entries);
    if (!byCohort) {
      byCohort = new Map();
      flagsMeaning.set(entries, byCohort);
    }
    let m = byCohort.get(cohort);
    if (!m) {
      m = { version: flagsVersion(entries, cohort), off: disabledActions(entries, cohort) };
      byCohort.set(cohort, m);
    }
    return m;
  };

  const refuse = (
    req: ParsedDecisionRequest,
    refusal: Refusal,
    item: SessionItem | undefined,
    st: DecisionState,
    started: number,
  ): AuthoritativeOutcome => {
    const info = decider.info();
    const inputDigest = createHash('sha256')
      .update(canonicalJson({ sessionId: req.sessionId, action: req.action, resource: req.resource }))
      .digest('hex');
    const reasons = [`${refusal.reason}: ${refusal.message}`];
    const decision: Decision = {
      decisionId: randomUUID(),
      effect: 'deny',
      reasons,
      policySet: info.policySet,
      policyVersion: info.version,
      engine: info.engine,
      durationMicros: Math.round((performance.now() - started) * 1000),
      cached: false,
      inputDigest,
    };
    const audit = newEvent('decision', {
      source: POLICY_EVENT_SOURCE,
      // An unknown id gets no chain of its own: anyone can make ids up.
      sessionId: item ? req.sessionId : null,
      user: item?.user ? { id: short(item.user), type: 'human' } : null,
      policyVersion: info.version,
      detail: {
        engine: 'guard',
        inputDigest,
        action: req.action,
        resource: short(rawLabel(req.resource)),
        outcome: 'deny',
        reasons: reasons.map(short),
        state: st,
      },
    });
    return { decision, events: { audit }, state: st, refusal };
  };

  const decideBatch = async (inputs: readonly unknown[]): Promise<AuthoritativeOutcome[]> => {
    const started = performance.now();
    const reqs: ParsedDecisionRequest[] = [];
    const issues: { path: string; message: string }[] = [];
    inputs.forEach((input, i) => {
      try {
        reqs.push(parseDecisionRequest(input));
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        for (const is of e.issues) issues.push({ path: `[${i}].${is.path}`, message: is.message });
      }
    });
    if (issues.length > 0) throw batchError(issues);

    // One read per distinct session, one flags read per batch (both usually cache hits).
    const ids = [...new Set(reqs.map((r) => r.sessionId))];
    const [snapshots, flags] = await Promise.all([Promise.all(ids.map((id) => state.session(id))), state.flags()]);
    const bySession = new Map(ids.map((id, i) => [id, snapshots[i]!]));
    const nowMs = state.clock();
    const now = new Date(nowMs);
    const plugins = await Promise.all(
      reqs.map((r) =>
        r.action === 'plugin_exec' && r.resource.kind === 'plugin'
          ? state.plugin(r.resource.pluginId, r.resource.digest)
          : Promise.resolve(undefined),
      ),
    );

    const out: (AuthoritativeOutcome | undefined)[] = new Array(reqs.length);
    const evals: EvaluationRequest[] = [];
    const evalStates: DecisionState[] = [];
    const evalIndex: number[] = [];
    reqs.forEach((req, i) => {
      const snap = bySession.get(req.sessionId)!;
      const item = snap.value;
      const held = item ? activeScopes(item, now).map((s) => s.scope) : [];
      const cohort = item?.cohort ?? 'default';
      const meaning = meaningOf(flags.value, cohort);
      const st: DecisionState = {
        sessionStatus: item?.status ?? 'unknown',
        sessionReadAt: iso(snap.readAt),
        scopesHeld: held.slice(0, 64),
        flagsVersion: meaning.version,
        flagsReadAt: iso(flags.readAt),
        ...(req.callerClaimIgnored.length > 0 ? { callerClaimIgnored: req.callerClaimIgnored } : {}),
      };
      const refusal = refusalOf(req, item, nowMs);
      if (refusal || !item) {
        out[i] = refuse(req, refusal!, item, st, started);
        return;
      }
      const plugin: PluginFacts | undefined = plugins[i];
      evals.push({
        session: { id: req.sessionId, tier: item.tier ?? 'unknown', cohort, approvedScopes: held, os: osOf(item) },
        principal: { id: item.user ?? 'unknown' },
        action: req.action,
        resource: req.resource,
        context: {
          time: now.toISOString(),
          flags: Object.fromEntries(meaning.off.map((a) => [a, false])),
          attestation: { status: attestationOf(item.status) },
          ...(plugin ? { plugin } : {}),
        },
      });
      evalStates.push(st);
      evalIndex.push(i);
    });

    if (evals.length > 0) {
      let decided: DecisionOutcome[];
      try {
        decided = await decider.decideBatch(evals, evalStates);
      } catch (e) {
        // A path the session's profile refuses: name the caller's index, not ours.
        if (e instanceof ValidationError) throw remapIssues(e, evalIndex);
        throw e;
      }
      decided.forEach((o, j) => {
        out[evalIndex[j]!] = { ...o, state: evalStates[j]! };
      });
    }
    return out as AuthoritativeOutcome[];
  };

  return {
    async decide(input) {
      try {
        const [o] = await decideBatch([input]);
        return o!;
      } catch (e) {
        // One request: name its fields as they are, without the batch index.
        if (!(e instanceof ValidationError)) throw e;
        throw batchError(
          e.issues.map((is) => ({ ...is, path: is.path.replace(/^\[0\]\.?/, '') || '(root)' })),
          'decision request',
        );
      }
    },
    decideBatch,
    info() {
      return { ...decider.info(), state: state.stats() };
    },
  };
}
