/**
 * LOCAL STAND-IN for API Gateway REST APIs (moto stores REST APIs but cannot
 * run our handlers behind them). Each REST API of the synthesized templates is
 * served on its own port on 127.0.0.1 (`http://127.0.0.1:PORT/STAGE/…`, the
 * shape of `https://ID.execute-api.REGION.amazonaws.com/STAGE/…`), exactly as
 * synthesized: the route (resource tree, method or ANY), its authorization
 * (AWS_IAM: SigV4 checked against the credentials moto issued; NONE), the
 * resource policy, the stage's throttling, the Lambda permission, and the
 * AWS_PROXY integration (the real handler, invoked through the local runtime,
 * with the event API Gateway builds). Errors have API Gateway's statuses,
 * `x-amzn-ErrorType` and bodies.
 *
 * A request comes through the API's VPC endpoint when the API is PRIVATE (its
 * first VpcEndpointIds entry, else the templates' only execute-api endpoint);
 * the `x-aidops-source-vpce` header names another one for that request (`none`:
 * not through an endpoint), so a test can prove a resource policy's Deny.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Json } from '../../asl/sfn-local.ts';
import type { IssuedCredential, IssuedCredentials, Principal } from './credentials.ts';
import { type HttpReply, proxyEvent, proxyReply } from './event.ts';
import { functionNameOf, type MethodModel, type ResourceNode, type RestApiModel, type StageModel } from './model.ts';
import { type CompiledPolicy, compilePolicy } from './policy.ts';
import { verifySigV4 } from './sigv4.ts';
import { TokenBuckets, throttleLimit } from './throttle.ts';

/** The per-request control header (not passed to the handler). */
export const SOURCE_VPCE_HEADER = 'x-aidops-source-vpce';
const LOCAL_VPCE = 'vpce-0standin0000local';

export interface ApiGatewayStandInOptions {
  readonly apis: readonly RestApiModel[];
  readonly credentials: IssuedCredentials;
  /** Invokes a function's real handler (the local runtime's in-process invoke). */
  readonly invoke: (functionArn: string, event: Json) => Promise<Json>;
  readonly region: string;
  readonly accountId: string;
  /**
   * Whose bucket a throttled request drains: each caller's own ('caller'), or
   * one per method shared by every caller, as AWS's stage limits are ('method').
   * @default 'caller'
   */
  readonly throttleScope?: 'caller' | 'method';
}

export interface StandInRequest {
  readonly t: number;
  readonly api: string;
  readonly method: string;
  readonly path: string;
  readonly resource?: string;
  readonly status: number;
  readonly errorType?: string;
  readonly caller?: string;
  readonly ms: number;
  /** Why the stand-in itself failed (the caller got a 500). */
  readonly failure?: string;
}

interface ServedApi {
  readonly model: RestApiModel;
  readonly policy?: CompiledPolicy;
  readonly sourceVpce?: string;
  readonly server: Server;
  readonly port: number;
}

interface Route {
  readonly method: MethodModel;
  readonly pathParameters: Record<string, string> | null;
}

/** The most specific resource for the segments (literal, then `{param}`, then `{greedy+}`), and its method. */
export function matchRoute(root: ResourceNode, segments: readonly string[], verb: string): Route | undefined {
  type Hit = { node: ResourceNode; params: Record<string, string> };
  const walk = (node: ResourceNode, i: number, params: Record<string, string>): Hit | undefined => {
    if (i === segments.length) return { node, params };
    const seg = segments[i]!;
    const literal = node.children.find((c) => !c.pathPart.startsWith('{') && c.pathPart === safeDecode(seg));
    const param = node.children.find((c) => /^\{[^+]+\}$/.test(c.pathPart));
    const greedy = node.children.find((c) => /^\{.+\+\}$/.test(c.pathPart));
    return (
      (literal && walk(literal, i + 1, params)) ||
      (param && walk(param, i + 1, { ...params, [param.pathPart.slice(1, -1)]: seg })) ||
      (greedy && {
        node: greedy,
        params: { ...params, [greedy.pathPart.slice(1, -2)]: segments.slice(i).join('/') },
      }) ||
      undefined
    );
  };
  const hit = walk(root, 0, {});
  const method = hit?.node.methods.get(verb) ?? hit?.node.methods.get('ANY');
  if (!hit || !method) return undefined;
  return { method, pathParameters: Object.keys(hit.params).length > 0 ? hit.params : null };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** IAM wildcards over a whole string (a Lambda permission's SourceArn). */
const wildcard = (pattern: string, value: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    's',
  ).test(value);

function gatewayError(status: number, type: string | undefined, message: string, key = 'message'): HttpReply {
  return {
    status,
    headers: [['Content-Type', 'application/json'], ...(type ? [['x-amzn-ErrorType', type] as const] : [])],
    body: Buffer.from(JSON.stringify({ [key]: message })),
  };
}
const INTERNAL = () => gatewayError(500, 'InternalServerErrorException', 'Internal server error');
const BAD_GATEWAY = () => gatewayError(502, 'InternalServerErrorException', 'Internal server error');

export class ApiGatewayStandIn {
  /** Every request served, in order. */
  readonly requests: StandInRequest[] = [];
  private readonly apis: ServedApi[];
  private readonly opts: ApiGatewayStandInOptions;
  private readonly buckets = new TokenBuckets();

  private constructor(opts: ApiGatewayStandInOptions) {
    this.apis = [];
    this.opts = opts;
  }

  static async start(opts: ApiGatewayStandInOptions): Promise<ApiGatewayStandIn> {
    const standIn = new ApiGatewayStandIn(opts);
    try {
      for (const model of opts.apis) {
        const prefix = `arn:aws:execute-api:${opts.region}:${opts.accountId}:${model.id}`;
        const policy = model.policy === undefined ? undefined : compilePolicy(model.policy, prefix);
        const sourceVpce =
          model.endpointType === 'PRIVATE'
            ? (model.vpcEndpointIds[0] ??
              (model.executeApiEndpoints.length === 1 ? model.executeApiEndpoints[0] : LOCAL_VPCE))
            : undefined;
        const server = createServer((req, res) => {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => void standIn.serve(api, req, Buffer.concat(chunks), res));
        });
        server.keepAliveTimeout = 1000;
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
        const api: ServedApi = { model, policy, sourceVpce, server, port: (server.address() as AddressInfo).port };
        standIn.apis.push(api);
      }
    } catch (e) {
      await standIn.stop();
      throw e;
    }
    return standIn;
  }

  /** The REST APIs served, by logical id. */
  get logicalIds(): string[] {
    return this.apis.map((a) => a.model.logicalId);
  }

  /** `http://127.0.0.1:PORT/STAGE/` of the first REST API whose logical id starts with `prefix` (its only stage unless named). */
  endpoint(prefix: string, stage?: string): string {
    const api = this.apis.find((a) => a.model.logicalId.startsWith(prefix));
    if (!api)
      throw new Error(`no REST API ${prefix}* in the synthesized templates (have: ${this.logicalIds.join(', ')})`);
    const stages = [...api.model.stages.keys()];
    const name = stage ?? (stages.length === 1 ? stages[0] : undefined);
    if (!name || !api.model.stages.has(name))
      throw new Error(`REST API ${api.model.logicalId}: name one of its stages (${stages.join(', ')})`);
    return `http://127.0.0.1:${api.port}/${name}/`;
  }

  /** Forgets every caller's throttle bucket. */
  resetThrottles(): void {
    this.buckets.clear();
  }

  async stop(): Promise<void> {
    await Promise.all(this.apis.map((a) => close(a.server)));
  }

  private async serve(api: ServedApi, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const t = Date.now();
    const requestId = randomUUID();
    const extendedRequestId = `${randomBytes(6).toString('base64url')}=`;
    let route: Route | undefined;
    let principal: Principal | undefined;
    let reply: HttpReply;
    let failure: string | undefined;
    try {
      const r = await this.handle(api, req, body, { requestId, extendedRequestId, now: t });
      route = r.route;
      principal = r.principal;
      reply = r.reply;
    } catch (e) {
      // The stand-in's own failure (e.g. moto unreachable): API Gateway's 500, the cause kept in the log.
      failure = (e as Error).message;
      reply = INTERNAL();
    }
    const errorType = reply.headers.find(([k]) => k === 'x-amzn-ErrorType')?.[1];
    this.requests.push({
      t,
      api: api.model.logicalId,
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0]!,
      resource: route?.method.resourcePath,
      status: reply.status,
      errorType,
      caller: principal?.arn,
      ms: Date.now() - t,
      ...(failure ? { failure } : {}),
    });
    const headers: [string, string][] = [
      ...reply.headers.map(([k, v]) => [k, v] as [string, string]),
      ['x-amzn-RequestId', requestId],
      ['x-amz-apigw-id', extendedRequestId],
      ['Content-Length', String(reply.body.length)],
    ];
    if (!reply.headers.some(([k]) => k.toLowerCase() === 'content-type'))
      headers.push(['Content-Type', 'application/json']);
    res.writeHead(reply.status, headers.flat());
    res.end(reply.body);
  }

  private async handle(
    api: ServedApi,
    req: IncomingMessage,
    body: Buffer,
    ids: { requestId: string; extendedRequestId: string; now: number },
  ): Promise<{ reply: HttpReply; route?: Route; principal?: Principal }> {
    const { model } = api;
    const url = req.url ?? '/';
    const verb = (req.method ?? 'GET').toUpperCase();
    const segments = url
      .split('?')[0]!
      .split('/')
      .filter((s) => s !== '');
    const stage: StageModel | undefined = model.stages.get(safeDecode(segments[0] ?? ''));
    if (!stage) return { reply: gatewayError(403, 'ForbiddenException', 'Forbidden') };
    const route = matchRoute(model.root, segments.slice(1), verb);
    if (!route)
      return { reply: gatewayError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token') };
    const { method } = route;

    // Who is calling: a verified SigV4 signer (AWS_IAM), or anonymous (NONE).
    let credential: IssuedCredential | undefined;
    let accessKeyId: string | undefined;
    if (method.authorizationType === 'AWS_IAM') {
      const v = await verifySigV4(
        { method: verb, url, headers: req.headersDistinct as Record<string, string[]>, body },
        {
          region: this.opts.region,
          now: ids.now,
          lookup: (akid, token) => this.opts.credentials.find(akid, token),
        },
      );
      if (!v.ok) return { route, reply: gatewayError(v.status, v.type, v.message) };
      credential = v.credential;
      accessKeyId = v.accessKeyId;
    } else if (method.authorizationType !== 'NONE') {
      return {
        route,
        reply: gatewayError(
          500,
          undefined,
          `The local API Gateway stand-in does not implement ${method.authorizationType} authorizers`,
        ),
      };
    }
    const principal = credential?.principal;
    if (method.apiKeyRequired)
      return {
        route,
        principal,
        reply: gatewayError(500, undefined, 'The local API Gateway stand-in does not implement API keys'),
      };

    const override = req.headers[SOURCE_VPCE_HEADER];
    const sourceVpce = typeof override === 'string' ? (override === 'none' ? undefined : override) : api.sourceVpce;
    const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    const rest = `/${segments.slice(1).join('/')}`;
    const resourceArn = `arn:aws:execute-api:${this.opts.region}:${this.opts.accountId}:${model.id}/${stage.name}/${verb}${rest}`;

    // The resource policy: an explicit Deny always wins; a PRIVATE API, an anonymous caller (there is a
    // policy) or another account's caller needs its explicit Allow; a same-account signer is taken to
    // hold execute-api:Invoke in its own policies (the stand-in does not evaluate identity policies).
    const decision = api.policy?.evaluate({
      principal,
      action: 'execute-api:Invoke',
      resource: resourceArn,
      context: {
        'aws:sourcevpce': sourceVpce,
        'aws:principalarn': principal?.principalArn,
        'aws:principalaccount': principal?.accountId,
        'aws:principaltype': principal?.type,
        'aws:userid': principal?.id,
        'aws:username': principal?.type === 'User' ? principal.arn.split('/').pop() : undefined,
        'aws:sourceip': sourceIp,
        'aws:securetransport': 'true',
      },
    });
    const needsAllow =
      model.endpointType === 'PRIVATE' ||
      (api.policy !== undefined && (!principal || principal.accountId !== this.opts.accountId));
    if (decision === 'Deny' || (needsAllow && decision !== 'Allow')) {
      const who = principal?.arn ?? 'anonymous';
      const why =
        decision === 'Deny'
          ? 'with an explicit deny'
          : 'because no resource-based policy allows the execute-api:Invoke action';
      return {
        route,
        principal,
        reply: gatewayError(
          403,
          'AccessDeniedException',
          `User: ${who} is not authorized to perform: execute-api:Invoke on resource: ${resourceArn} ${why}`,
          'Message',
        ),
      };
    }

    const limit = throttleLimit(stage.methodSettings, method.resourcePath, method.httpMethod);
    if (limit) {
      const caller = this.opts.throttleScope === 'method' ? '' : (principal?.arn ?? `ip:${sourceIp}`);
      const key = `${model.id}|${stage.name}|${method.resourceId}|${method.httpMethod}|${caller}`;
      if (!this.buckets.take(key, limit))
        return { route, principal, reply: gatewayError(429, 'TooManyRequestsException', 'Too Many Requests') };
    }

    const integration = method.integration;
    if (integration?.type !== 'AWS_PROXY' || !integration.functionArn)
      return {
        route,
        principal,
        reply: gatewayError(
          500,
          undefined,
          `The local API Gateway stand-in implements Lambda proxy integrations (AWS_PROXY) only, not ${integration?.type ?? 'none'}`,
        ),
      };
    const fnName = functionNameOf(integration.functionArn);
    const permitted = model.permissions.some(
      (p) =>
        p.functionName === fnName &&
        p.principal === 'apigateway.amazonaws.com' &&
        (p.action === 'lambda:InvokeFunction' || p.action === 'lambda:*') &&
        (p.sourceArn === undefined || wildcard(p.sourceArn, resourceArn)),
    );
    // AWS: "Execution failed due to configuration error: Invalid permissions on Lambda function".
    if (!permitted) return { route, principal, reply: INTERNAL() };

    const headers: string[] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
      if (req.rawHeaders[i]!.toLowerCase() !== SOURCE_VPCE_HEADER)
        headers.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    const event = proxyEvent({
      method: verb,
      url,
      rawHeaders: headers,
      body,
      apiId: model.id,
      accountId: this.opts.accountId,
      stage: stage.name,
      deploymentId: stage.deploymentId,
      stageVariables: stage.variables,
      resourceId: method.resourceId,
      resourcePath: method.resourcePath,
      pathParameters: route.pathParameters,
      binaryMediaTypes: model.binaryMediaTypes,
      principal,
      accessKeyId,
      sourceIp,
      vpceId: sourceVpce,
      requestId: ids.requestId,
      extendedRequestId: ids.extendedRequestId,
      now: ids.now,
    });
    let out: Json;
    let timer: NodeJS.Timeout | undefined;
    try {
      out = await Promise.race([
        this.opts.invoke(integration.functionArn, event as unknown as Json),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new IntegrationTimeout()), integration.timeoutMs);
        }),
      ]);
    } catch (e) {
      if (e instanceof IntegrationTimeout)
        return { route, principal, reply: gatewayError(504, undefined, 'Endpoint request timed out') };
      return { route, principal, reply: BAD_GATEWAY() };
    } finally {
      clearTimeout(timer);
    }
    const accept = req.headers.accept;
    return { route, principal, reply: proxyReply(out, accept, model.binaryMediaTypes) ?? BAD_GATEWAY() };
  }
}

class IntegrationTimeout extends Error {
  override name = 'IntegrationTimeout' as const;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}
