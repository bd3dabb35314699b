/**
 * The API Gateway stand-in's SigV4 verifier against the AWS SDK's own signer
 * (`@smithy/signature-v4`): what the SDK signs verifies, whatever the method,
 * path, query or body; any change after signing, a stale date, an unknown
 * key, a missing or wrong session token, expired credentials, or a scope for
 * another region or service is refused with API Gateway's error type.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AwsCredentialIdentity } from '@smithy/types';
import { type ApiRequest, apiRequest, signApiRequest, wireQuery } from '../../local/standins/api-gateway/client.ts';
import {
  canonicalPath,
  canonicalQuery,
  type ReceivedRequest,
  type SigningSecret,
  verifySigV4,
} from '../../local/standins/api-gateway/sigv4.ts';

const LONG_TERM = { accessKeyId: 'AKIAEXAMPLELONGTERM1', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const SESSION = {
  accessKeyId: 'ASIAEXAMPLESESSION01',
  secretAccessKey: 'session/secret+key=0123456789abcdefghijkl',
  sessionToken: 'FQoGZXIvYXdzEXAMPLE//token+with/slashes==',
};
const EXPIRED = { accessKeyId: 'ASIAEXAMPLEEXPIRED01', secretAccessKey: 'expired-secret', sessionToken: 'old-token' };
const SECRETS = new Map<string, SigningSecret>([
  [LONG_TERM.accessKeyId, { secretAccessKey: LONG_TERM.secretAccessKey }],
  [SESSION.accessKeyId, { secretAccessKey: SESSION.secretAccessKey, sessionToken: SESSION.sessionToken }],
  [
    EXPIRED.accessKeyId,
    { secretAccessKey: EXPIRED.secretAccessKey, sessionToken: EXPIRED.sessionToken, expiration: Date.now() - 1000 },
  ],
]);
const lookup = (akid: string, token: string | undefined) => {
  const s = SECRETS.get(akid);
  return s && s.sessionToken === token ? s : undefined;
};
const BASE = 'http://127.0.0.1:4510/prod/';

/** The request as the server receives it (header names lower-cased by the HTTP parser). */
function received(r: ApiRequest, rawQuery = wireQuery(r.query)): ReceivedRequest {
  const headers: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(r.headers))
    headers[k.toLowerCase()] = [...(headers[k.toLowerCase()] ?? []), v.trim()];
  return {
    method: r.method,
    url: rawQuery ? `${r.path}?${rawQuery}` : r.path,
    headers,
    body: r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body),
  };
}
async function verify(r: ApiRequest, opts: { rawQuery?: string; now?: number; region?: string } = {}) {
  return await verifySigV4(received(r, opts.rawQuery), { region: opts.region ?? 'us-east-1', lookup, now: opts.now });
}
const failure = (v: Awaited<ReturnType<typeof verify>>) => (v.ok ? 'ok' : v.type);

describe('SigV4 verifier: what the SDK signs, verifies', () => {
  const cases: {
    name: string;
    url: string;
    method: string;
    body?: string | Buffer;
    headers?: Record<string, string>;
  }[] = [
    { name: 'GET, no query', url: `${BASE}items/42`, method: 'GET' },
    { name: 'GET, the stage root', url: BASE, method: 'GET' },
    {
      name: 'POST with a JSON body and extra headers',
      url: `${BASE}items`,
      method: 'POST',
      body: '{"evidence":"ä ✓ \\u0000"}',
      headers: { 'content-type': 'application/json', 'x-session': '  spaced    value  ' },
    },
    { name: 'PUT with a binary body', url: `${BASE}blob`, method: 'PUT', body: Buffer.from([0, 255, 128, 10, 13]) },
    {
      name: 'query with special characters, repeated keys, empty values',
      url: `${BASE}search?q=${encodeURIComponent("a b+c/d?e=f&g~h*i'j(k)!")}&z=1&a=2&a=1&empty=&${encodeURIComponent('ключ')}=${encodeURIComponent('значение ✓')}`,
      method: 'GET',
    },
    { name: 'a path with encoded characters', url: `${BASE}items/a%20b%2Fc%25d/%E2%9C%93`, method: 'DELETE' },
    { name: 'a path with dot segments and a trailing slash', url: `${BASE}items/./x/../y/`, method: 'GET' },
  ];
  for (const c of cases) {
    for (const creds of [LONG_TERM, SESSION]) {
      it(`${c.name} (${creds === SESSION ? 'session' : 'long-term'} credentials)`, async () => {
        const signed = await signApiRequest(
          apiRequest(c.url, { method: c.method, body: c.body, headers: c.headers }),
          creds,
        );
        const v = await verify(signed);
        assert.equal(failure(v), 'ok', v.ok ? '' : v.message);
      });
    }
  }

  it('a query sent with another, equivalent percent-encoding still verifies (decoded, then re-encoded)', async () => {
    const signed = await signApiRequest(apiRequest(`${BASE}q?tilde=a~b&paren=(x)&space=a%20b`), LONG_TERM);
    assert.equal(failure(await verify(signed, { rawQuery: 'paren=(x)&tilde=a%7Eb&space=a%20b' })), 'ok');
  });

  it('a date within 5 minutes of the server’s clock verifies, either side', async () => {
    for (const skew of [-4 * 60_000, 4 * 60_000]) {
      const signed = await signApiRequest(apiRequest(`${BASE}items`), LONG_TERM, {
        signingDate: new Date(Date.now() + skew),
      });
      assert.equal(failure(await verify(signed)), 'ok');
    }
  });

  it('the canonical path and query follow the specification’s examples', () => {
    assert.equal(canonicalPath('/documents%20and%20settings/'), '/documents%2520and%2520settings/');
    assert.equal(canonicalPath('/a/./b/../c//d'), '/a/c/d');
    assert.equal(canonicalPath(''), '/');
    assert.equal(canonicalQuery('b=2&a=3&a=1&c'), 'a=1&a=3&b=2&c=');
    assert.equal(canonicalQuery('k=%7e+%2B'), 'k=~%2B%2B');
  });
});

describe('SigV4 verifier: what it refuses', () => {
  const sign = (c: AwsCredentialIdentity = SESSION, opts: { signingDate?: Date; region?: string } = {}) =>
    signApiRequest(
      apiRequest(`${BASE}items/42?x=1`, {
        method: 'POST',
        body: '{"a":1}',
        headers: { 'content-type': 'application/json', 'x-session': 'ses-1' },
      }),
      c,
      opts,
    );

  it('no Authorization header: MissingAuthenticationTokenException', async () => {
    const v = await verify(apiRequest(`${BASE}items/42`));
    assert.equal(failure(v), 'MissingAuthenticationTokenException');
  });

  it('a changed body, signed header, path, query, method or date: InvalidSignatureException', async () => {
    const s = await sign();
    const changed: ApiRequest[] = [
      { ...s, body: '{"a":2}' },
      { ...s, headers: { ...s.headers, 'x-session': 'ses-2' } },
      { ...s, path: '/prod/items/43' },
      { ...s, query: { x: '2' } },
      { ...s, query: { x: '1', y: '1' } },
      { ...s, method: 'PUT' },
      {
        ...s,
        headers: {
          ...s.headers,
          'x-amz-date': s.headers['x-amz-date']!.replace(/\d(Z)$/, (d) => `${(Number(d[0]) + 1) % 10}Z`),
        },
      },
      {
        ...s,
        headers: {
          ...s.headers,
          authorization: s.headers.authorization!.replace(/Signature=[0-9a-f]{4}/, 'Signature=0000'),
        },
      },
    ];
    for (const c of changed) assert.equal(failure(await verify(c)), 'InvalidSignatureException');
    const failed = await verify(changed[0]!);
    assert.ok(!failed.ok && failed.message.includes('The Canonical String for this request should have been'));
  });

  it('an unsigned header may change (it is not part of the signature)', async () => {
    const s = await sign();
    assert.equal(failure(await verify({ ...s, headers: { ...s.headers, 'user-agent': 'anything' } })), 'ok');
  });

  it('a date more than 5 minutes off the server’s clock: InvalidSignatureException (expired / not yet current)', async () => {
    const old = await verify(await sign(SESSION, { signingDate: new Date(Date.now() - 6 * 60_000) }));
    assert.ok(!old.ok && old.type === 'InvalidSignatureException' && old.message.startsWith('Signature expired:'));
    const future = await verify(await sign(SESSION, { signingDate: new Date(Date.now() + 6 * 60_000) }));
    assert.ok(!future.ok && future.message.startsWith('Signature not yet current:'));
  });

  it('an unknown key, a session key without its token or with another: UnrecognizedClientException', async () => {
    assert.equal(
      failure(await verify(await sign({ ...LONG_TERM, accessKeyId: 'AKIANOTISSUED0000000' }))),
      'UnrecognizedClientException',
    );
    const noToken = await sign({
      accessKeyId: SESSION.accessKeyId,
      secretAccessKey: SESSION.secretAccessKey,
      sessionToken: '',
    });
    assert.equal(failure(await verify(noToken)), 'UnrecognizedClientException');
    assert.equal(
      failure(await verify(await sign({ ...SESSION, sessionToken: 'forged' }))),
      'UnrecognizedClientException',
    );
    assert.equal(
      failure(await verify(await sign({ ...LONG_TERM, sessionToken: SESSION.sessionToken }))),
      'UnrecognizedClientException',
    );
  });

  it('the right key signed with the wrong secret: InvalidSignatureException', async () => {
    assert.equal(
      failure(await verify(await sign({ ...SESSION, secretAccessKey: 'not-the-secret' }))),
      'InvalidSignatureException',
    );
  });

  it('expired credentials: ExpiredTokenException (403)', async () => {
    const v = await verify(await sign(EXPIRED));
    assert.ok(!v.ok && v.type === 'ExpiredTokenException' && v.status === 403);
  });

  it('a scope for another region, or Host left unsigned: refused', async () => {
    const v = await verify(await sign(SESSION, { region: 'eu-west-1' }));
    assert.ok(!v.ok && v.type === 'InvalidSignatureException' && /valid region/.test(v.message));
    const s = await sign();
    const noHost = s.headers.authorization!.replace('SignedHeaders=', 'SignedHeaders=').replace(/host;/, '');
    assert.equal(
      failure(await verify({ ...s, headers: { ...s.headers, authorization: noHost } })),
      'IncompleteSignatureException',
    );
  });
});
