/**
 * The credentials moto has issued, learned by watching them flow through the
 * local gateway (STS AssumeRole, AssumeRoleWithWebIdentity, GetSessionToken,
 * GetFederationToken; IAM CreateAccessKey), so the API Gateway stand-in can
 * check a SigV4 signature against the secret and name the principal as AWS
 * would. moto's default `testing`/`testing` pair is moto's default identity
 * (what its GetCallerIdentity says for it).
 *
 * Keyed by access key id and session token together: moto answers every
 * GetSessionToken and GetFederationToken with the same example key id (and
 * different tokens), and a request names its credential by both.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Gateway, ObservedCall } from '../../emulator/gateway.ts';
import { LOCAL_REGION } from '../../emulator/moto.ts';

/** Who signed, as API Gateway reports it in `requestContext.identity`. */
export interface Principal {
  /** `userArn`: the assumed-role session, user or federated user ARN. */
  readonly arn: string;
  /** `caller` and `user`: `AROA…:session`, the user id, or `ACCOUNT:name`. */
  readonly id: string;
  readonly accountId: string;
  readonly type: 'AssumedRole' | 'User' | 'FederatedUser';
  /** `aws:PrincipalArn`: for a role session, the role's ARN (with its path); else `arn`. */
  readonly principalArn: string;
}

export interface IssuedCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** Epoch ms; none for long-term keys. */
  readonly expiration?: number;
  readonly principal: Principal;
}

/** A captured credential whose principal is resolved on first use (users, the default identity). */
interface Entry {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: number;
  principal: () => Promise<Principal>;
}

const DEFAULT_ACCESS_KEY = 'testing';
const DEFAULT_SECRET = 'testing';
const STS_ACTIONS = ['AssumeRole', 'AssumeRoleWithWebIdentity', 'GetSessionToken', 'GetFederationToken'] as const;

const xmlText = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
function tag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m ? xmlText(m[1]!) : undefined;
}
const accountOf = (arn: string) => arn.split(':')[4] ?? '';
const sameToken = (a: string | undefined, b: string | undefined) =>
  a === undefined || b === undefined
    ? a === b
    : a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

export class IssuedCredentials {
  private readonly byKey = new Map<string, Entry[]>();
  private readonly motoEndpoint: string;

  constructor(motoEndpoint: string) {
    this.motoEndpoint = motoEndpoint;
    this.add({
      accessKeyId: DEFAULT_ACCESS_KEY,
      secretAccessKey: DEFAULT_SECRET,
      principal: once(() => this.callerIdentity(DEFAULT_ACCESS_KEY)),
    });
  }

  /** Starts watching the gateway for issued credentials. */
  watch(gateway: Gateway): void {
    gateway.observe('sts', STS_ACTIONS, (c) => this.fromSts(c));
    gateway.observe('iam', ['CreateAccessKey'], (c) => this.fromIam(c));
  }

  /** The credential a request names (key id and, for temporary ones, its token), if moto issued it. */
  async find(accessKeyId: string, sessionToken: string | undefined): Promise<IssuedCredential | undefined> {
    const e = (this.byKey.get(accessKeyId) ?? []).find((x) => sameToken(x.sessionToken, sessionToken));
    if (!e) return undefined;
    return { ...e, principal: await e.principal() };
  }

  private add(e: Entry): void {
    const list = (this.byKey.get(e.accessKeyId) ?? []).filter((x) => x.sessionToken !== e.sessionToken);
    this.byKey.set(e.accessKeyId, [...list, e]);
  }

  private fromSts(c: ObservedCall): void {
    if (c.status !== 200) return;
    const xml = c.responseBody.toString('utf8');
    const accessKeyId = tag(xml, 'AccessKeyId');
    const secretAccessKey = tag(xml, 'SecretAccessKey');
    if (!accessKeyId || !secretAccessKey) return;
    const expiration = Date.parse(tag(xml, 'Expiration') ?? '');
    const params = new URLSearchParams(c.requestBody.toString('utf8'));
    let principal: () => Promise<Principal>;
    if (c.action === 'AssumeRole' || c.action === 'AssumeRoleWithWebIdentity') {
      const arn = tag(xml, 'Arn') ?? '';
      const p: Principal = {
        arn,
        id: tag(xml, 'AssumedRoleId') ?? '',
        accountId: accountOf(arn),
        type: 'AssumedRole',
        principalArn: params.get('RoleArn') ?? arn,
      };
      principal = async () => p;
    } else if (c.action === 'GetFederationToken') {
      const arn = tag(xml, 'Arn') ?? '';
      const p: Principal = {
        arn,
        id: tag(xml, 'FederatedUserId') ?? '',
        accountId: accountOf(arn),
        type: 'FederatedUser',
        principalArn: arn,
      };
      principal = async () => p;
    } else {
      // GetSessionToken: the same principal as the long-term key that asked for it.
      const caller = /Credential=([^/]+)\//.exec(String(c.requestHeaders.authorization ?? ''))?.[1] ?? '';
      principal = once(async () => {
        const e = (this.byKey.get(caller) ?? []).find((x) => x.sessionToken === undefined);
        return e ? await e.principal() : await this.callerIdentity(caller);
      });
    }
    this.add({
      accessKeyId,
      secretAccessKey,
      sessionToken: tag(xml, 'SessionToken'),
      expiration: Number.isNaN(expiration) ? undefined : expiration,
      principal,
    });
  }

  private fromIam(c: ObservedCall): void {
    if (c.status !== 200) return;
    const xml = c.responseBody.toString('utf8');
    const accessKeyId = tag(xml, 'AccessKeyId');
    const secretAccessKey = tag(xml, 'SecretAccessKey');
    const userName = tag(xml, 'UserName');
    if (!accessKeyId || !secretAccessKey || !userName) return;
    this.add({
      accessKeyId,
      secretAccessKey,
      // The user's ARN (with its path) and id, from moto, on first use.
      principal: once(async () => {
        const user = await this.moto('iam', { Action: 'GetUser', Version: '2010-05-08', UserName: userName });
        const arn = tag(user, 'Arn') ?? '';
        return { arn, id: tag(user, 'UserId') ?? '', accountId: accountOf(arn), type: 'User', principalArn: arn };
      }),
    });
  }

  private async callerIdentity(accessKeyId: string): Promise<Principal> {
    const xml = await this.moto('sts', { Action: 'GetCallerIdentity', Version: '2011-06-15' }, accessKeyId);
    const arn = tag(xml, 'Arn') ?? '';
    return {
      arn,
      id: tag(xml, 'UserId') ?? '',
      accountId: tag(xml, 'Account') ?? accountOf(arn),
      type: arn.includes(':assumed-role/') ? 'AssumedRole' : 'User',
      principalArn: arn,
    };
  }

  /** A query-protocol call straight to moto (not through the gateway: the stand-in's own look-ups are not the app's calls). */
  private async moto(service: 'sts' | 'iam', params: Record<string, string>, accessKeyId = DEFAULT_ACCESS_KEY) {
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
    const r = await fetch(`${this.motoEndpoint}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${day}/${LOCAL_REGION}/${service}/aws4_request, SignedHeaders=host, Signature=local`,
      },
      body: new URLSearchParams(params).toString(),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`moto ${service}:${params.Action} answered HTTP ${r.status}: ${text.slice(0, 300)}`);
    return text;
  }
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= fn();
    p.catch(() => {
      p = undefined;
    });
    return p;
  };
}
