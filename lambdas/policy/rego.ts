/**
 * Rego engine on @open-policy-agent/opa-wasm: the policy compiled to WebAssembly
 * by `opa build -t wasm` (scripts/build-rego.ts), evaluated in-process.
 *
 * Policy data (policies/data.json) is loaded into the module once (`setData`);
 * each decision writes only the input. A batch is one wasm call through the
 * `batch` entrypoint.
 */
import * as opaWasm from '@open-policy-agent/opa-wasm';
import { type EngineVerdict, type PolicyData, type PolicyEngine, PolicyLoadError, sortedUnique } from './engine.ts';
import type { NormalizedRequest } from './model.ts';

export const REGO_DECISION_ENTRYPOINT = 'aidops/authz/decision';
export const REGO_BATCH_ENTRYPOINT = 'aidops/authz/batch';

export interface RegoEngineOptions {
  readonly wasm: Uint8Array;
  readonly data: PolicyData;
  readonly policySet: string;
  readonly version: string;
}

/** The part of the SDK we use (its shipped ESM typings are broken: `opa` is undeclared). */
interface LoadedPolicy {
  readonly entrypoints: Record<string, number>;
  evaluate(input: unknown, entrypoint: number | string): unknown;
  setData(data: object): void;
}
const loadPolicySync = (opaWasm as unknown as { default: { loadPolicySync(wasm: ArrayBuffer): LoadedPolicy } }).default
  .loadPolicySync;

interface RegoResult {
  allow?: unknown;
  reasons?: unknown;
}

/** Turns one `{allow, reasons}` result into a verdict; anything else is a deny (fail closed). */
function toVerdict(r: RegoResult | undefined): EngineVerdict {
  if (!r || typeof r !== 'object') return { effect: 'deny', reasons: ['policy evaluation undefined'] };
  const reasons = Array.isArray(r.reasons) ? r.reasons.filter((x): x is string => typeof x === 'string') : [];
  if (r.allow === true && reasons.length === 0) return { effect: 'allow', reasons: [] };
  return { effect: 'deny', reasons: reasons.length > 0 ? sortedUnique(reasons) : ['policy denied without a reason'] };
}

export function loadRegoEngine(opts: RegoEngineOptions): PolicyEngine {
  let policy: LoadedPolicy;
  try {
    // Copy into a fresh ArrayBuffer: Buffer slices share a pool and WebAssembly.Module needs exact bytes.
    policy = loadPolicySync(new Uint8Array(opts.wasm).buffer);
  } catch (e) {
    throw new PolicyLoadError(`rego wasm does not load: ${(e as Error).message}`);
  }
  const eps = policy.entrypoints;
  for (const ep of [REGO_DECISION_ENTRYPOINT, REGO_BATCH_ENTRYPOINT]) {
    if (eps[ep] === undefined) {
      throw new PolicyLoadError(`rego bundle lacks entrypoint ${ep} (has: ${Object.keys(eps).join(', ')})`);
    }
  }
  policy.setData(opts.data);
  const decisionEp = eps[REGO_DECISION_ENTRYPOINT]!;
  const batchEp = eps[REGO_BATCH_ENTRYPOINT]!;

  const evaluate = (req: NormalizedRequest): EngineVerdict => {
    const rs = policy.evaluate(req, decisionEp) as { result?: RegoResult }[] | undefined;
    return toVerdict(rs?.[0]?.result);
  };
  const evaluateBatch = (reqs: readonly NormalizedRequest[]): EngineVerdict[] => {
    if (reqs.length === 0) return [];
    const rs = policy.evaluate({ requests: reqs }, batchEp) as { result?: RegoResult[] }[] | undefined;
    const out = rs?.[0]?.result;
    // A batch that came back short would misattribute decisions; decide one by one instead.
    if (!Array.isArray(out) || out.length !== reqs.length) return reqs.map(evaluate);
    return out.map(toVerdict);
  };
  return { engine: 'rego', policySet: opts.policySet, version: opts.version, evaluate, evaluateBatch };
}
