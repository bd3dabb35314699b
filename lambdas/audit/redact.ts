/**
 * Privacy: fields a deployment marks sensitive are tokenized (keyed HMAC-SHA256)
 * or redacted before an event is chained, so the raw value never reaches the bucket.
 *
 * Tokens are deterministic under one key — equal values give equal tokens, so an
 * auditor can still correlate "the same user did X and Y" — but without the key
 * (which stays in Secrets Manager) a token cannot be reversed or brute-forced
 * cheaply the way a bare hash of a short identifier can.
 */
import { createHash, createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { AidopsError, ValidationError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { AUDIT_KINDS, type AuditEvent } from './schema.ts';

/** Envelope fields that identify or place an event; they are never rewritten. */
const PROTECTED = new Set(['schemaVersion', 'eventId', 'time', 'kind', 'sessionId', 'source']);

export const SensitiveField = z.strictObject({
  /** Dotted path in the envelope, e.g. `user.id` or `detail.text`. */
  path: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/, 'must be a dotted path like detail.text')
    .refine((p) => !PROTECTED.has(p.split('.')[0] ?? ''), 'identifying envelope fields cannot be redacted'),
  /** Only events of these kinds. @default every kind */
  kinds: z.array(z.enum(AUDIT_KINDS)).min(1).optional(),
  /** @default the config's defaultAction */
  action: z.enum(['tokenize', 'redact']).optional(),
});
export type SensitiveField = z.output<typeof SensitiveField>;

/** Safe defaults: prompt text, file contents and user identifiers. */
export const DEFAULT_SENSITIVE_FIELDS: readonly SensitiveField[] = [
  { path: 'detail.text', kinds: ['intent'] },
  { path: 'detail.content', kinds: ['action'] },
  { path: 'user.id' },
];

export const PrivacyConfig = z.strictObject({
  /** What to do with a sensitive field that names no action. @default 'tokenize' */
  defaultAction: z.enum(['tokenize', 'redact']).default('tokenize'),
  /** @default DEFAULT_SENSITIVE_FIELDS */
  fields: z.array(SensitiveField).default(() => [...DEFAULT_SENSITIVE_FIELDS]),
});
export type PrivacyConfig = z.output<typeof PrivacyConfig>;

export function parsePrivacyConfig(input: unknown): PrivacyConfig {
  return parseOrThrow(PrivacyConfig, input ?? {}, 'audit privacy config');
}

export const REDACTED = '[redacted]';
export const TOKEN_PREFIX = 'hmac-sha256:';

export class HmacKeyError extends AidopsError {
  override name = 'HmacKeyError' as const;
}

export interface HmacKey {
  readonly key: KeyObject;
  /** First 8 hex of SHA-256(key): shows in tokens so a key rotation is visible, reveals nothing usable. */
  readonly kid: string;
}

/** Builds an HmacKey from raw bytes (≥ 32 bytes: HMAC-SHA256's block of entropy). */
export function hmacKeyFromBytes(bytes: Uint8Array): HmacKey {
  if (bytes.length < 32) throw new HmacKeyError('audit HMAC key must be at least 32 bytes', { length: bytes.length });
  const kid = createHash('sha256').update(bytes).digest('hex').slice(0, 8);
  return { key: createSecretKey(bytes), kid };
}

const keyCache = new Map<string, { key: HmacKey; expires: number }>();

/**
 * Fetches the HMAC key from Secrets Manager (SecretBinary, or SecretString used as
 * UTF-8 bytes) and caches it for `ttlMs`, so a warm Lambda makes one call per TTL.
 */
export async function loadHmacKey(
  secrets: SecretsManagerClient,
  secretId: string,
  opts: { ttlMs?: number; now?: number } = {},
): Promise<HmacKey> {
  const now = opts.now ?? Date.now();
  const hit = keyCache.get(secretId);
  if (hit && hit.expires > now) return hit.key;
  const out = await awsCall('secretsmanager:GetSecretValue', () =>
    secrets.send(new GetSecretValueCommand({ SecretId: secretId })),
  );
  const bytes = out.SecretBinary
    ? Buffer.from(out.SecretBinary)
    : out.SecretString !== undefined
      ? Buffer.from(out.SecretString, 'utf8')
      : undefined;
  if (!bytes) throw new HmacKeyError('audit HMAC secret has no value', { secretId });
  const key = hmacKeyFromBytes(bytes);
  keyCache.set(secretId, { key, expires: now + (opts.ttlMs ?? 15 * 60_000) });
  return key;
}

/** Forgets cached keys (tests; after a rotation). */
export function clearHmacKeyCache(): void {
  keyCache.clear();
}

/** The token of one value: `hmac-sha256:<kid>:<base64url MAC>`. */
export function tokenize(key: HmacKey, value: string): string {
  return `${TOKEN_PREFIX}${key.kid}:${createHmac('sha256', key.key).update(value, 'utf8').digest('base64url')}`;
}

interface CompiledField {
  readonly segments: readonly string[];
  readonly kinds: ReadonlySet<string> | null;
  readonly action: 'tokenize' | 'redact';
}

export type Redactor = (event: AuditEvent) => AuditEvent;

/** True when the config tokenizes anything, i.e. the writer must load the key. */
export function needsHmacKey(config: PrivacyConfig): boolean {
  return config.fields.some((f) => (f.action ?? config.defaultAction) === 'tokenize');
}

/**
 * Compiles the config into a function that returns a redacted copy of an event
 * (copy-on-write along the touched paths; the input is not mutated). String leaves
 * under a path are replaced, also inside arrays and records; numbers and booleans
 * are kept so the event still matches its schema.
 */
export function makeRedactor(config: PrivacyConfig, key: HmacKey | null): Redactor {
  const fields: CompiledField[] = config.fields.map((f) => ({
    segments: f.path.split('.'),
    kinds: f.kinds ? new Set(f.kinds) : null,
    action: f.action ?? config.defaultAction,
  }));
  if (!key && fields.some((f) => f.action === 'tokenize')) {
    throw new ValidationError('audit privacy config tokenizes fields but no HMAC key was given');
  }
  const replace = (v: string, action: 'tokenize' | 'redact'): string =>
    action === 'redact' || !key ? REDACTED : tokenize(key, v);

  const leaves = (v: unknown, action: 'tokenize' | 'redact'): unknown => {
    if (typeof v === 'string') return replace(v, action);
    if (Array.isArray(v)) return v.map((x) => leaves(x, action));
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = leaves(x, action);
      return o;
    }
    return v;
  };

  const apply = (obj: unknown, segs: readonly string[], i: number, action: 'tokenize' | 'redact'): unknown => {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return obj;
    const seg = segs[i]!;
    const rec = obj as Record<string, unknown>;
    if (!Object.hasOwn(rec, seg)) return obj;
    const next = i === segs.length - 1 ? leaves(rec[seg], action) : apply(rec[seg], segs, i + 1, action);
    if (next === rec[seg]) return obj;
    return { ...rec, [seg]: next };
  };

  return (event) => {
    let out: unknown = event;
    for (const f of fields) {
      if (f.kinds && !f.kinds.has(event.kind)) continue;
      out = apply(out, f.segments, 0, f.action);
    }
    return out as AuditEvent;
  };
}
