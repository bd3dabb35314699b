/**
 * Cedar engine on @cedar-policy/cedar-wasm.
 *
 * The `/nodejs` entry is used on purpose: the package's default ESM entry imports
 * the .wasm as an ES module (experimental in Node 24, prints a warning and does
 * not survive bundling), while `/nodejs` reads `cedar_wasm_bg.wasm` from its own
 * directory, which works under Node 24 ESM and in the Lambda bundle as long as
 * the package is shipped as a node module (see lib/constructs/policy.ts).
 *
 * The schema and policy set are parsed once into the wasm instance's cache
 * (`preparse*`) and reused by every decision (`statefulIsAuthorized`).
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { type EngineVerdict, type PolicyData, type PolicyEngine, PolicyLoadError, sortedUnique } from './engine.ts';
import type { NormalizedRequest, NormalizedResource } from './model.ts';

export const CEDAR_NAMESPACE = 'Aidops';

export interface CedarSources {
  /** Cedar schema, human-readable syntax. */
  readonly schema: string;
  /** Policy files by name; each file may hold several policies. */
  readonly policies: Readonly<Record<string, string>>;
}

export interface CedarPolicyInfo {
  readonly id: string;
  readonly effect: 'permit' | 'forbid';
  /** Reason template from `@reason(...)`; placeholders like `{resource.path}`. */
  readonly reason: string | undefined;
  readonly text: string;
}

export interface CedarValidation {
  readonly ok: boolean;
  readonly errors: readonly string[];
  readonly policies: readonly CedarPolicyInfo[];
}

const fmt = (errs: readonly { message: string; help?: string | null }[]): string[] =>
  errs.map((e) => (e.help ? `${e.message} (${e.help})` : e.message));

/**
 * Splits the files into policies, keyed by their `@id` annotation (required and
 * unique: it is the name that shows up in decisions and audit), and validates
 * every policy against the schema in strict mode. Used by tests, the CLI and the
 * CDK construct at synth time, so a bad policy never reaches a function.
 */
export function validateCedar(src: CedarSources): CedarValidation {
  const errors: string[] = [];
  const schemaOk = cedar.checkParseSchema(src.schema);
  if (schemaOk.type === 'failure')
    return { ok: false, errors: fmt(schemaOk.errors).map((m) => `schema: ${m}`), policies: [] };
  const policies: CedarPolicyInfo[] = [];
  const seen = new Set<string>();
  for (const [file, text] of Object.entries(src.policies)) {
    const parts = cedar.policySetTextToParts(text);
    if (parts.type === 'failure') {
      errors.push(...fmt(parts.errors).map((m) => `${file}: ${m}`));
      continue;
    }
    if (parts.policy_templates.length > 0)
      errors.push(`${file}: templates are not supported; link them before loading`);
    for (const p of parts.policies) {
      const j = cedar.policyToJson(p);
      if (j.type === 'failure') {
        errors.push(...fmt(j.errors).map((m) => `${file}: ${m}`));
        continue;
      }
      const id = j.json.annotations?.id;
      if (!id) {
        errors.push(`${file}: a policy has no @id annotation: ${p.slice(0, 80).replace(/\s+/g, ' ')}`);
        continue;
      }
      if (seen.has(id)) errors.push(`${file}: duplicate policy @id("${id}")`);
      seen.add(id);
      policies.push({ id, effect: j.json.effect, reason: j.json.annotations?.reason, text: p });
    }
  }
  if (errors.length === 0) {
    const v = cedar.validate({
      schema: src.schema,
      policies: { staticPolicies: Object.fromEntries(policies.map((p) => [p.id, p.text])) },
      validationSettings: { mode: 'strict' },
    });
    if (v.type === 'failure') errors.push(...fmt(v.errors));
    else errors.push(...v.validationErrors.map((e) => `policy ${e.policyId}: ${e.error.message}`));
  }
  return { ok: errors.length === 0, errors, policies };
}

/** Fills `{resource.path}`-style placeholders from the normalized request. */
export function fillReason(template: string, req: NormalizedRequest): string {
  return template.replace(/\{([a-zA-Z.]+)\}/g, (whole, key: string) => {
    if (key === 'action') return req.action;
    if (key.startsWith('resource.')) {
      const v = (req.resource as Record<string, unknown>)[key.slice('resource.'.length)];
      if (typeof v === 'string' || typeof v === 'number') return String(v);
    }
    if (key === 'session.id') return req.session.id;
    if (key === 'principal.id') return req.principal.id;
    return whole;
  });
}

const RESOURCE_TYPE: Readonly<Record<NormalizedResource['kind'], string>> = {
  file: `${CEDAR_NAMESPACE}::File`,
  host: `${CEDAR_NAMESPACE}::Host`,
  plugin: `${CEDAR_NAMESPACE}::Plugin`,
  secret: `${CEDAR_NAMESPACE}::Secret`,
};

function resourceEntity(r: NormalizedResource): { id: string; attrs: Record<string, string | number> } {
  switch (r.kind) {
    case 'file':
      return { id: r.path, attrs: { path: r.path } };
    case 'host':
      return { id: r.endpoint, attrs: { host: r.host, port: r.port, endpoint: r.endpoint } };
    case 'plugin':
      return { id: r.pluginId, attrs: { pluginId: r.pluginId, digest: r.digest } };
    case 'secret':
      return { id: r.secretName, attrs: { secretName: r.secretName } };
  }
}

let instanceSeq = 0;

export interface CedarEngineOptions {
  readonly sources: CedarSources;
  readonly data: PolicyData;
  readonly policySet: string;
  readonly version: string;
  /**
   * Also check each request against the schema inside Cedar. Off by default: zod
   * already validated the request and the adapter builds the Cedar request from
   * the normalized form, and this check costs ~100 µs per call.
   * @default false
   */
  readonly validateRequests?: boolean;
}

/** Loads (validates, parses once) a Cedar policy set. Throws PolicyLoadError naming every problem. */
export function loadCedarEngine(opts: CedarEngineOptions): PolicyEngine {
  const v = validateCedar(opts.sources);
  if (!v.ok)
    throw new PolicyLoadError(`cedar policy set does not validate: ${v.errors.join('; ')}`, { errors: v.errors });
  // Ids are per instance: the wasm cache is process-wide and a reload must not see the old set.
  const seq = ++instanceSeq;
  const psetId = `aidops-${seq}`;
  const schemaName = `aidops-schema-${seq}`;
  const pre = cedar.preparsePolicySet(psetId, {
    staticPolicies: Object.fromEntries(v.policies.map((p) => [p.id, p.text])),
  });
  if (pre.type === 'failure') throw new PolicyLoadError(`cedar preparse failed: ${fmt(pre.errors).join('; ')}`);
  const validateRequests = opts.validateRequests ?? false;
  if (validateRequests) {
    const s = cedar.preparseSchema(schemaName, opts.sources.schema);
    if (s.type === 'failure') throw new PolicyLoadError(`cedar schema preparse failed: ${fmt(s.errors).join('; ')}`);
  }
  const reasons = new Map(v.policies.map((p) => [p.id, p.reason ?? `denied by policy ${p.id}`]));
  const effects = new Map(v.policies.map((p) => [p.id, p.effect]));
  const allowlist = [...opts.data.egress_allowlist];

  const evaluate = (req: NormalizedRequest): EngineVerdict => {
    const res = resourceEntity(req.resource);
    const resourceUid = { type: RESOURCE_TYPE[req.resource.kind], id: res.id };
    const answer = cedar.statefulIsAuthorized({
      principal: { type: `${CEDAR_NAMESPACE}::User`, id: req.principal.id },
      action: { type: `${CEDAR_NAMESPACE}::Action`, id: req.action },
      resource: resourceUid,
      context: {
        session: req.session,
        nowEpochS: req.context.nowEpochS,
        disabled: req.context.disabled,
        attestation: req.context.attestation,
        plugin: { ...req.context.plugin },
        egressAllowlist: allowlist,
      },
      entities: [
        { uid: { type: `${CEDAR_NAMESPACE}::User`, id: req.principal.id }, attrs: {}, parents: [] },
        { uid: resourceUid, attrs: res.attrs, parents: [] },
      ],
      preparsedPolicySetId: psetId,
      ...(validateRequests ? { preparsedSchemaName: schemaName, validateRequest: true } : { validateRequest: false }),
    });
    // Fail closed: a request Cedar cannot evaluate, or a policy that errored (and so was skipped), is a deny.
    if (answer.type === 'failure') {
      return { effect: 'deny', reasons: sortedUnique(fmt(answer.errors).map((m) => `policy evaluation error: ${m}`)) };
    }
    const { decision, diagnostics } = answer.response;
    if (diagnostics.errors.length > 0) {
      return {
        effect: 'deny',
        reasons: sortedUnique(
          diagnostics.errors.map((e) => `policy evaluation error in ${e.policyId}: ${e.error.message}`),
        ),
      };
    }
    if (decision === 'allow') return { effect: 'allow', reasons: [] };
    const forbids = diagnostics.reason.filter((id) => effects.get(id) === 'forbid');
    if (forbids.length === 0) return { effect: 'deny', reasons: [`no policy permits ${req.action}`] };
    return { effect: 'deny', reasons: sortedUnique(forbids.map((id) => fillReason(reasons.get(id) ?? id, req))) };
  };

  return {
    engine: 'cedar',
    policySet: opts.policySet,
    version: opts.version,
    evaluate,
    // cedar-wasm has no batch call; the batch still shares the parsed set.
    evaluateBatch: (reqs) => reqs.map(evaluate),
  };
}
