/**
 * A SigV4-signing HTTP client for the API Gateway stand-in, for tests and
 * benchmarks: requests are signed by the AWS SDK's own signer
 * (`@smithy/signature-v4`, service `execute-api`), so the stand-in's verifier
 * is checked against the signer real callers use. Signing and sending are
 * separate, so a test can tamper with a signed request before it is sent.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { request } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, Checksum, SourceData } from '@smithy/types';
import { LOCAL_REGION } from '../../emulator/moto.ts';
import { uriEscape } from './sigv4.ts';

/** The request as the signer sees it and as it is sent (path already percent-encoded, query decoded). */
export interface ApiRequest {
  method: string;
  protocol: string;
  hostname: string;
  port: number;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  body?: string | Buffer;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  readonly text: string;
  json(): unknown;
}

export interface ApiRequestInit {
  /** @default 'GET' */
  readonly method?: string;
  readonly body?: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface SignOptions {
  /** @default LOCAL_REGION */
  readonly region?: string;
  /** @default now */
  readonly signingDate?: Date;
}

class NodeSha256 implements Checksum {
  private h: Hash | Hmac;
  private readonly secret?: SourceData;
  constructor(secret?: SourceData) {
    this.secret = secret;
    this.h = this.fresh();
  }
  private fresh(): Hash | Hmac {
    if (this.secret === undefined) return createHash('sha256');
    const key = typeof this.secret === 'string' ? this.secret : Buffer.from(this.secret as ArrayBuffer);
    return createHmac('sha256', key);
  }
  update(chunk: Uint8Array): void {
    this.h.update(chunk);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {
    this.h = this.fresh();
  }
}

/** An unsigned request for `url` (e.g. `${rt.apiEndpoint('Api')}items/42?x=1`). */
export function apiRequest(url: string, init: ApiRequestInit = {}): ApiRequest {
  const u = new URL(url);
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of u.searchParams) {
    const had = query[k];
    query[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
  }
  const body = init.body;
  return {
    method: init.method ?? 'GET',
    protocol: u.protocol,
    hostname: u.hostname,
    port: Number(u.port),
    path: u.pathname,
    query,
    headers: {
      host: u.host,
      ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
      ...init.headers,
    },
    body,
  };
}

/** The request signed with `credentials` by the SDK's SigV4 signer. */
export async function signApiRequest(
  req: ApiRequest,
  credentials: AwsCredentialIdentity,
  opts: SignOptions = {},
): Promise<ApiRequest> {
  const signer = new SignatureV4({
    service: 'execute-api',
    region: opts.region ?? LOCAL_REGION,
    credentials,
    sha256: NodeSha256,
  });
  const signed = await signer.sign({ ...req, headers: { ...req.headers } }, { signingDate: opts.signingDate });
  return { ...req, headers: { ...(signed.headers as Record<string, string>) } };
}

/** The query as it goes on the wire (each key and value percent-encoded), unless `rawQuery` says otherwise. */
export function wireQuery(query: ApiRequest['query']): string {
  return Object.entries(query)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${uriEscape(k)}=${uriEscape(x)}`))
    .join('&');
}

export async function sendApiRequest(req: ApiRequest, opts: { rawQuery?: string } = {}): Promise<ApiResponse> {
  const q = opts.rawQuery ?? wireQuery(req.query);
  return await new Promise((resolve, reject) => {
    const r = request(
      {
        hostname: req.hostname,
        port: req.port,
        method: req.method,
        path: q ? `${req.path}?${q}` : req.path,
        headers: req.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json: () => JSON.parse(text) });
        });
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Signs (when given credentials) and sends. */
export async function callApi(
  url: string,
  init: ApiRequestInit & SignOptions & { credentials?: AwsCredentialIdentity } = {},
): Promise<ApiResponse> {
  const req = apiRequest(url, init);
  return await sendApiRequest(init.credentials ? await signApiRequest(req, init.credentials, init) : req);
}
