import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  hmacKeyFromBytes,
  makeRedactor,
  parsePrivacyConfig,
  REDACTED,
  tokenize,
} from '../../../lambdas/audit/redact.ts';
import { newEvent, parseAuditEvent } from '../../../lambdas/audit/schema.ts';
import { ValidationError } from '../../../lambdas/shared/errors.ts';

const key = hmacKeyFromBytes(randomBytes(32));

const prompt = (text: string, user = 'carol@example.com') =>
  newEvent('intent', {
    source: 's',
    sessionId: 's1',
    user: { id: user, type: 'human' },
    detail: { type: 'prompt', text },
  });

describe('audit privacy', () => {
  it('defaults tokenize prompt text, file contents and user ids; the result still parses', () => {
    const r = makeRedactor(parsePrivacyConfig({}), key);
    const e = prompt('my password is hunter2');
    const out = r(e);
    assert.ok(JSON.stringify(e).includes('hunter2'), 'input not mutated');
    assert.ok(!JSON.stringify(out).includes('hunter2'));
    assert.ok(!JSON.stringify(out).includes('carol@example.com'));
    assert.equal(parseAuditEvent(out).kind, 'intent');
    const w = newEvent('action', {
      source: 's',
      detail: { type: 'fs_write', path: '/p', bytes: 1, outcome: 'success', content: 'SECRET' },
    });
    const wo = r(w) as typeof w;
    assert.ok(wo.detail.type === 'fs_write' && wo.detail.content?.startsWith('hmac-sha256:'));
    assert.equal(wo.detail.path, '/p');
  });

  it('equal values give equal tokens, different values or keys give different ones', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        assert.equal(tokenize(key, a), tokenize(key, a));
        if (a !== b) assert.notEqual(tokenize(key, a), tokenize(key, b));
      }),
      { numRuns: 10_000 },
    );
    assert.notEqual(tokenize(key, 'x'), tokenize(hmacKeyFromBytes(randomBytes(32)), 'x'));
  });

  it('redact mode, per-kind selectors, arrays and records', () => {
    const r = makeRedactor(
      parsePrivacyConfig({
        defaultAction: 'redact',
        fields: [
          { path: 'detail.args', kinds: ['action'] },
          { path: 'detail.arguments', kinds: ['intent'], action: 'tokenize' },
        ],
      }),
      key,
    );
    const spawn = newEvent('action', {
      source: 's',
      detail: { type: 'process_spawn', executable: 'curl', args: ['-H', 'Authorization: x'], outcome: 'success' },
    });
    const out = r(spawn) as typeof spawn;
    assert.ok(out.detail.type === 'process_spawn');
    assert.deepEqual(out.detail.args, [REDACTED, REDACTED]);
    const plug = newEvent('intent', {
      source: 's',
      detail: { type: 'plugin_invocation', plugin: 'p', operation: 'o', arguments: { token: 'abc', n: 3 } },
    });
    const po = r(plug) as typeof plug;
    assert.ok(po.detail.type === 'plugin_invocation');
    assert.match(String(po.detail.arguments?.token), /^hmac-sha256:/);
    assert.equal(po.detail.arguments?.n, 3);
  });

  it('config is validated: identifying fields cannot be redacted, tokenizing needs a key', () => {
    assert.throws(() => parsePrivacyConfig({ fields: [{ path: 'sessionId' }] }), ValidationError);
    assert.throws(() => parsePrivacyConfig({ fields: [{ path: 'user..id' }] }), ValidationError);
    assert.throws(() => parsePrivacyConfig({ mode: 'x' }), ValidationError);
    assert.throws(() => makeRedactor(parsePrivacyConfig({}), null), ValidationError);
    assert.doesNotThrow(() => makeRedactor(parsePrivacyConfig({ defaultAction: 'redact' }), null));
    assert.throws(() => hmacKeyFromBytes(randomBytes(16)), /at least 32 bytes/);
  });
});
