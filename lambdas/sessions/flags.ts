/**
 * Fleet toggles: capability flags per cohort, held in SSM Parameter Store.
 *
 * Why SSM and not AppConfig feature flags: the emulator (moto) serves SSM fully
 * (GetParametersByPath, versions, history) but not the AppConfig data plane
 * (StartConfigurationSession / GetLatestConfiguration), so only SSM lets the
 * flip → admission path be tested end to end here; SSM keeps every value's
 * history (GetParameterHistory) and emits "Parameter Store Change" events, which
 * the flag-audit function turns into audit events whatever tool made the change.
 * AppConfig would add staged rollout and automatic rollback; a flag here is a
 * kill switch, where instant and simple is the point.
 *
 * Layout: `${prefix}/${cohort}/${capability}` = "on" | "off"; cohort `all` is
 * fleet-wide. A capability is enabled unless `all` or the session's cohort says
 * "off" (a fleet-wide kill switch cannot be overridden per cohort). Unset = on.
 *
 * Readers cache for at most 30 s, so a flip takes effect fleet-wide within a minute
 * (30 s cache + the time a warm function takes to be invoked again).
 */
import {
  DeleteParameterCommand,
  GetParametersByPathCommand,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { awsCall } from '../shared/aws-errors.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { CAPABILITIES, type Capability } from './tiers.ts';

export const FLEET_COHORT = 'all';
export const MAX_CACHE_MS = 30_000;

export interface FlagEntry {
  readonly cohort: string;
  readonly capability: Capability;
  readonly enabled: boolean;
  readonly version?: number;
  readonly modifiedAt?: string;
  readonly name: string;
}

const COHORT_RE = /^[a-z][a-z0-9-]{1,40}$/;

export function flagName(prefix: string, cohort: string, capability: string): string {
  if (cohort !== FLEET_COHORT && !COHORT_RE.test(cohort))
    throw new ValidationError(`cohort "${cohort}" must be lowercase letters, digits and "-" (or "all")`);
  if (!(CAPABILITIES as readonly string[]).includes(capability))
    throw new ValidationError(`unknown capability "${capability}"; known: ${CAPABILITIES.join(', ')}`);
  return `${prefix.replace(/\/$/, '')}/${cohort}/${capability}`;
}

export function parseFlagValue(v: string | undefined): boolean | undefined {
  const s = (v ?? '').trim().toLowerCase();
  if (['on', 'true', 'enabled'].includes(s)) return true;
  if (['off', 'false', 'disabled'].includes(s)) return false;
  return undefined;
}

/** Reads and writes the flag parameters. */
export class SsmFlags {
  readonly #ssm: SSMClient;
  readonly prefix: string;
  constructor(ssm: SSMClient, prefix: string) {
    this.#ssm = ssm;
    this.prefix = prefix.replace(/\/$/, '');
  }

  async list(): Promise<FlagEntry[]> {
    const out: FlagEntry[] = [];
    let token: string | undefined;
    do {
      const r = await awsCall('GetParametersByPath flags', () =>
        this.#ssm.send(new GetParametersByPathCommand({ Path: this.prefix, Recursive: true, NextToken: token })),
      );
      for (const p of r.Parameters ?? []) {
        const rest = (p.Name ?? '').slice(this.prefix.length + 1).split('/');
        const [cohort, capability] = rest;
        const enabled = parseFlagValue(p.Value);
        // Unknown names or values are ignored, not guessed: a typo must not switch anything.
        if (rest.length !== 2 || !cohort || !(CAPABILITIES as readonly string[]).includes(capability ?? '')) continue;
        if (enabled === undefined) continue;
        out.push({
          cohort,
          capability: capability as Capability,
          enabled,
          version: p.Version,
          modifiedAt: p.LastModifiedDate?.toISOString(),
          name: p.Name ?? '',
        });
      }
      token = r.NextToken;
    } while (token);
    return out.sort((a, b) => a.cohort.localeCompare(b.cohort) || a.capability.localeCompare(b.capability));
  }

  async set(cohort: string, capability: string, enabled: boolean, reason?: string): Promise<{ version: number }> {
    const name = flagName(this.prefix, cohort, capability);
    const r = await awsCall('PutParameter flag', () =>
      this.#ssm.send(
        new PutParameterCommand({
          Name: name,
          Value: enabled ? 'on' : 'off',
          Type: 'String',
          Overwrite: true,
          Description: (reason ?? `set by aidops flags`).slice(0, 1024),
        }),
      ),
    );
    return { version: r.Version ?? 0 };
  }

  async unset(cohort: string, capability: string): Promise<void> {
    const name = flagName(this.prefix, cohort, capability);
    try {
      await awsCall('DeleteParameter flag', () => this.#ssm.send(new DeleteParameterCommand({ Name: name })));
    } catch (e) {
      if (e instanceof ParameterNotFound || (e as Error).name === 'ParameterNotFound')
        throw new NotFoundError(`flag ${capability} is not set for cohort ${cohort}`, { name });
      throw e;
    }
  }
}

/** Effective capabilities of one cohort from the flag entries. */
export function evaluateFlags(entries: readonly FlagEntry[], cohort: string): Record<Capability, boolean> {
  const out = Object.fromEntries(CAPABILITIES.map((c) => [c, true])) as Record<Capability, boolean>;
  for (const e of entries) {
    if ((e.cohort === FLEET_COHORT || e.cohort === cohort) && !e.enabled) out[e.capability] = false;
  }
  return out;
}

export interface FlagReaderOptions {
  /** Cache lifetime; capped at 30 s. @default 30_000 */
  readonly ttlMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Caches the flag list (one GetParametersByPath per ≤ 30 s per warm function). */
export class FlagReader {
  readonly #load: () => Promise<FlagEntry[]>;
  readonly #ttl: number;
  readonly #now: () => number;
  #cached?: { at: number; entries: FlagEntry[] };
  #inflight?: Promise<FlagEntry[]>;
  constructor(load: () => Promise<FlagEntry[]>, opts: FlagReaderOptions = {}) {
    this.#load = load;
    this.#ttl = Math.min(Math.max(opts.ttlMs ?? MAX_CACHE_MS, 0), MAX_CACHE_MS);
    this.#now = opts.now ?? Date.now;
  }
  async entries(): Promise<FlagEntry[]> {
    const c = this.#cached;
    if (c && this.#now() - c.at < this.#ttl) return c.entries;
    // One load at a time; concurrent callers share it.
    this.#inflight ??= this.#load().finally(() => {
      this.#inflight = undefined;
    });
    const entries = await this.#inflight;
    this.#cached = { at: this.#now(), entries };
    return entries;
  }
  async capabilities(cohort: string): Promise<Record<Capability, boolean>> {
    return evaluateFlags(await this.entries(), cohort);
  }
  invalidate(): void {
    this.#cached = undefined;
  }
}
