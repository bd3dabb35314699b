/**
 * What the decider looks up about a session, and for how long it may remember it.
 *
 * The sources are ports: anything with the methods below. In Lambda they are the
 * real stores (the session table, the SSM flags, the plugin registry, each taking
 * its AWS client); the CLI's offline `policy check --state` and tests pass
 * in-memory ones. Every cache runs on the injected clock, so a test can move time
 * instead of sleeping:
 *
 *   session items   ≤ 10 s  (a revoked scope, an ended session reach decisions within 10 s)
 *   flags           ≤ 30 s  (FlagReader; a flag flipped off reaches running sessions within 30 s)
 *   plugin facts    ≤ 30 s  (a revoked plugin, as the registry documents)
 *
 * Scope expiry is not a cache matter: `activeScopes` is evaluated at decision
 * time on the server's clock, so an expired scope is never held, cached or not.
 */
import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { type PluginAllowFacts, type PluginRecord, PluginRegistry, toPolicyPluginFacts } from '../plugins/registry.ts';
import { evaluateFlags, FLEET_COHORT, type FlagEntry, FlagReader, MAX_CACHE_MS, SsmFlags } from '../sessions/flags.ts';
import { LIVE, type SessionStatus } from '../sessions/model.ts';
import { type SessionItem, SessionTable } from '../sessions/table.ts';
import type { Capability } from '../sessions/tiers.ts';
import { TtlCache } from './cache.ts';
import type { Action, AttestationStatus, PluginFacts } from './model.ts';

/** Upper bound of the session-item cache. */
export const MAX_SESSION_TTL_MS = 10_000;
/** Upper bound of the flags cache (the flags store's own bound). */
export const MAX_FLAGS_TTL_MS = MAX_CACHE_MS;
/** Upper bound of the plugin-facts cache (the registry's documented revocation delay). */
export const MAX_PLUGIN_TTL_MS = 30_000;

/** The flag capabilities that switch actions off in running sessions; the others apply at admission only. */
export const CAPABILITY_ACTIONS: Readonly<Partial<Record<Capability, readonly Action[]>>> = {
  'file-write': ['fs_write', 'fs_delete'],
  'network-egress': ['net_connect'],
  'plugin-execution': ['plugin_exec'],
};

export interface SessionSource {
  get(sessionId: string): Promise<SessionItem | undefined>;
}
export interface FlagSource {
  list(): Promise<FlagEntry[]>;
}
export interface PluginSource {
  list(pluginId: string): Promise<readonly Pick<PluginRecord, 'version' | 'digest' | 'status'>[]>;
  isAllowed(pluginId: string, version: string, digest: string, now: Date): Promise<PluginAllowFacts>;
}

export interface StateLookupOptions {
  readonly sessions: SessionSource;
  readonly flags: FlagSource;
  /** Without a registry every plugin is unknown (plugin_exec is denied). */
  readonly plugins?: PluginSource;
  /** Milliseconds clock: the server's time, and every cache's. @default Date.now */
  readonly clock?: () => number;
  /** Clamped to MAX_SESSION_TTL_MS. @default 10_000 */
  readonly sessionTtlMs?: number;
  /** Clamped to MAX_FLAGS_TTL_MS. @default 30_000 */
  readonly flagsTtlMs?: number;
  /** Clamped to MAX_PLUGIN_TTL_MS. @default 30_000 */
  readonly pluginTtlMs?: number;
  /** Entries per cache. @default 10_000 */
  readonly capacity?: number;
}

export interface Snapshot<T> {
  readonly value: T;
  /** Clock ms of the read the value came from. */
  readonly readAt: number;
}

export interface StateLookup {
  /** The server's time, ms. */
  readonly clock: () => number;
  session(sessionId: string): Promise<Snapshot<SessionItem | undefined>>;
  flags(): Promise<Snapshot<readonly FlagEntry[]>>;
  /** Registry facts for this exact artifact (plugin id and digest), or undefined when none is admitted. */
  plugin(pluginId: string, digest: string): Promise<PluginFacts | undefined>;
  stats(): { sessions: { size: number; hits: number; misses: number }; plugins: { size: number } };
}

const clampTtl = (v: number | undefined, max: number): number => Math.min(Math.max(v ?? max, 0), max);

export function createStateLookup(opts: StateLookupOptions): StateLookup {
  const clock = opts.clock ?? Date.now;
  const capacity = opts.capacity ?? 10_000;
  const sessions = new TtlCache<SessionItem | undefined>({
    ttlMs: clampTtl(opts.sessionTtlMs, MAX_SESSION_TTL_MS),
    capacity,
    clock,
  });
  const plugins = new TtlCache<PluginFacts | undefined>({
    ttlMs: clampTtl(opts.pluginTtlMs, MAX_PLUGIN_TTL_MS),
    capacity,
    clock,
  });
  let flagsReadAt = 0;
  const flagReader = new FlagReader(
    async () => {
      const entries = await opts.flags.list();
      flagsReadAt = clock();
      return entries;
    },
    { ttlMs: clampTtl(opts.flagsTtlMs, MAX_FLAGS_TTL_MS), now: clock },
  );

  const findFacts = async (pluginId: string, digest: string): Promise<PluginFacts | undefined> => {
    const registry = opts.plugins;
    if (!registry) return undefined;
    const want = digest.toLowerCase();
    // The caller names the artifact by digest; the registry keys versions, so find the version(s) with it.
    const versions = (await registry.list(pluginId)).filter((r) => r.digest === want);
    const pick = versions.find((r) => r.status === 'admitted') ?? versions[0];
    if (!pick) return undefined;
    const facts = await registry.isAllowed(pluginId, pick.version, want, new Date(clock()));
    return toPolicyPluginFacts(pluginId, want, facts);
  };

  return {
    clock,
    async session(sessionId) {
      const { at, value } = await sessions.get(sessionId, () => opts.sessions.get(sessionId));
      return { value, readAt: at };
    },
    async flags() {
      const entries = await flagReader.entries();
      return { value: entries, readAt: flagsReadAt };
    },
    async plugin(pluginId, digest) {
      return (await plugins.get(`${pluginId}\n${digest.toLowerCase()}`, () => findFacts(pluginId, digest))).value;
    },
    stats() {
      return {
        sessions: { size: sessions.size, hits: sessions.hits, misses: sessions.misses },
        plugins: { size: plugins.size },
      };
    },
  };
}

export interface AwsStateOptions extends Omit<StateLookupOptions, 'sessions' | 'flags' | 'plugins'> {
  readonly ddb: DynamoDBClient;
  readonly ssm: SSMClient;
  readonly sessionTable: string;
  readonly flagPrefix: string;
  readonly registryTable: string;
}

/** The lookups over the deployed stores: the session table, the SSM flags, the plugin registry. */
export function awsStateLookup(o: AwsStateOptions): StateLookup {
  return createStateLookup({
    ...o,
    sessions: new SessionTable(o.ddb, o.sessionTable),
    flags: new SsmFlags(o.ssm, o.flagPrefix),
    // This lookup caches plugin facts itself; a second cache in the registry would double the delay.
    plugins: new PluginRegistry(o.ddb, { tableName: o.registryTable, cacheTtlMs: 0 }),
  });
}

// ---------------------------------------------------------------- what the state means to a decision

/** Statuses in which a session may act: admitted through active and ending. */
export function isLive(status: string): boolean {
  return (LIVE as readonly string[]).includes(status);
}

/**
 * Attestation as the decider knows it: the session workflow reaches `active` only
 * after the evidence verified and the secrets were released to the attested key.
 */
export function attestationOf(status: SessionStatus | string): AttestationStatus {
  if (status === 'active' || status === 'ending') return 'verified';
  if (status === 'failed') return 'failed';
  return isLive(status) ? 'pending' : 'unknown';
}

/** Actions switched off for a cohort (the fleet's `all` cohort included), sorted. */
export function disabledActions(entries: readonly FlagEntry[], cohort: string): Action[] {
  const caps = evaluateFlags(entries, cohort);
  const off = new Set<Action>();
  for (const [cap, actions] of Object.entries(CAPABILITY_ACTIONS) as [Capability, readonly Action[]][]) {
    if (!caps[cap]) for (const a of actions) off.add(a);
  }
  return [...off].sort();
}

/**
 * A short version of the flags that apply to a cohort: the digest of their names,
 * values and SSM versions. Two decisions with the same version saw the same flags.
 */
export function flagsVersion(entries: readonly FlagEntry[], cohort: string): string {
  const applicable = entries
    .filter((e) => e.cohort === cohort || e.cohort === FLEET_COHORT)
    .map((e) => `${e.name}=${e.enabled ? 'on' : 'off'}@${e.version ?? '?'}`)
    .sort();
  return `sha256:${createHash('sha256').update(applicable.join('\n')).digest('hex').slice(0, 16)}`;
}
