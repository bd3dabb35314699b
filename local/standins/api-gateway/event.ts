/**
 * The Lambda proxy integration's two halves, as API Gateway (REST, payload
 * 1.0) does them: the event built from the HTTP request (headers as sent, the
 * last value in `headers` and all in `multiValueHeaders`; query values
 * decoded; the path and path parameters as received; the body as text, or
 * base64 when its Content-Type is a binary media type), and the function's
 * answer mapped back to HTTP (status, headers merged with multiValueHeaders, a
 * base64 body decoded when the caller accepts a binary media type), or
 * refused as malformed (the caller then gets a 502).
 */
import type { APIGatewayEventIdentity, APIGatewayProxyEvent } from 'aws-lambda';
import type { Principal } from './credentials.ts';

export interface EventInput {
  readonly method: string;
  /** Path and query as received, e.g. `/prod/items/a%20b?x=1`. */
  readonly url: string;
  /** Header names as sent, with every value, in order (Node's `rawHeaders`). */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly apiId: string;
  readonly accountId: string;
  readonly stage: string;
  readonly deploymentId: string;
  readonly stageVariables: Readonly<Record<string, string>>;
  readonly resourceId: string;
  /** The template path, e.g. `/items/{id}`. */
  readonly resourcePath: string;
  readonly pathParameters: Readonly<Record<string, string>> | null;
  readonly binaryMediaTypes: readonly string[];
  readonly principal?: Principal;
  readonly accessKeyId?: string;
  readonly sourceIp: string;
  readonly vpceId?: string;
  readonly requestId: string;
  readonly extendedRequestId: string;
  readonly now: number;
}

/** `type/subtype` against `type/subtype`, `type/*` or `*\/*` (parameters ignored). */
export function mediaTypeMatches(contentType: string | undefined, patterns: readonly string[]): boolean {
  if (!contentType) return false;
  const types = contentType.split(',').map((t) => t.split(';')[0]!.trim().toLowerCase());
  return types.some((t) =>
    patterns.some((p) => {
      const q = p.toLowerCase();
      return q === '*/*' || q === t || (q.endsWith('/*') && t.startsWith(q.slice(0, -1)));
    }),
  );
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** `09/Apr/2015:12:34:56 +0000`, API Gateway's requestTime. */
function requestTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function proxyEvent(i: EventInput): APIGatewayProxyEvent {
  const q = i.url.indexOf('?');
  const rawPath = q < 0 ? i.url : i.url.slice(0, q);
  const rawQuery = q < 0 ? '' : i.url.slice(q + 1);
  const path = `/${rawPath.split('/').slice(2).join('/')}`;

  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const addHeader = (name: string, value: string) => {
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  };
  for (let k = 0; k + 1 < i.rawHeaders.length; k += 2) addHeader(i.rawHeaders[k]!, i.rawHeaders[k + 1]!);
  const header = (name: string) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  const host = header('host') ?? `${i.apiId}.execute-api.amazonaws.com`;
  addHeader('X-Forwarded-For', i.sourceIp);
  addHeader(
    'X-Amzn-Trace-Id',
    `Root=1-${Math.floor(i.now / 1000).toString(16)}-${i.requestId.replace(/-/g, '').slice(0, 24)}`,
  );
  if (i.vpceId) addHeader('x-amzn-vpce-id', i.vpceId);

  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const pair of rawQuery.split('&').filter((x) => x !== '')) {
    const eq = pair.indexOf('=');
    const k = decode(eq < 0 ? pair : pair.slice(0, eq));
    const v = decode(eq < 0 ? '' : pair.slice(eq + 1));
    single[k] = v;
    multi[k] = [...(multi[k] ?? []), v];
  }
  const hasQuery = Object.keys(single).length > 0;

  const binary = mediaTypeMatches(header('content-type'), i.binaryMediaTypes);
  const body = i.body.length === 0 ? null : binary ? i.body.toString('base64') : i.body.toString('utf8');
  const p = i.principal;
  const identity: APIGatewayEventIdentity = {
    cognitoIdentityPoolId: null,
    accountId: p?.accountId ?? null,
    cognitoIdentityId: null,
    caller: p?.id ?? null,
    sourceIp: i.sourceIp,
    principalOrgId: null,
    accessKey: p ? (i.accessKeyId ?? null) : null,
    cognitoAuthenticationType: null,
    cognitoAuthenticationProvider: null,
    userArn: p?.arn ?? null,
    userAgent: header('user-agent') ?? null,
    user: p?.id ?? null,
    apiKey: null,
    apiKeyId: null,
    clientCert: null,
    ...(i.vpceId ? { vpceId: i.vpceId } : {}),
  };
  return {
    resource: i.resourcePath,
    path,
    httpMethod: i.method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? single : null,
    multiValueQueryStringParameters: hasQuery ? multi : null,
    pathParameters: i.pathParameters,
    stageVariables: Object.keys(i.stageVariables).length > 0 ? { ...i.stageVariables } : null,
    requestContext: {
      resourceId: i.resourceId,
      resourcePath: i.resourcePath,
      httpMethod: i.method,
      extendedRequestId: i.extendedRequestId,
      requestTime: requestTime(i.now),
      path: rawPath,
      accountId: i.accountId,
      protocol: 'HTTP/1.1',
      stage: i.stage,
      domainPrefix: /^\d/.test(host) ? i.apiId : host.split('.')[0]!,
      requestTimeEpoch: i.now,
      requestId: i.requestId,
      identity,
      domainName: host,
      deploymentId: i.deploymentId,
      apiId: i.apiId,
      authorizer: undefined,
    } as APIGatewayProxyEvent['requestContext'],
    body,
    isBase64Encoded: binary && body !== null,
  };
}

export interface HttpReply {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
}

const scalar = (v: unknown) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** The function's result as an HTTP reply, or undefined when API Gateway would call it malformed (a 502). */
export function proxyReply(
  out: unknown,
  accept: string | undefined,
  binaryMediaTypes: readonly string[],
): HttpReply | undefined {
  if (!out || typeof out !== 'object' || Array.isArray(out)) return undefined;
  const o = out as Record<string, unknown>;
  const allowed = new Set(['statusCode', 'headers', 'multiValueHeaders', 'body', 'isBase64Encoded']);
  if (Object.keys(o).some((k) => !allowed.has(k))) return undefined;
  const status = typeof o.statusCode === 'string' ? Number(o.statusCode) : o.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return undefined;
  if (o.body !== undefined && o.body !== null && typeof o.body !== 'string') return undefined;
  const single = (o.headers ?? {}) as Record<string, unknown>;
  const multi = (o.multiValueHeaders ?? {}) as Record<string, unknown>;
  if (typeof single !== 'object' || typeof multi !== 'object') return undefined;
  const headers: [string, string][] = [];
  // Both given: merged; a name in multiValueHeaders keeps only those values.
  for (const [k, v] of Object.entries(single)) {
    if (!scalar(v)) return undefined;
    if (!Object.keys(multi).some((m) => m.toLowerCase() === k.toLowerCase())) headers.push([k, String(v)]);
  }
  for (const [k, vs] of Object.entries(multi)) {
    if (!Array.isArray(vs) || !vs.every(scalar)) return undefined;
    for (const v of vs) headers.push([k, String(v)]);
  }
  const text = (o.body as string | null | undefined) ?? '';
  const decodeBinary = o.isBase64Encoded === true && mediaTypeMatches(accept, binaryMediaTypes);
  return { status, headers, body: decodeBinary ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8') };
}
