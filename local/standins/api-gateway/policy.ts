/**
 * A REST API's resource policy, evaluated the way API Gateway does for the
 * conditions the doors use: Allow/Deny by principal (`*`, an account, a role
 * (its sessions too), a user, a session ARN), by action (`execute-api:Invoke`,
 * wildcards), by resource (`execute-api:/stage/METHOD/path`, full ARNs,
 * wildcards) and by condition (String*, Arn*, Bool, IpAddress, Null, with
 * IfExists, over aws:SourceVpce, aws:SourceVpc, aws:PrincipalArn,
 * aws:PrincipalAccount, aws:PrincipalType, aws:userid, aws:username,
 * aws:SourceIp, aws:SecureTransport). A policy using anything else is refused
 * when the stand-in starts (`UnsupportedPolicyError`), never guessed at.
 */
import { BlockList, isIPv4 } from 'node:net';
import type { Principal } from './credentials.ts';

export class UnsupportedPolicyError extends Error {
  override name = 'UnsupportedPolicyError' as const;
}

export type PolicyDecision = 'Allow' | 'Deny' | 'NoMatch';

export interface PolicyRequest {
  /** Undefined for an anonymous (AuthorizationType NONE) caller. */
  readonly principal?: Principal;
  readonly action: string;
  /** `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`. */
  readonly resource: string;
  /** Condition keys (lower-cased names) present for this request. */
  readonly context: Readonly<Record<string, string | undefined>>;
}

type Matcher = (r: PolicyRequest) => boolean;
interface CompiledStatement {
  readonly effect: 'Allow' | 'Deny';
  readonly matches: Matcher;
}
export interface CompiledPolicy {
  evaluate(r: PolicyRequest): PolicyDecision;
}

const KEYS = new Set([
  'aws:sourcevpce',
  'aws:sourcevpc',
  'aws:principalarn',
  'aws:principalaccount',
  'aws:principaltype',
  'aws:userid',
  'aws:username',
  'aws:sourceip',
  'aws:securetransport',
]);

const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

/** IAM wildcards: `*` any run of characters, `?` one character. */
function glob(pattern: string, flags = ''): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, `s${flags}`);
}

/** ArnLike/ArnEquals: each of the six colon-separated parts matched on its own. */
function arnMatches(pattern: string, value: string): boolean {
  const split = (s: string) => {
    const p = s.split(':');
    return p.length < 6 ? undefined : [...p.slice(0, 5), p.slice(5).join(':')];
  };
  const pp = split(pattern);
  const vp = split(value);
  if (!pp || !vp) return pattern === '*' || false;
  return pp.every((part, i) => glob(part).test(vp[i]!));
}

function inCidr(cidrs: string[], ip: string): boolean {
  const bl = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/');
    if (!addr) continue;
    const type = isIPv4(addr) ? 'ipv4' : 'ipv6';
    if (bits === undefined) bl.addAddress(addr, type);
    else bl.addSubnet(addr, Number(bits), type);
  }
  return bl.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');
}

type ValueTest = (values: string[], actual: string) => boolean;
const OPERATORS: Record<string, { test: ValueTest; negated: boolean }> = {
  StringEquals: { test: (vs, a) => vs.includes(a), negated: false },
  StringNotEquals: { test: (vs, a) => !vs.includes(a), negated: true },
  StringEqualsIgnoreCase: { test: (vs, a) => vs.some((v) => v.toLowerCase() === a.toLowerCase()), negated: false },
  StringNotEqualsIgnoreCase: {
    test: (vs, a) => !vs.some((v) => v.toLowerCase() === a.toLowerCase()),
    negated: true,
  },
  StringLike: { test: (vs, a) => vs.some((v) => glob(v).test(a)), negated: false },
  StringNotLike: { test: (vs, a) => !vs.some((v) => glob(v).test(a)), negated: true },
  ArnEquals: { test: (vs, a) => vs.some((v) => arnMatches(v, a)), negated: false },
  ArnLike: { test: (vs, a) => vs.some((v) => arnMatches(v, a)), negated: false },
  ArnNotEquals: { test: (vs, a) => !vs.some((v) => arnMatches(v, a)), negated: true },
  ArnNotLike: { test: (vs, a) => !vs.some((v) => arnMatches(v, a)), negated: true },
  Bool: { test: (vs, a) => vs.some((v) => v.toLowerCase() === a.toLowerCase()), negated: false },
  IpAddress: { test: (vs, a) => inCidr(vs, a), negated: false },
  NotIpAddress: { test: (vs, a) => !inCidr(vs, a), negated: true },
};

function compileCondition(cond: unknown): Matcher {
  if (cond === undefined) return () => true;
  if (!cond || typeof cond !== 'object') throw new UnsupportedPolicyError('Condition must be an object');
  const tests: Matcher[] = [];
  for (const [rawOp, block] of Object.entries(cond as Record<string, Record<string, unknown>>)) {
    if (rawOp.includes(':'))
      throw new UnsupportedPolicyError(`condition operator ${rawOp}: set operators are not evaluated by the stand-in`);
    const ifExists = rawOp.endsWith('IfExists');
    const op = ifExists ? rawOp.slice(0, -'IfExists'.length) : rawOp;
    for (const [rawKey, rawValues] of Object.entries(block ?? {})) {
      const key = rawKey.toLowerCase();
      if (!KEYS.has(key)) throw new UnsupportedPolicyError(`condition key ${rawKey} is not evaluated by the stand-in`);
      const values = list(rawValues);
      if (op === 'Null') {
        const wantMissing = values.some((v) => v.toLowerCase() === 'true');
        tests.push((r) => (r.context[key] === undefined) === wantMissing);
        continue;
      }
      const o = OPERATORS[op];
      if (!o) throw new UnsupportedPolicyError(`condition operator ${rawOp} is not evaluated by the stand-in`);
      tests.push((r) => {
        const actual = r.context[key];
        // A key absent from the request: IfExists passes; a negated operator passes; others fail.
        if (actual === undefined) return ifExists || o.negated;
        return o.test(values, actual);
      });
    }
  }
  return (r) => tests.every((t) => t(r));
}

function compilePrincipal(principal: unknown): Matcher {
  if (principal === '*') return () => true;
  if (!principal || typeof principal !== 'object')
    throw new UnsupportedPolicyError(`Principal ${JSON.stringify(principal)} is not valid`);
  const tests: Matcher[] = [];
  for (const [kind, v] of Object.entries(principal as Record<string, unknown>)) {
    for (const p of list(v)) {
      if (kind !== 'AWS') {
        // Service and federated principals never sign an execute-api request.
        tests.push(() => false);
        continue;
      }
      if (p === '*') tests.push(() => true);
      else if (p.includes('*') || p.includes('?'))
        throw new UnsupportedPolicyError(
          `Principal ${p}: AWS refuses wildcards in a principal; use aws:PrincipalArn with ArnLike`,
        );
      else if (/^\d{12}$/.test(p) || /^arn:[^:]+:iam::\d{12}:root$/.test(p)) {
        const account = /^\d{12}$/.test(p) ? p : p.split(':')[4];
        tests.push((r) => r.principal?.accountId === account);
      } else tests.push((r) => r.principal !== undefined && (r.principal.arn === p || r.principal.principalArn === p));
    }
  }
  return (r) => tests.some((t) => t(r));
}

function compileStatement(s: Record<string, unknown>, expandResource: (r: string) => string): CompiledStatement {
  for (const k of ['NotPrincipal'])
    if (k in s) throw new UnsupportedPolicyError(`${k} is not evaluated by the stand-in`);
  const effect = s.Effect;
  if (effect !== 'Allow' && effect !== 'Deny') throw new UnsupportedPolicyError(`Effect ${String(effect)}`);
  if (!('Principal' in s)) throw new UnsupportedPolicyError('a resource policy statement needs a Principal');
  const principal = compilePrincipal(s.Principal);
  const actionPatterns = list(s.Action ?? s.NotAction).map((a) => glob(a, 'i'));
  const actionNegated = s.Action === undefined;
  const resourcePatterns = list(s.Resource ?? s.NotResource).map((r) => glob(expandResource(r)));
  const resourceNegated = s.Resource === undefined;
  const condition = compileCondition(s.Condition);
  return {
    effect,
    matches: (r) =>
      principal(r) &&
      actionPatterns.some((p) => p.test(r.action)) !== actionNegated &&
      resourcePatterns.some((p) => p.test(r.resource)) !== resourceNegated &&
      condition(r),
  };
}

/**
 * Compiles a policy document; `execute-api:/…` resources are expanded to the
 * API's ARN prefix, as API Gateway does when the policy is attached.
 */
export function compilePolicy(doc: unknown, apiArnPrefix: string): CompiledPolicy {
  const d = (typeof doc === 'string' ? JSON.parse(doc) : doc) as { Statement?: unknown };
  const raw = Array.isArray(d?.Statement) ? d.Statement : d?.Statement ? [d.Statement] : [];
  const expand = (r: string) =>
    r.startsWith('execute-api:/') ? `${apiArnPrefix}${r.slice('execute-api:'.length)}` : r;
  const statements = (raw as Record<string, unknown>[]).map((s) => compileStatement(s, expand));
  return {
    evaluate(r) {
      const hits = statements.filter((s) => s.matches(r));
      if (hits.some((s) => s.effect === 'Deny')) return 'Deny';
      return hits.length > 0 ? 'Allow' : 'NoMatch';
    },
  };
}
