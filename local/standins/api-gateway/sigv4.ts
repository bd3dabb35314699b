/**
 * A SigV4 verifier (AWS4-HMAC-SHA256, Authorization header) for the API Gateway
 * stand-in, written from the specification: the canonical request (method,
 * normalized and re-encoded path, sorted re-encoded query, signed headers with
 * trimmed values, SHA-256 of the payload), the string to sign over the
 * credential scope, the signing key derived from the secret, and a
 * constant-time comparison. It answers with API Gateway's error types and
 * messages. Query-string (presigned) signatures are not accepted here.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface ReceivedRequest {
  readonly method: string;
  /** Path and query exactly as received (`req.url`). */
  readonly url: string;
  /** Lower-case names; every value of a repeated header, in order. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly body: Buffer;
}

export interface SigningSecret {
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** Epoch ms. */
  readonly expiration?: number;
}

export type SigV4Failure = {
  readonly ok: false;
  readonly status: 403;
  /** API Gateway's `x-amzn-ErrorType`. */
  readonly type:
    | 'MissingAuthenticationTokenException'
    | 'IncompleteSignatureException'
    | 'InvalidSignatureException'
    | 'UnrecognizedClientException'
    | 'ExpiredTokenException';
  readonly message: string;
};
export type SigV4Result<C> = { readonly ok: true; readonly accessKeyId: string; readonly credential: C } | SigV4Failure;

export interface VerifyOptions<C extends SigningSecret> {
  readonly region: string;
  /** @default 'execute-api' */
  readonly service?: string;
  /** @default Date.now() */
  readonly now?: number;
  /** @default 5 minutes, API Gateway's allowance */
  readonly maxSkewMs?: number;
  /** The credential a request names by key id and session token; undefined when none matches. */
  readonly lookup: (accessKeyId: string, sessionToken: string | undefined) => Promise<C | undefined> | C | undefined;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const fail = (type: SigV4Failure['type'], message: string): SigV4Failure => ({ ok: false, status: 403, type, message });

/** RFC 3986 unreserved characters stay; everything else is %XX (upper case), as SigV4 requires. */
export function uriEscape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The path with `.`/`..`/empty segments removed, each segment escaped again (non-S3 services double-encode). */
export function canonicalPath(rawPath: string): string {
  const segments: string[] = [];
  for (const s of rawPath.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop();
    else segments.push(s);
  }
  const normalized = `/${segments.join('/')}${segments.length > 0 && rawPath.endsWith('/') ? '/' : ''}`;
  return uriEscape(normalized).replace(/%2F/g, '/');
}

/** Every parameter decoded and re-encoded, sorted by key then value. */
export function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') return '';
  const pairs = rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      const [k, v] = i < 0 ? [p, ''] : [p.slice(0, i), p.slice(i + 1)];
      return [uriEscape(decode(k)), uriEscape(decode(v))] as const;
    });
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

const canonicalHeaderValue = (values: readonly string[]) =>
  values
    .map((v) =>
      v
        .replace(/[\r\n]/g, ' ')
        .replace(/[ \t]+/g, ' ')
        .trim(),
    )
    .join(',');

interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly terminator: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

function parseAuthorization(header: string): ParsedAuthorization | SigV4Failure {
  if (!header.startsWith(`${ALGORITHM} `))
    return fail('IncompleteSignatureException', `Authorization header requires the algorithm ${ALGORITHM}.`);
  const fields = new Map<string, string>();
  for (const part of header.slice(ALGORITHM.length + 1).split(',')) {
    const i = part.indexOf('=');
    if (i > 0) fields.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !fields.get(k));
  if (missing.length > 0)
    return fail(
      'IncompleteSignatureException',
      missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' '),
    );
  const scope = fields.get('Credential')!.split('/');
  if (scope.length !== 5)
    return fail(
      'IncompleteSignatureException',
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${fields.get('Credential')}'`,
    );
  const [accessKeyId, date, region, service, terminator] = scope as [string, string, string, string, string];
  return {
    accessKeyId,
    date,
    region,
    service,
    terminator,
    signedHeaders: fields.get('SignedHeaders')!.split(';'),
    signature: fields.get('Signature')!,
  };
}

/** `YYYYMMDDTHHMMSSZ` → epoch ms, or NaN. */
function amzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : Number.NaN;
}
const iso = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
const sha256Hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** The signing key: HMAC chain over date, region, service and `aws4_request`. */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

export async function verifySigV4<C extends SigningSecret>(
  req: ReceivedRequest,
  opts: VerifyOptions<C>,
): Promise<SigV4Result<C>> {
  const service = opts.service ?? 'execute-api';
  const now = opts.now ?? Date.now();
  const maxSkew = opts.maxSkewMs ?? 300_000;
  const header = (name: string) => req.headers[name];
  const authorization = header('authorization')?.[0];
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
  if (!authorization) {
    if (/(^|&)X-Amz-Signature=/i.test(rawQuery))
      return fail('IncompleteSignatureException', 'The local API Gateway stand-in does not accept presigned URLs.');
    return fail('MissingAuthenticationTokenException', 'Missing Authentication Token');
  }
  const auth = parseAuthorization(authorization);
  if ('ok' in auth) return auth;
  if (!auth.signedHeaders.includes('host'))
    return fail(
      'IncompleteSignatureException',
      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    );

  // The request's time: X-Amz-Date, else Date (converted to the basic ISO 8601 form it is signed as).
  const xAmzDate = header('x-amz-date')?.[0];
  const dateHeader = header('date')?.[0];
  const t = xAmzDate !== undefined ? amzDate(xAmzDate) : dateHeader !== undefined ? Date.parse(dateHeader) : Number.NaN;
  if (Number.isNaN(t))
    return fail(
      'IncompleteSignatureException',
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    );
  if (xAmzDate !== undefined && !auth.signedHeaders.includes('x-amz-date'))
    return fail('IncompleteSignatureException', "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  const longDate = iso(t);

  if (auth.terminator !== 'aws4_request')
    return fail('InvalidSignatureException', "Credential should be scoped with a valid terminator: 'aws4_request'.");
  if (auth.service !== service)
    return fail('InvalidSignatureException', `Credential should be scoped to correct service: '${service}'.`);
  if (auth.region !== opts.region)
    return fail('InvalidSignatureException', 'Credential should be scoped to a valid region.');
  if (auth.date !== longDate.slice(0, 8))
    return fail(
      'InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${longDate.slice(0, 8)}', from '${longDate}'.`,
    );

  const token = header('x-amz-security-token')?.[0];
  const credential = await opts.lookup(auth.accessKeyId, token);
  if (!credential) return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
  if (credential.expiration !== undefined && credential.expiration <= now)
    return fail('ExpiredTokenException', 'The security token included in the request is expired');

  if (t < now - maxSkew)
    return fail(
      'InvalidSignatureException',
      `Signature expired: ${longDate} is now earlier than ${iso(now - maxSkew)} (${iso(now)} - 5 min.)`,
    );
  if (t > now + maxSkew)
    return fail(
      'InvalidSignatureException',
      `Signature not yet current: ${longDate} is still later than ${iso(now + maxSkew)} (${iso(now)} + 5 min.)`,
    );

  const names = [...auth.signedHeaders].sort();
  const canonicalRequest = [
    req.method,
    canonicalPath(rawPath),
    canonicalQuery(rawQuery),
    ...names.map((n) => `${n}:${canonicalHeaderValue(header(n) ?? [])}`),
    '',
    names.join(';'),
    sha256Hex(req.body),
  ].join('\n');
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = [ALGORITHM, longDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const expected = createHmac('sha256', signingKey(credential.secretAccessKey, auth.date, auth.region, auth.service))
    .update(stringToSign, 'utf8')
    .digest();
  const given = /^[0-9a-f]{64}$/.test(auth.signature) ? Buffer.from(auth.signature, 'hex') : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return fail(
      'InvalidSignatureException',
      `The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'${canonicalRequest}'\n\nThe String-to-Sign should have been\n'${stringToSign}'\n`,
    );
  return { ok: true, accessKeyId: auth.accessKeyId, credential };
}
