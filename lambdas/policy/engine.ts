/**
 * What a policy engine is to the rest of the capability: a loaded, immutable
 * policy set that turns a normalized request into an effect and reasons.
 * Caching, timing, audit events and reloading live in decide.ts, once, for both.
 */
import { AidopsError } from '../shared/errors.ts';
import type { EngineName, NormalizedRequest } from './model.ts';

export interface EngineVerdict {
  effect: 'allow' | 'deny';
  /** Sorted, deduplicated. Empty for an allow. */
  reasons: string[];
}

export interface PolicyEngine {
  readonly engine: EngineName;
  readonly policySet: string;
  readonly version: string;
  evaluate(req: NormalizedRequest): EngineVerdict;
  /** Same answers as mapping `evaluate`, possibly in one engine call. */
  evaluateBatch(reqs: readonly NormalizedRequest[]): EngineVerdict[];
}

/** Data the policies read (egress allowlist, ...). Same document for both engines. */
export interface PolicyData {
  egress_allowlist: string[];
  [key: string]: unknown;
}

/** A policy set or bundle that does not load or does not validate. Never retried. */
export class PolicyLoadError extends AidopsError {
  override name = 'PolicyLoadError' as const;
}

export function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort();
}
