/**
 * The one decision model both engines share.
 *
 * A request is validated with zod, then normalized ONCE (paths resolved, hosts
 * lower-cased, times reduced to epoch seconds, flags turned into a set of
 * disabled actions). Engines only ever see a `NormalizedRequest`, so Cedar and
 * Rego cannot disagree because one of them forgot to resolve `..`, and the
 * decision cache can key on the normalized form.
 */
import * as z from 'zod';
import { ValidationError } from '../shared/errors.ts';
import { SessionId } from '../shared/ids.ts';
import { parseOrThrow } from '../shared/validation.ts';

export const ACTIONS = [
  'fs_read',
  'fs_write',
  'fs_delete',
  'net_connect',
  'process_spawn',
  'plugin_exec',
  'credential_use',
] as const;
export const Action = z.enum(ACTIONS);
export type Action = z.infer<typeof Action>;

export const RESOURCE_KINDS = ['file', 'host', 'plugin', 'secret'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/** Which resource kind each action takes: a `net_connect` on a file is malformed, not denied. */
export const ACTION_RESOURCE: Readonly<Record<Action, ResourceKind>> = {
  fs_read: 'file',
  fs_write: 'file',
  fs_delete: 'file',
  process_spawn: 'file',
  net_connect: 'host',
  plugin_exec: 'plugin',
  credential_use: 'secret',
};

export const ATTESTATION_STATUSES = ['verified', 'pending', 'failed', 'unknown'] as const;
export type AttestationStatus = (typeof ATTESTATION_STATUSES)[number];

const MAX_PATH = 4096;
const Identifier = z.string().min(1).max(256);
const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 lowercase hex>');
// RFC 1123 host names (letters, digits, hyphens, dots; optional trailing dot) or an IPv4 literal.
const HostName = z
  .string()
  .min(1)
  .max(254)
  .regex(
    /^(?=.{1,254}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/,
    'expected a DNS host name or IPv4 address',
  );
/** A scope the approval workflow grants a session, e.g. `write:/finance`. */
export const Scope = z.string().regex(/^[a-z_]+:\S{1,512}$/, 'expected <kind>:<value>, e.g. write:/finance');
const IsoTime = z.iso.datetime({ offset: true });

export const Session = z.strictObject({
  id: SessionId,
  tier: z.string().regex(/^[a-z0-9-]{1,32}$/, 'expected a tier name like "standard"'),
  cohort: z.string().min(1).max(64),
  approvedScopes: z.array(Scope).max(64).default([]),
});

export const Principal = z.strictObject({
  /** The human the agent acts for. */
  id: Identifier,
});

export const FileResource = z.strictObject({ kind: z.literal('file'), path: z.string().max(MAX_PATH) });
export const HostResource = z.strictObject({
  kind: z.literal('host'),
  host: HostName,
  port: z.int().min(1).max(65535),
});
export const PluginResource = z.strictObject({ kind: z.literal('plugin'), pluginId: Identifier, digest: Digest });
export const SecretResource = z.strictObject({ kind: z.literal('secret'), secretName: Identifier });
export const Resource = z.discriminatedUnion('kind', [FileResource, HostResource, PluginResource, SecretResource]);
export type Resource = z.infer<typeof Resource>;

/** What the plugin registry says about the plugin named in the resource (looked up by the caller). */
export const PluginFacts = z.strictObject({
  pluginId: Identifier,
  digest: Digest,
  admitted: z.boolean(),
  revoked: z.boolean(),
  expiresAt: IsoTime,
});
export type PluginFacts = z.infer<typeof PluginFacts>;

export const RequestContext = z.strictObject({
  time: IsoTime,
  /** Capability switches from the sessions feature flags: `{ net_connect: false }` switches egress off. Absent = on. */
  flags: z.partialRecord(Action, z.boolean()).default({}),
  attestation: z.strictObject({ status: z.enum(ATTESTATION_STATUSES) }),
  /** Registry facts for a plugin_exec; absent means the registry does not know the plugin. */
  plugin: PluginFacts.optional(),
});

export const DecisionRequest = z
  .strictObject({
    session: Session,
    principal: Principal,
    action: Action,
    resource: Resource,
    context: RequestContext,
  })
  .superRefine((r, ctx) => {
    const want = ACTION_RESOURCE[r.action];
    if (r.resource.kind !== want) {
      ctx.addIssue({
        code: 'custom',
        path: ['resource', 'kind'],
        message: `action ${r.action} takes a ${want} resource, got ${r.resource.kind}`,
      });
    }
  });
export type DecisionRequest = z.input<typeof DecisionRequest>;
export type ParsedRequest = z.output<typeof DecisionRequest>;

export const ENGINES = ['cedar', 'rego'] as const;
export const EngineName = z.enum(ENGINES);
export type EngineName = z.infer<typeof EngineName>;

export const Decision = z.strictObject({
  /** Unique per decision, for correlating audit and violation events. */
  decisionId: z.string(),
  effect: z.enum(['allow', 'deny']),
  /** Sorted; empty for an allow. */
  reasons: z.array(z.string()),
  policySet: z.string(),
  policyVersion: z.string(),
  engine: EngineName,
  /** Wall time of this decision, cache hits included. */
  durationMicros: z.number().nonnegative(),
  /** True when the decision came from the cache (same normalized request, same policy version). */
  cached: z.boolean(),
  /** sha256 of the canonical JSON of the normalized request. */
  inputDigest: z.string(),
});
export type Decision = z.infer<typeof Decision>;

// ---------------------------------------------------------------- normalization

export type NormalizedResource =
  | { kind: 'file'; path: string }
  | { kind: 'host'; host: string; port: number; endpoint: string }
  | { kind: 'plugin'; pluginId: string; digest: string }
  | { kind: 'secret'; secretName: string };

/** Plugin facts as engines see them; always present so Cedar needs no optional attributes. */
export interface NormalizedPluginFacts {
  known: boolean;
  pluginId: string;
  digest: string;
  admitted: boolean;
  revoked: boolean;
  expiresAtEpochS: number;
}

/** What engines evaluate. Plain JSON; its canonical form is the cache key and the audit digest. */
export interface NormalizedRequest {
  session: { id: string; tier: string; cohort: string; approvedScopes: string[] };
  principal: { id: string };
  action: Action;
  resource: NormalizedResource;
  context: {
    /** Whole seconds: policies see time at 1 s resolution, which also makes hot requests cacheable. */
    nowEpochS: number;
    /** Actions switched off by flags, sorted. */
    disabled: Action[];
    attestation: AttestationStatus;
    plugin: NormalizedPluginFacts;
  };
}

/** A path the model refuses. Its name stays `ValidationError` on purpose: callers Catch it as bad input. */
export class PathError extends ValidationError {
  override name = 'ValidationError' as const;
}

/**
 * Resolves an absolute Linux path lexically: `.` and empty segments dropped, `..`
 * pops a segment, trailing slash removed. Case is kept (`/Finance` is not
 * `/finance`). An empty path, a relative path, a NUL byte or a `..` that would
 * climb above `/` is refused rather than clamped: an agent that asks for
 * `/../etc` is not asking for something we should guess at.
 */
export function normalizePath(input: string, field = 'resource.path'): string {
  const fail = (message: string): never => {
    throw new PathError(`invalid ${field}: ${message}`, [{ path: field, message }]);
  };
  if (input.length === 0) fail('path is empty');
  if (input.length > MAX_PATH) fail(`path longer than ${MAX_PATH}`);
  if (input.includes('\0')) fail('path contains a NUL byte');
  if (!input.startsWith('/')) fail('path must be absolute');
  const out: string[] = [];
  for (const seg of input.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) fail('path escapes above the root');
      out.pop();
      continue;
    }
    out.push(seg);
  }
  return `/${out.join('/')}`;
}

const epochS = (iso: string): number => Math.floor(Date.parse(iso) / 1000);

/** Host names are case-insensitive and may carry a root dot; compare them in one form. */
export function normalizeHost(host: string): string {
  const h = host.toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

function normalizeResource(r: Resource): NormalizedResource {
  switch (r.kind) {
    case 'file':
      return { kind: 'file', path: normalizePath(r.path) };
    case 'host': {
      const host = normalizeHost(r.host);
      return { kind: 'host', host, port: r.port, endpoint: `${host}:${r.port}` };
    }
    case 'plugin':
      return { kind: 'plugin', pluginId: r.pluginId, digest: r.digest };
    case 'secret':
      return { kind: 'secret', secretName: r.secretName };
  }
}

const NO_PLUGIN: NormalizedPluginFacts = {
  known: false,
  pluginId: '',
  digest: '',
  admitted: false,
  revoked: false,
  expiresAtEpochS: 0,
};

/** Normalizes an already-parsed request. */
export function normalizeParsed(r: ParsedRequest): NormalizedRequest {
  const disabled = ACTIONS.filter((a) => r.context.flags[a] === false);
  const p = r.context.plugin;
  return {
    session: {
      id: r.session.id,
      tier: r.session.tier,
      cohort: r.session.cohort,
      approvedScopes: [...new Set(r.session.approvedScopes)].sort(),
    },
    principal: { id: r.principal.id },
    action: r.action,
    resource: normalizeResource(r.resource),
    context: {
      nowEpochS: epochS(r.context.time),
      disabled,
      attestation: r.context.attestation.status,
      plugin: p
        ? {
            known: true,
            pluginId: p.pluginId,
            digest: p.digest,
            admitted: p.admitted,
            revoked: p.revoked,
            expiresAtEpochS: epochS(p.expiresAt),
          }
        : NO_PLUGIN,
    },
  };
}

/** Validates and normalizes; throws ValidationError naming the failing field. */
export function parseRequest(input: unknown): NormalizedRequest {
  return normalizeParsed(parseOrThrow(DecisionRequest, input, 'decision request'));
}

// ---------------------------------------------------------------- canonical JSON

/** JSON with object keys sorted at every level: the same request always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** A short human label of the resource, for reasons, events and tables. */
export function resourceLabel(r: NormalizedResource): string {
  switch (r.kind) {
    case 'file':
      return r.path;
    case 'host':
      return r.endpoint;
    case 'plugin':
      return `${r.pluginId}@${r.digest}`;
    case 'secret':
      return r.secretName;
  }
}
