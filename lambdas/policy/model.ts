/**
 * The one decision model both engines share.
 *
 * Two requests, two trust levels:
 *  - `DecisionRequest` is what a caller (an agent's enforcement point, through
 *    the decision function) sends: the session id, the action and the resource.
 *    Nothing about the session's state: its tier, scopes, attestation, flags,
 *    principal and the time are the control plane's to know (authoritative.ts
 *    looks them up). A caller that sends them anyway is not refused: the fields
 *    named in CLAIM_FIELDS are ignored and recorded (`callerClaimIgnored`); any
 *    other unknown field is a ValidationError.
 *  - `EvaluationRequest` is what the engines are asked: the same action and
 *    resource with the state filled in from the control plane's own stores.
 *
 * An evaluation request is validated with zod, then normalized ONCE (paths resolved
 * under the session's path profile, hosts lower-cased, times reduced to epoch seconds,
 * flags turned into a set of disabled actions). Engines only ever see a
 * `NormalizedRequest`, so Cedar and Rego cannot disagree because one of them forgot
 * to resolve `..` or fold case, and the decision cache can key on the normalized form.
 *
 * File paths: the enforcement point on the desktop sends the RESOLVED path
 * (symlinks, junctions and mount points resolved by the OS: `realpath(3)`,
 * `GetFinalPathNameByHandleW`); normalization here is lexical and follows the
 * desktop's OS (`session.os`, `linux` by default; `paths.ts` says what each
 * profile folds and refuses). `resource.path` is what policies compare: for
 * `windows` the path within its drive, case-folded (`C:\Finance\Q3.xlsx` is
 * `/finance/q3.xlsx`, drive `c:` in `resource.volume`).
 */
import * as z from 'zod';
import { SessionId } from '../shared/ids.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { MAX_PATH, normalizePath, PATH_PROFILES, type PathProfile, pathLabel } from './paths.ts';

export { PathError } from './paths.ts';

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
  /** The desktop's OS: how its file paths are normalized (`lambdas/policy/paths.ts`). */
  os: z.enum(PATH_PROFILES).default('linux'),
});

export const Principal = z.strictObject({
  /** The human the agent acts for. */
  id: Identifier,
});

/** `path` is the resolved path as the desktop's OS spells it (`/home/a/x`, `C:\Users\a\x`). */
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

const resourceFitsAction = (r: { action: Action; resource: Resource }, ctx: z.RefinementCtx): void => {
  const want = ACTION_RESOURCE[r.action];
  if (r.resource.kind !== want) {
    ctx.addIssue({
      code: 'custom',
      path: ['resource', 'kind'],
      message: `action ${r.action} takes a ${want} resource, got ${r.resource.kind}`,
    });
  }
};

/**
 * What the engines evaluate: the action and resource with the session's state.
 * The state comes from the control plane's stores (authoritative.ts), or from a
 * decision table or fixture when policies are tested; never from a remote caller.
 */
export const EvaluationRequest = z
  .strictObject({
    session: Session,
    principal: Principal,
    action: Action,
    resource: Resource,
    context: RequestContext,
  })
  .superRefine(resourceFitsAction);
export type EvaluationRequest = z.input<typeof EvaluationRequest>;
export type ParsedEvaluation = z.output<typeof EvaluationRequest>;

/**
 * Fields that state what only the control plane may know: a caller that sends
 * them is decided without them, and the decision's audit event names them.
 */
export const CLAIM_FIELDS = [
  'session',
  'principal',
  'context',
  'tier',
  'cohort',
  'approvedScopes',
  'scopes',
  'flags',
  'attestation',
  'time',
  'os',
  'plugin',
] as const;

/** What a caller sends: the session, the action and the resource; the rest is looked up. */
export const DecisionRequest = z
  .strictObject({
    sessionId: SessionId,
    action: Action,
    resource: Resource,
    ...(Object.fromEntries(CLAIM_FIELDS.map((k) => [k, z.unknown().optional()])) as Record<
      (typeof CLAIM_FIELDS)[number],
      z.ZodOptional<z.ZodUnknown>
    >),
  })
  .superRefine(resourceFitsAction);
export type DecisionRequest = z.input<typeof DecisionRequest>;

export interface ParsedDecisionRequest {
  readonly sessionId: string;
  readonly action: Action;
  readonly resource: Resource;
  /** The CLAIM_FIELDS the caller sent, sorted: ignored, and recorded in the audit event. */
  readonly callerClaimIgnored: string[];
}

/** Validates a caller's request; throws ValidationError naming the failing field. */
export function parseDecisionRequest(input: unknown): ParsedDecisionRequest {
  const r = parseOrThrow(DecisionRequest, input, 'decision request');
  const claims = CLAIM_FIELDS.filter((k) => (r as Record<string, unknown>)[k] !== undefined);
  return { sessionId: r.sessionId, action: r.action, resource: r.resource, callerClaimIgnored: [...claims].sort() };
}

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
  /** `path` is what policies compare; `volume` (windows only) keeps the drive for audit. */
  | { kind: 'file'; path: string; volume?: string }
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
  session: { id: string; tier: string; cohort: string; approvedScopes: string[]; os: PathProfile };
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

const epochS = (iso: string): number => Math.floor(Date.parse(iso) / 1000);

/** Host names are case-insensitive and may carry a root dot; compare them in one form. */
export function normalizeHost(host: string): string {
  const h = host.toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

function normalizeResource(r: Resource, os: PathProfile): NormalizedResource {
  switch (r.kind) {
    case 'file':
      return { kind: 'file', ...normalizePath(r.path, os) };
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

/** Normalizes an already-parsed evaluation request. */
export function normalizeParsed(r: ParsedEvaluation): NormalizedRequest {
  const disabled = ACTIONS.filter((a) => r.context.flags[a] === false);
  const p = r.context.plugin;
  return {
    session: {
      id: r.session.id,
      tier: r.session.tier,
      cohort: r.session.cohort,
      approvedScopes: [...new Set(r.session.approvedScopes)].sort(),
      os: r.session.os,
    },
    principal: { id: r.principal.id },
    action: r.action,
    resource: normalizeResource(r.resource, r.session.os),
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

/** Validates and normalizes an evaluation request; throws ValidationError naming the failing field. */
export function parseEvaluation(input: unknown): NormalizedRequest {
  return normalizeParsed(parseOrThrow(EvaluationRequest, input, 'evaluation request'));
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
      return pathLabel(r);
    case 'host':
      return r.endpoint;
    case 'plugin':
      return `${r.pluginId}@${r.digest}`;
    case 'secret':
      return r.secretName;
  }
}
