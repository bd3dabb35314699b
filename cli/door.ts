/**
 * The CLI's way to the people's door: requests signed (SigV4, `execute-api`)
 * with the user's own AWS credentials (the SDK's default chain: environment,
 * `--profile`, SSO), sent to the door's URL (`--door-url`, else the SSM
 * parameter the stack writes, `/aidops/<env>/people-door-url`). The door takes
 * the signer as the actor; nothing the user types names them. A 403 is one
 * clear line: who is not authorized to do what, and which role to assume.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, Checksum, SourceData } from '@smithy/types';
import { awsClientConfig } from '../lambdas/shared/clients.ts';
import { AidopsError, ForbiddenError, NotFoundError } from '../lambdas/shared/errors.ts';
import type { CliIo } from './args.ts';
import { cliNames } from './env.ts';

/** The options every door command takes. */
export const DOOR_OPTIONS = {
  'door-url': { type: 'string', value: 'URL', help: "the people's door (default: SSM /aidops/<env>/people-door-url)" },
  profile: { type: 'string', value: 'NAME', help: 'AWS profile to sign with (default: the SDK credential chain)' },
  env: { type: 'string', value: 'NAME', help: 'environment whose door to use (default $AIDOPS_ENV, else dev)' },
} as const;

export interface DoorTarget {
  readonly doorUrl?: string;
  readonly profile?: string;
  readonly env?: string;
  /** The local emulator (SSM, STS) when given. */
  readonly endpoint?: string;
}

class Sha256 implements Checksum {
  private h: Hash | Hmac;
  private readonly secret?: SourceData;
  constructor(secret?: SourceData) {
    this.secret = secret;
    this.h = this.fresh();
  }
  private fresh(): Hash | Hmac {
    if (this.secret === undefined) return createHash('sha256');
    return createHmac(
      'sha256',
      typeof this.secret === 'string' ? this.secret : Buffer.from(this.secret as ArrayBuffer),
    );
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

/** The door answered with a refusal other than 403 (400, 404, 409, …): its typed error, as the door named it. */
export class DoorError extends AidopsError {
  override name = 'DoorError' as const;
}

async function credentialsOf(t: DoorTarget, io: CliIo): Promise<AwsCredentialIdentity> {
  const e = io.env;
  if (e.AWS_ACCESS_KEY_ID && e.AWS_SECRET_ACCESS_KEY)
    return {
      accessKeyId: e.AWS_ACCESS_KEY_ID,
      secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
      ...(e.AWS_SESSION_TOKEN ? { sessionToken: e.AWS_SESSION_TOKEN } : {}),
    };
  const sts = new STSClient({
    ...awsClientConfig({ endpoint: t.endpoint }),
    ...(t.profile ? { profile: t.profile } : {}),
  });
  return await sts.config.credentials();
}

async function doorUrl(t: DoorTarget, io: CliIo): Promise<string> {
  if (t.doorUrl) return t.doorUrl.endsWith('/') ? t.doorUrl : `${t.doorUrl}/`;
  const name = cliNames(t.env, io).peopleDoorUrlParameter;
  const p = await new SSMClient(awsClientConfig({ endpoint: t.endpoint }))
    .send(new GetParameterCommand({ Name: name }))
    .catch(() => undefined);
  const v = p?.Parameter?.Value;
  if (!v) throw new NotFoundError(`no people's door URL: pass --door-url, or deploy the stack (SSM ${name})`);
  return v.endsWith('/') ? v : `${v}/`;
}

/** The region the door is in: its URL's (`ID.execute-api.REGION.amazonaws.com`), else the SDK's. */
function regionOf(url: URL, endpoint: string | undefined): string {
  return (
    /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(url.hostname)?.[1] ??
    awsClientConfig({ endpoint }).region ??
    'us-east-1'
  );
}

async function whoAmI(t: DoorTarget, credentials: AwsCredentialIdentity): Promise<string> {
  const sts = new STSClient({ ...awsClientConfig({ endpoint: t.endpoint }), credentials });
  return await sts
    .send(new GetCallerIdentityCommand({}))
    .then((r) => r.Arn ?? 'you')
    .catch(() => 'you');
}

/**
 * Calls a route (`approvals/restore/NAME/approve`), signed as the user. Returns the
 * JSON answer; a 403 is a ForbiddenError naming the principal, the action and the role to assume.
 */
export async function callDoor(
  t: DoorTarget,
  io: CliIo,
  route: { method: string; path: string; body?: unknown; action: string; role: string },
): Promise<Record<string, unknown>> {
  const credentials = await credentialsOf(t, io);
  const url = new URL(route.path, await doorUrl(t, io));
  const body = route.body === undefined ? undefined : JSON.stringify(route.body);
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signer = new SignatureV4({
    service: 'execute-api',
    region: regionOf(url, t.endpoint),
    credentials,
    sha256: Sha256,
  });
  const signed = await signer.sign({
    method: route.method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query,
    headers: {
      host: url.host,
      ...(body !== undefined
        ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
        : {}),
    },
    body,
  });
  const res = await fetch(url, { method: route.method, headers: signed.headers as Record<string, string>, body });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { message: text };
  }
  if (res.status === 403) {
    const who = await whoAmI(t, credentials);
    const why = json.error === 'TwoPersonRuleError' ? ` (${String(json.message)})` : '';
    throw new ForbiddenError(`not authorized: ${who} may not ${route.action}${why}; assume the ${route.role} role`);
  }
  if (res.status >= 400)
    throw new DoorError(`${String(json.error ?? res.status)}: ${String(json.message ?? text)}`.slice(0, 1024));
  return json;
}
