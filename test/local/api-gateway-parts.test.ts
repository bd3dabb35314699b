/**
 * The API Gateway stand-in's pure parts: resource-policy evaluation (principals,
 * resources, conditions, what it refuses to guess), the throttle's token
 * buckets and settings lookup, and the proxy response mapping.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Principal } from '../../local/standins/api-gateway/credentials.ts';
import { proxyReply } from '../../local/standins/api-gateway/event.ts';
import { compilePolicy, type PolicyRequest, UnsupportedPolicyError } from '../../local/standins/api-gateway/policy.ts';
import { TokenBuckets, throttleLimit } from '../../local/standins/api-gateway/throttle.ts';

const API = 'arn:aws:execute-api:us-east-1:123456789012:abc123defg';
const ROLE = 'arn:aws:iam::123456789012:role/sessions/aidops-session-high';
const session = (name: string, roleArn = ROLE): Principal => ({
  arn: `arn:aws:sts::123456789012:assumed-role/${roleArn.split('/').pop()}/${name}`,
  id: `AROAEXAMPLE:${name}`,
  accountId: roleArn.split(':')[4]!,
  type: 'AssumedRole',
  principalArn: roleArn,
});
const req = (p: Partial<PolicyRequest> & { vpce?: string } = {}): PolicyRequest => {
  const principal = 'principal' in p ? p.principal : session('i-1');
  return {
    principal,
    action: 'execute-api:Invoke',
    resource: p.resource ?? `${API}/prod/GET/sessions/ses-1`,
    context: {
      'aws:sourcevpce': 'vpce' in p ? p.vpce : 'vpce-1',
      'aws:principalarn': principal?.principalArn,
      'aws:principalaccount': principal?.accountId,
      ...p.context,
    },
  };
};
const policy = (...Statement: unknown[]) => compilePolicy({ Version: '2012-10-17', Statement }, API);
const allow = (extra: Record<string, unknown> = {}) => ({
  Effect: 'Allow',
  Principal: '*',
  Action: 'execute-api:Invoke',
  Resource: 'execute-api:/*',
  ...extra,
});

describe('resource policy', () => {
  it('a role ARN principal admits the role’s sessions; an account admits anyone in it; * admits the anonymous too', () => {
    const p = policy(allow({ Principal: { AWS: ROLE } }));
    assert.equal(p.evaluate(req()), 'Allow');
    assert.equal(p.evaluate(req({ principal: session('i-1', 'arn:aws:iam::123456789012:role/other') })), 'NoMatch');
    assert.equal(p.evaluate(req({ principal: undefined })), 'NoMatch');
    assert.equal(policy(allow({ Principal: { AWS: 'arn:aws:iam::123456789012:root' } })).evaluate(req()), 'Allow');
    assert.equal(policy(allow({ Principal: { AWS: '210987654321' } })).evaluate(req()), 'NoMatch');
    assert.equal(policy(allow({ Principal: { AWS: '*' } })).evaluate(req({ principal: undefined })), 'Allow');
  });

  it('aws:PrincipalArn with ArnLike wildcards; a Deny beats an Allow', () => {
    const p = policy(allow(), {
      ...allow({ Effect: 'Deny' }),
      Condition: { ArnNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/sessions/aidops-session-*' } },
    });
    assert.equal(p.evaluate(req()), 'Allow');
    assert.equal(p.evaluate(req({ principal: session('i-1', 'arn:aws:iam::123456789012:role/admin') })), 'Deny');
    // An anonymous caller has no aws:PrincipalArn: a negated operator matches, so the Deny applies.
    assert.equal(p.evaluate(req({ principal: undefined })), 'Deny');
  });

  it('aws:SourceVpce: StringNotEquals denies another endpoint and no endpoint; IfExists lets a missing key pass', () => {
    const p = policy(allow(), {
      ...allow({ Effect: 'Deny' }),
      Condition: { StringNotEquals: { 'aws:SourceVpce': ['vpce-1', 'vpce-2'] } },
    });
    assert.equal(p.evaluate(req()), 'Allow');
    assert.equal(p.evaluate(req({ vpce: 'vpce-2' })), 'Allow');
    assert.equal(p.evaluate(req({ vpce: 'vpce-9' })), 'Deny');
    assert.equal(p.evaluate(req({ vpce: undefined })), 'Deny');
    const q = policy(allow({ Condition: { StringEqualsIfExists: { 'aws:SourceVpce': 'vpce-1' } } }));
    assert.equal(q.evaluate(req({ vpce: undefined })), 'Allow');
    assert.equal(q.evaluate(req({ vpce: 'vpce-9' })), 'NoMatch');
    assert.equal(
      policy(allow({ Condition: { Null: { 'aws:SourceVpce': 'true' } } })).evaluate(req({ vpce: undefined })),
      'Allow',
    );
  });

  it('execute-api:/stage/METHOD/path resources, expanded to the API’s ARN, with wildcards; NotResource', () => {
    const p = policy(allow({ Resource: ['execute-api:/prod/GET/sessions/*', 'execute-api:/*/POST/telemetry'] }));
    assert.equal(p.evaluate(req()), 'Allow');
    assert.equal(p.evaluate(req({ resource: `${API}/prod/POST/sessions/ses-1` })), 'NoMatch');
    assert.equal(p.evaluate(req({ resource: `${API}/beta/POST/telemetry` })), 'Allow');
    assert.equal(
      p.evaluate(req({ resource: `arn:aws:execute-api:us-east-1:123456789012:otherapi/prod/GET/sessions/x` })),
      'NoMatch',
    );
    const n = policy({ ...allow({ Effect: 'Deny' }), Resource: undefined, NotResource: 'execute-api:/*/GET/*' });
    assert.equal(n.evaluate(req()), 'NoMatch');
    assert.equal(n.evaluate(req({ resource: `${API}/prod/DELETE/sessions/ses-1` })), 'Deny');
  });

  it('refuses what it does not evaluate rather than guess: unknown keys, set operators, NotPrincipal, wildcard principals', () => {
    for (const s of [
      allow({ Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-1' } } }),
      allow({ Condition: { 'ForAnyValue:StringEquals': { 'aws:SourceVpce': 'vpce-1' } } }),
      allow({ Condition: { DateGreaterThan: { 'aws:SourceVpce': 'x' } } }),
      { ...allow(), Principal: undefined, NotPrincipal: { AWS: ROLE } },
      allow({ Principal: { AWS: 'arn:aws:iam::123456789012:role/aidops-*' } }),
    ])
      assert.throws(() => policy(s), UnsupportedPolicyError);
  });
});

describe('throttling', () => {
  const settings = [
    { ResourcePath: '/*', HttpMethod: '*', ThrottlingRateLimit: 100, ThrottlingBurstLimit: 50 },
    { ResourcePath: '/~1sessions~1{id}', HttpMethod: 'GET', ThrottlingRateLimit: 2, ThrottlingBurstLimit: 3 },
  ];
  it('a method’s own setting, else the stage default, else none', () => {
    assert.deepEqual(throttleLimit(settings, '/sessions/{id}', 'GET'), { rate: 2, burst: 3 });
    assert.deepEqual(throttleLimit(settings, '/sessions/{id}', 'POST'), { rate: 100, burst: 50 });
    assert.equal(throttleLimit([], '/x', 'GET'), undefined);
  });
  it('a token bucket: the burst at once, then the rate', () => {
    const b = new TokenBuckets();
    const limit = { rate: 2, burst: 3 };
    assert.deepEqual(
      [0, 0, 0, 0].map(() => b.take('k', limit, 0)),
      [true, true, true, false],
    );
    assert.equal(b.take('k', limit, 499), false);
    assert.equal(b.take('k', limit, 501), true);
    assert.equal(b.take('other', limit, 501), true);
  });
});

describe('proxy response mapping', () => {
  it('headers and multiValueHeaders merged (a name in both keeps the multi values); body as text', () => {
    const r = proxyReply(
      { statusCode: 201, headers: { A: '1', B: 2 }, multiValueHeaders: { B: ['x', 'y'], C: [true] }, body: 'ok' },
      undefined,
      [],
    );
    assert.deepEqual(r, {
      status: 201,
      headers: [
        ['A', '1'],
        ['B', 'x'],
        ['B', 'y'],
        ['C', 'true'],
      ],
      body: Buffer.from('ok'),
    });
  });
  it('malformed answers (not an object, no statusCode, a non-string body, an unknown key) are refused', () => {
    for (const out of [
      null,
      'x',
      [],
      {},
      { statusCode: 200, body: {} },
      { statusCode: 200, extra: 1 },
      { statusCode: 99 },
    ])
      assert.equal(proxyReply(out, undefined, []), undefined, JSON.stringify(out));
  });
});
