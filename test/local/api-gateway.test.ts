/**
 * The API Gateway stand-in end to end, over a small CDK app
 * (./api-gateway/stack.ts): requests signed with moto-issued credentials reach
 * the real handler with the identity API Gateway would report; everything API
 * Gateway refuses is refused with its status and error type.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { apiRequest, callApi, sendApiRequest, signApiRequest } from '../../local/standins/api-gateway/client.ts';
import { SOURCE_VPCE_HEADER } from '../../local/standins/api-gateway/server.ts';
import { useRuntime } from '../helpers/runtime.ts';
import { ADMITTED_VPCE, apiFixtureStacks } from './api-gateway/stack.ts';

const runtime = useRuntime({ stacks: apiFixtureStacks() });
const INSTANCE = 'i-0123456789abcdef0';
const oneSecondLater = (amzDate: string) =>
  new Date(Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z')) + 1000)
    .toISOString()
    .replace(/[-:]|\.\d{3}/g, '');
const echoed = (body: unknown) => (body as { event: APIGatewayProxyEvent }).event;

describe('API Gateway stand-in: a signed request from a moto-assumed role', () => {
  it('reaches the handler with the assumed-role session as its identity, and the event API Gateway builds', async () => {
    const rt = runtime();
    const credentials = await rt.assumeRole('GuestRole', INSTANCE);
    const url = `${rt.apiEndpoint('Api')}items/42?tag=a&tag=b%20c&q=x%2By`;
    const res = await callApi(url, { credentials, headers: { 'X-Custom': 'one', 'User-Agent': 'guest-agent/1' } });
    assert.equal(res.status, 200, res.text);
    const body = res.json() as { event: APIGatewayProxyEvent; mark: string };
    const e = body.event;
    assert.equal(body.mark, 'from-the-template', 'the handler runs with its environment from the template');
    const roleName = rt.ref('GuestRole');
    const id = e.requestContext.identity;
    assert.equal(id.userArn, `arn:aws:sts::123456789012:assumed-role/${roleName}/${INSTANCE}`);
    assert.match(id.caller ?? '', new RegExp(`^AROA[A-Z0-9]+:${INSTANCE}$`));
    assert.equal(id.user, id.caller);
    assert.equal(id.accessKey, credentials.accessKeyId);
    assert.equal(id.accountId, '123456789012');
    assert.equal(id.sourceIp, '127.0.0.1');
    assert.equal(id.userAgent, 'guest-agent/1');
    assert.equal(id.cognitoIdentityId, null);
    assert.equal(id.cognitoIdentityPoolId, null);
    assert.equal(id.cognitoAuthenticationType, null);
    assert.equal(id.cognitoAuthenticationProvider, null);
    assert.equal(id.vpceId, ADMITTED_VPCE);
    assert.equal(e.resource, '/items/{id}');
    assert.equal(e.path, '/items/42');
    assert.equal(e.httpMethod, 'GET');
    assert.deepEqual(e.pathParameters, { id: '42' });
    assert.deepEqual(e.stageVariables, { mode: 'fixture' });
    assert.deepEqual(e.queryStringParameters, { tag: 'b c', q: 'x+y' });
    assert.deepEqual(e.multiValueQueryStringParameters, { tag: ['a', 'b c'], q: ['x+y'] });
    assert.equal(e.headers['X-Custom'], 'one');
    assert.deepEqual(e.multiValueHeaders['X-Custom'], ['one']);
    assert.equal(e.body, null);
    assert.equal(e.isBase64Encoded, false);
    const ctx = e.requestContext;
    assert.equal(ctx.stage, 'prod');
    assert.equal(ctx.resourcePath, '/items/{id}');
    assert.equal(ctx.httpMethod, 'GET');
    assert.equal(ctx.path, '/prod/items/42');
    assert.equal(ctx.apiId, rt.ref('Api'));
    assert.equal(ctx.accountId, '123456789012');
    assert.match(ctx.requestId, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers['x-amzn-requestid'], ctx.requestId);
    assert.ok(ctx.extendedRequestId);
    assert.ok(ctx.domainName);
    // The function's answer, mapped back: single and multi-value headers merged.
    assert.equal(res.headers['x-echo'], 'single');
    assert.equal(res.headers['x-both'], 'm1, m2');
  });

  it('an instance’s credentials are its profile role’s session named after the instance, as in EC2', async () => {
    const rt = runtime();
    const run = await new EC2Client(rt.clientConfig()).send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 'm6a.large',
        IamInstanceProfile: { Name: rt.ref('GuestProfile') },
      }),
    );
    const instanceId = run.Instances![0]!.InstanceId!;
    const credentials = await rt.instanceCredentials(instanceId);
    const res = await callApi(`${rt.apiEndpoint('Api')}items/42`, { credentials });
    assert.equal(res.status, 200, res.text);
    assert.equal(
      echoed(res.json()).requestContext.identity.userArn,
      `arn:aws:sts::123456789012:assumed-role/${rt.ref('GuestRole')}/${instanceId}`,
    );
  });

  it('a proxy resource takes the rest of the path; a malformed JSON body reaches the handler as sent', async () => {
    const rt = runtime();
    const credentials = await rt.assumeRole('GuestRole', INSTANCE);
    const proxied = await callApi(`${rt.apiEndpoint('Api')}some/deep/path`, { method: 'DELETE', credentials });
    assert.equal(proxied.status, 200, proxied.text);
    const p = echoed(proxied.json());
    assert.equal(p.resource, '/{proxy+}');
    assert.deepEqual(p.pathParameters, { proxy: 'some/deep/path' });
    assert.equal(p.httpMethod, 'DELETE');

    const malformed = '{"evidence": "abc", ';
    const res = await callApi(`${rt.apiEndpoint('Api')}items/7`, {
      method: 'POST',
      body: malformed,
      headers: { 'Content-Type': 'application/json' },
      credentials,
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(echoed(res.json()).body, malformed);
    assert.equal(echoed(res.json()).isBase64Encoded, false);
  });

  it('a binary media type body arrives base64; a base64 answer is decoded for a caller that accepts it', async () => {
    const rt = runtime();
    const credentials = await rt.assumeRole('GuestRole', INSTANCE);
    const bytes = Buffer.from([0, 159, 146, 150, 255]);
    const up = await callApi(`${rt.apiEndpoint('Api')}items/7`, {
      method: 'POST',
      body: bytes,
      headers: { 'Content-Type': 'application/octet-stream' },
      credentials,
    });
    assert.equal(echoed(up.json()).body, bytes.toString('base64'));
    assert.equal(echoed(up.json()).isBase64Encoded, true);
    const down = await callApi(`${rt.apiEndpoint('Api')}binary`, {
      credentials,
      headers: { Accept: 'application/octet-stream' },
    });
    assert.deepEqual([...down.body], [0, 1, 2, 254, 255]);
    const text = await callApi(`${rt.apiEndpoint('Api')}binary`, { credentials });
    assert.equal(text.text, Buffer.from([0, 1, 2, 254, 255]).toString('base64'), 'no Accept match: the base64 text');
  });

  it('IAM user keys, GetSessionToken credentials and moto’s default pair sign as their principals', async () => {
    const rt = runtime();
    const iam = new IAMClient(rt.clientConfig());
    await iam.send(new CreateUserCommand({ UserName: 'alice', Path: '/operators/' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'alice' }))).AccessKey!;
    const alice = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    // A user is not admitted by the resource policy except on the public and throttled routes.
    const asAlice = await callApi(`${rt.apiEndpoint('Api')}throttled`, { credentials: alice });
    assert.equal(asAlice.status, 200, asAlice.text);
    assert.equal(
      echoed(asAlice.json()).requestContext.identity.userArn,
      'arn:aws:iam::123456789012:user/operators/alice',
    );

    const sts = new STSClient({ ...rt.clientConfig(), credentials: alice });
    const st = (await sts.send(new GetSessionTokenCommand({}))).Credentials!;
    const session = await callApi(`${rt.apiEndpoint('Api')}throttled`, {
      credentials: {
        accessKeyId: st.AccessKeyId!,
        secretAccessKey: st.SecretAccessKey!,
        sessionToken: st.SessionToken!,
      },
    });
    assert.equal(session.status, 200, session.text);
    assert.equal(
      echoed(session.json()).requestContext.identity.userArn,
      'arn:aws:iam::123456789012:user/operators/alice',
    );

    const moto = await callApi(`${rt.apiEndpoint('Api')}throttled`, {
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    assert.equal(moto.status, 200, moto.text);
    assert.equal(echoed(moto.json()).requestContext.identity.userArn, 'arn:aws:sts::123456789012:user/moto');
    rt.apiGateway!.resetThrottles();
  });

  it('a NONE method the policy opens to anyone answers an unsigned caller, with a null identity', async () => {
    const rt = runtime();
    const res = await callApi(`${rt.apiEndpoint('Api')}public`);
    assert.equal(res.status, 200, res.text);
    const id = echoed(res.json()).requestContext.identity;
    assert.equal(id.userArn, null);
    assert.equal(id.caller, null);
    assert.equal(id.accessKey, null);
  });
});

describe('API Gateway stand-in: what API Gateway refuses', () => {
  const errorOf = (res: { status: number; headers: Record<string, unknown>; text: string }) => ({
    status: res.status,
    type: res.headers['x-amzn-errortype'],
  });

  it('unsigned: 403 MissingAuthenticationTokenException; a resource without the method the same; an unknown stage 403', async () => {
    const rt = runtime();
    const res = await callApi(`${rt.apiEndpoint('Api')}items/42`);
    assert.deepEqual(errorOf(res), { status: 403, type: 'MissingAuthenticationTokenException' });
    assert.deepEqual(res.json(), { message: 'Missing Authentication Token' });
    const credentials = await rt.assumeRole('GuestRole', INSTANCE);
    const root = await callApi(rt.apiEndpoint('Api'), { credentials });
    assert.deepEqual(errorOf(root), { status: 403, type: 'MissingAuthenticationTokenException' }, 'no method on /');
    const noStage = await callApi(rt.apiEndpoint('Api').replace('/prod/', '/beta/items/42'), { credentials });
    assert.deepEqual(errorOf(noStage), { status: 403, type: 'ForbiddenException' });
    // What no literal or {param} resource takes, the greedy {proxy+} does.
    const proxied = await callApi(`${rt.apiEndpoint('Api')}items/42/deeper`, { credentials });
    assert.equal(echoed(proxied.json()).resource, '/{proxy+}');
  });

  it('tampered body, header, path or date: 403 InvalidSignatureException', async () => {
    const rt = runtime();
    const credentials = await rt.assumeRole('GuestRole', INSTANCE);
    const req = apiRequest(`${rt.apiEndpoint('Api')}items/42`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json', 'x-session': 'ses-1' },
    });
    const signed = await signApiRequest(req, credentials);
    assert.equal((await sendApiRequest(signed)).status, 200, 'the untampered request passes');
    const tampered = [
      { ...signed, body: '{"a":2}' },
      { ...signed, headers: { ...signed.headers, 'x-session': 'ses-2' } },
      { ...signed, path: signed.path.replace('/42', '/43') },
      { ...signed, headers: { ...signed.headers, 'x-amz-date': oneSecondLater(signed.headers['x-amz-date']!) } },
    ];
    for (const t of tampered) {
      const res = await sendApiRequest(t);
      assert.deepEqual(errorOf(res), { status: 403, type: 'InvalidSignatureException' }, res.text);
    }
  });

  it('an unknown key: 403 UnrecognizedClientException; a date 6 minutes old: 403', async () => {
    const rt = runtime();
    const unknown = await callApi(`${rt.apiEndpoint('Api')}items/42`, {
      credentials: { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x' },
    });
    assert.deepEqual(errorOf(unknown), { status: 403, type: 'UnrecognizedClientException' });
    const credentials = await rt.assumeRole('GuestRole', INSTANCE);
    const noToken = await callApi(`${rt.apiEndpoint('Api')}items/42`, {
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    });
    assert.deepEqual(
      errorOf(noToken),
      { status: 403, type: 'UnrecognizedClientException' },
      'a session key needs its token',
    );
    const old = await callApi(`${rt.apiEndpoint('Api')}items/42`, {
      credentials,
      signingDate: new Date(Date.now() - 6 * 60_000),
    });
    assert.deepEqual(errorOf(old), { status: 403, type: 'InvalidSignatureException' });
    assert.match(old.text, /Signature expired/);
  });

  it('the wrong VPC endpoint: 403 by the resource policy’s explicit Deny; so is a role it does not admit', async () => {
    const rt = runtime();
    const credentials = await rt.assumeRole('GuestRole', INSTANCE);
    const other = await callApi(`${rt.apiEndpoint('Api')}items/42`, {
      credentials,
      headers: { [SOURCE_VPCE_HEADER]: 'vpce-0ffffffffffffffff' },
    });
    assert.deepEqual(errorOf(other), { status: 403, type: 'AccessDeniedException' });
    assert.match((other.json() as { Message: string }).Message, /with an explicit deny$/);
    const none = await callApi(`${rt.apiEndpoint('Api')}public`, { headers: { [SOURCE_VPCE_HEADER]: 'none' } });
    assert.deepEqual(errorOf(none), { status: 403, type: 'AccessDeniedException' }, 'not through an endpoint at all');

    const stranger = await rt.assumeRole('OtherRole', INSTANCE);
    const res = await callApi(`${rt.apiEndpoint('Api')}items/42`, { credentials: stranger });
    assert.deepEqual(errorOf(res), { status: 403, type: 'AccessDeniedException' });
    assert.match(
      (res.json() as { Message: string }).Message,
      /^User: arn:aws:sts::123456789012:assumed-role\/.+ is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:.+\/prod\/GET\/items\/42 because no resource-based policy allows the execute-api:Invoke action$/,
    );
  });

  it('throttling: 429 TooManyRequestsException after the method’s burst, per caller', async () => {
    const rt = runtime();
    rt.apiGateway!.resetThrottles();
    const first = await rt.assumeRole('GuestRole', 'i-00000000000000001');
    const second = await rt.assumeRole('GuestRole', 'i-00000000000000002');
    const url = `${rt.apiEndpoint('Api')}throttled`;
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await callApi(url, { credentials: first })).status);
    assert.deepEqual(statuses, [200, 200, 429, 429], 'burst 2, then 1 a second');
    const throttled = await callApi(url, { credentials: first });
    assert.deepEqual(errorOf(throttled), { status: 429, type: 'TooManyRequestsException' });
    assert.deepEqual(throttled.json(), { message: 'Too Many Requests' });
    assert.equal((await callApi(url, { credentials: second })).status, 200, 'another caller has its own bucket');
    assert.equal(
      (await callApi(`${rt.apiEndpoint('Api')}items/1`, { credentials: first })).status,
      200,
      'other methods are not throttled',
    );
  });

  it('a handler that throws, or answers malformed: 502 {"message": "Internal server error"}', async () => {
    const rt = runtime();
    const credentials = await rt.assumeRole('GuestRole', INSTANCE);
    for (const path of ['boom', 'malformed']) {
      const res = await callApi(`${rt.apiEndpoint('Api')}${path}`, { credentials });
      assert.equal(res.status, 502, path);
      assert.deepEqual(res.json(), { message: 'Internal server error' });
    }
  });
});
