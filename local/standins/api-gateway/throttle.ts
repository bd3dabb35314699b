/**
 * Stage throttling as synthesized (`MethodSettings` ThrottlingRateLimit /
 * ThrottlingBurstLimit: the method's own entry, else the stage's `/*` `*`
 * default): a token bucket per method and, by default, per caller (its
 * principal ARN, or its source IP when anonymous). In AWS these limits are
 * shared by every caller of the method; `scope: 'method'` reproduces that.
 */

export interface MethodSetting {
  /** `/*`, or the resource path with `/` written `~1` (`/~1items~1{id}`), as in the template. */
  readonly ResourcePath?: string;
  /** `*` or the method's verb. */
  readonly HttpMethod?: string;
  readonly ThrottlingRateLimit?: number;
  readonly ThrottlingBurstLimit?: number;
}

export interface ThrottleLimit {
  readonly rate: number;
  readonly burst: number;
}

/** The limit for a method: its own setting, else the stage default; none when neither throttles. */
export function throttleLimit(
  settings: readonly MethodSetting[],
  resourcePath: string,
  httpMethod: string,
): ThrottleLimit | undefined {
  const encoded = resourcePath === '/' ? '/' : `/${resourcePath.replace(/\//g, '~1')}`;
  const own = settings.find((s) => s.ResourcePath === encoded && s.HttpMethod === httpMethod);
  const stage = settings.find((s) => s.ResourcePath === '/*' && s.HttpMethod === '*');
  const pick = <K extends 'ThrottlingRateLimit' | 'ThrottlingBurstLimit'>(k: K) => own?.[k] ?? stage?.[k];
  const rate = pick('ThrottlingRateLimit');
  const burst = pick('ThrottlingBurstLimit');
  if (rate === undefined && burst === undefined) return undefined;
  return { rate: Number(rate ?? Number.POSITIVE_INFINITY), burst: Number(burst ?? Number.POSITIVE_INFINITY) };
}

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** Takes a token from `key`'s bucket; false (throttled) when it is empty. */
  take(key: string, limit: ThrottleLimit, now = performance.now()): boolean {
    const b = this.buckets.get(key) ?? { tokens: limit.burst, at: now };
    const elapsed = (now - b.at) / 1000;
    b.tokens = Math.min(limit.burst, b.tokens + (elapsed > 0 ? elapsed * limit.rate : 0));
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  clear(): void {
    this.buckets.clear();
  }
}
