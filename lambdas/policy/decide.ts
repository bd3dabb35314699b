/**
 * The policy evaluator: an evaluation request (action, resource and the
 * session's state) in, a decision and its events out.
 *
 *   const d = await createDecider({ engine: 'rego', policies: { type: 'dir', dir: 'policies' } });
 *   const { decision, events } = await d.decide(evaluationRequest);
 *
 * The state in an evaluation request must be the control plane's: the decision
 * function takes only a session id, an action and a resource from its callers
 * and fills the rest in from the session table, the flags and the plugin
 * registry (authoritative.ts). In-process callers that hold the state already
 * (decision tables, the demo) evaluate here directly.
 *
 * Every request is validated and normalized once, then answered from a bounded
 * LRU keyed by (policy content, policy version, sha256 of the normalized
 * request) or, on a miss, by the engine. The cache is emptied whenever a new
 * bundle loads, so no decision crosses policy versions. The policy source is
 * probed at most every `refreshMs` (≤ 30 s): a new bundle in S3/SSM takes effect
 * without redeploying anything.
 *
 * Each decision returns its audit event (`decision` kind, built with the audit
 * capability's `newEvent`) and, for a deny of a protected action, a
 * PolicyViolation event for the remediation rules. The caller publishes them.
 */
import { createHash, randomUUID } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { type AuditEventOf, type DecisionState, newEvent } from '../audit/schema.ts';
import { ValidationError } from '../shared/errors.ts';
import type { MetricSink } from '../shared/middleware.ts';
import { Lru } from './cache.ts';
import { loadCedarEngine } from './cedar.ts';
import { type EngineVerdict, type PolicyEngine, PolicyLoadError } from './engine.ts';
import {
  type Action,
  canonicalJson,
  type Decision,
  type EngineName,
  type NormalizedRequest,
  parseEvaluation,
  resourceLabel,
} from './model.ts';
import { loadRegoEngine } from './rego.ts';
import { openSource, type PolicyBundle, type PolicySource, type PolicySourceHandle } from './source.ts';

export const POLICY_EVENT_SOURCE = 'aidops.policy' as const;
export const POLICY_VIOLATION_DETAIL_TYPE = 'PolicyViolation' as const;
/** Upper bound on how stale a decider's policies may be. */
export const MAX_REFRESH_MS = 30_000;

/** Denies of these actions are violations the remediation rules act on; a refused read is routine. */
export const DEFAULT_VIOLATION_ACTIONS: readonly Action[] = [
  'fs_write',
  'fs_delete',
  'net_connect',
  'process_spawn',
  'plugin_exec',
  'credential_use',
];

/** EventBridge-shaped; `detail` is what the remediation rule matches on. */
export interface PolicyViolationEvent {
  source: typeof POLICY_EVENT_SOURCE;
  detailType: typeof POLICY_VIOLATION_DETAIL_TYPE;
  detail: {
    sessionId: string;
    action: Action;
    resource: string;
    reasons: string[];
    decisionId: string;
    policyVersion: string;
    engine: EngineName;
  };
}

export type DecisionAuditEvent = AuditEventOf<'decision'>;

export interface DecisionOutcome {
  decision: Decision;
  /** The normalized request the engine saw. */
  request: NormalizedRequest;
  events: { audit: DecisionAuditEvent; violation?: PolicyViolationEvent };
}

export interface DeciderOptions {
  readonly engine: EngineName;
  /** Where the active policy bundle lives; a string is a local policy directory. */
  readonly policies: PolicySource | string;
  /** Overrides the bundle's own version label in decisions and events. @default manifest version */
  readonly version?: string;
  /** How often the source is probed for a new bundle; clamped to 30 s. @default 30_000 */
  readonly refreshMs?: number;
  /** Decision cache entries; 0 disables the cache. @default 10_000 */
  readonly cacheSize?: number;
  /** @default DEFAULT_VIOLATION_ACTIONS */
  readonly violationActions?: readonly Action[];
  /** Milliseconds clock, for tests of the refresh window. @default Date.now */
  readonly clock?: () => number;
  /** Operations metrics: Decision by action, effect and tier. */
  readonly metric?: MetricSink;
}

export interface DeciderInfo {
  engine: EngineName;
  policySet: string;
  version: string;
  contentDigest: string;
  loadedAt: number;
  cache: { size: number; hits: number; misses: number; capacity: number };
  /** The last failed refresh, if the decider is running on its previous bundle. */
  lastRefreshError?: string;
}

export interface Decider {
  /** `state`: the control-plane state the request was filled from, recorded in the audit event. */
  decide(request: unknown, state?: DecisionState): Promise<DecisionOutcome>;
  /** Validates every request first (a bad one fails the batch, naming `[i].field`), then decides. */
  decideBatch(
    requests: readonly unknown[],
    states?: readonly (DecisionState | undefined)[],
  ): Promise<DecisionOutcome[]>;
  /** Probes the source now; true when a new bundle was loaded. */
  refresh(): Promise<boolean>;
  info(): DeciderInfo;
}

/** Builds the engine a bundle asks for; throws PolicyLoadError if the bundle lacks that language. */
export function engineFromBundle(engine: EngineName, bundle: PolicyBundle, version?: string): PolicyEngine {
  const v = version ?? bundle.version;
  if (engine === 'cedar') {
    if (!bundle.cedar) throw new PolicyLoadError(`policy bundle ${bundle.policySet} has no Cedar policies`);
    return loadCedarEngine({ sources: bundle.cedar, data: bundle.data, policySet: bundle.policySet, version: v });
  }
  if (!bundle.rego) throw new PolicyLoadError(`policy bundle ${bundle.policySet} has no compiled Rego (policy.wasm)`);
  return loadRegoEngine({ wasm: bundle.rego.wasm, data: bundle.data, policySet: bundle.policySet, version: v });
}

export function requestDigest(req: NormalizedRequest): string {
  return createHash('sha256').update(canonicalJson(req)).digest('hex');
}

const SHORT_MAX = 1024;
const short = (s: string): string => (s.length <= SHORT_MAX ? s : `${s.slice(0, SHORT_MAX - 1)}…`);

interface Loaded {
  engine: PolicyEngine;
  bundle: PolicyBundle;
  token: string;
  loadedAt: number;
  keyPrefix: string;
}

export async function createDecider(opts: DeciderOptions): Promise<Decider> {
  const source: PolicySourceHandle = openSource(
    typeof opts.policies === 'string' ? { type: 'dir', dir: opts.policies } : opts.policies,
  );
  const clock = opts.clock ?? Date.now;
  const refreshMs = Math.min(Math.max(opts.refreshMs ?? MAX_REFRESH_MS, 0), MAX_REFRESH_MS);
  const cache = new Lru<EngineVerdict>(opts.cacheSize ?? 10_000);
  const violationActions = new Set(opts.violationActions ?? DEFAULT_VIOLATION_ACTIONS);

  const load = async (token: string): Promise<Loaded> => {
    const bundle = await source.load();
    const engine = engineFromBundle(opts.engine, bundle, opts.version);
    return {
      engine,
      bundle,
      token,
      loadedAt: clock(),
      keyPrefix: `${bundle.contentDigest}|${engine.version}|`,
    };
  };

  let current = await load(await source.probe());
  let checkedAt = clock();
  let inflight: Promise<boolean> | undefined;
  let lastRefreshError: string | undefined;

  const refresh = async (): Promise<boolean> => {
    inflight ??= (async () => {
      try {
        const token = await source.probe();
        checkedAt = clock();
        if (token === current.token) return false;
        const next = await load(token);
        current = next;
        cache.clear();
        lastRefreshError = undefined;
        return true;
      } catch (e) {
        // Keep deciding with the last good bundle; a broken upload must not open or close everything.
        checkedAt = clock();
        lastRefreshError = `${source.describe}: ${(e as Error).message}`;
        return false;
      } finally {
        inflight = undefined;
      }
    })();
    return await inflight;
  };

  const maybeRefresh = async (): Promise<void> => {
    if (clock() - checkedAt >= refreshMs) await refresh();
  };

  const finish = (
    req: NormalizedRequest,
    digest: string,
    verdict: EngineVerdict,
    cached: boolean,
    started: number,
    loaded: Loaded,
    state: DecisionState | undefined,
  ): DecisionOutcome => {
    const decision: Decision = {
      decisionId: randomUUID(),
      effect: verdict.effect,
      reasons: verdict.reasons,
      policySet: loaded.engine.policySet,
      policyVersion: loaded.engine.version,
      engine: loaded.engine.engine,
      durationMicros: Math.round((performance.now() - started) * 1000),
      cached,
      inputDigest: digest,
    };
    opts.metric?.('Decision', MetricUnit.Count, 1, {
      Action: req.action,
      Effect: decision.effect,
      Tier: req.session.tier,
    });
    const resource = resourceLabel(req.resource);
    const audit = newEvent('decision', {
      source: POLICY_EVENT_SOURCE,
      sessionId: req.session.id,
      user: { id: req.principal.id, type: 'human' },
      policyVersion: decision.policyVersion,
      detail: {
        // The audit schema names the Rego engine by its runtime, OPA.
        engine: decision.engine === 'rego' ? 'opa' : 'cedar',
        inputDigest: digest,
        action: req.action,
        resource: short(resource),
        outcome: decision.effect,
        reasons: decision.reasons.map(short),
        ...(state ? { state } : {}),
      },
    });
    const events: DecisionOutcome['events'] = { audit };
    if (decision.effect === 'deny' && violationActions.has(req.action)) {
      events.violation = {
        source: POLICY_EVENT_SOURCE,
        detailType: POLICY_VIOLATION_DETAIL_TYPE,
        detail: {
          sessionId: req.session.id,
          action: req.action,
          resource,
          reasons: decision.reasons,
          decisionId: decision.decisionId,
          policyVersion: decision.policyVersion,
          engine: decision.engine,
        },
      };
    }
    return { decision, request: req, events };
  };

  const decideNormalized = (
    req: NormalizedRequest,
    started: number,
    loaded: Loaded,
    state: DecisionState | undefined,
  ): DecisionOutcome => {
    const digest = requestDigest(req);
    const key = loaded.keyPrefix + digest;
    const hit = cache.get(key);
    if (hit) return finish(req, digest, hit, true, started, loaded, state);
    const verdict = loaded.engine.evaluate(req);
    cache.set(key, verdict);
    return finish(req, digest, verdict, false, started, loaded, state);
  };

  return {
    async decide(input, state) {
      const started = performance.now();
      await maybeRefresh();
      return decideNormalized(parseEvaluation(input), started, current, state);
    },

    async decideBatch(inputs, states) {
      const started = performance.now();
      await maybeRefresh();
      const loaded = current;
      const reqs: NormalizedRequest[] = [];
      const issues: { path: string; message: string }[] = [];
      inputs.forEach((input, i) => {
        try {
          reqs.push(parseEvaluation(input));
        } catch (e) {
          if (!(e instanceof ValidationError)) throw e;
          for (const is of e.issues) issues.push({ path: `[${i}].${is.path}`, message: is.message });
        }
      });
      if (issues.length > 0) {
        const summary = issues
          .slice(0, 5)
          .map((x) => `${x.path}: ${x.message}`)
          .join('; ');
        throw new ValidationError(`invalid decision requests: ${summary}`, issues);
      }
      // Cache hits answer directly; the misses go to the engine in one batch call.
      const digests = reqs.map(requestDigest);
      const verdicts: (EngineVerdict | undefined)[] = digests.map((d) => cache.get(loaded.keyPrefix + d));
      const missIdx = verdicts.flatMap((v, i) => (v ? [] : [i]));
      if (missIdx.length > 0) {
        const fresh = loaded.engine.evaluateBatch(missIdx.map((i) => reqs[i]!));
        missIdx.forEach((i, j) => {
          const v = fresh[j]!;
          verdicts[i] = v;
          cache.set(loaded.keyPrefix + digests[i]!, v);
        });
      }
      const missing = new Set(missIdx);
      return reqs.map((r, i) => finish(r, digests[i]!, verdicts[i]!, !missing.has(i), started, loaded, states?.[i]));
    },

    refresh,

    info() {
      return {
        engine: current.engine.engine,
        policySet: current.engine.policySet,
        version: current.engine.version,
        contentDigest: current.bundle.contentDigest,
        loadedAt: current.loadedAt,
        cache: { size: cache.size, hits: cache.hits, misses: cache.misses, capacity: cache.capacity },
        ...(lastRefreshError ? { lastRefreshError } : {}),
      };
    },
  };
}
