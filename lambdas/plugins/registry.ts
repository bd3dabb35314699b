/**
 * The plugin registry (one DynamoDB table): which plugin versions are admitted,
 * with what digest, signer and provenance, until when, and what was revoked.
 *
 * Items (pk / sk):
 *   PLUGIN#<pluginId>       / VERSION#<version>   one admitted version
 *   PUBLISHER#<publisher>   / PUBLISHER           first admission, approval, publisher-wide revocation
 *
 * Revoking a whole publisher is ONE conditional write on its item; `isAllowed`
 * reads the version and its publisher together, so every version of the publisher
 * (including ones admitted later) is denied without a scan. Reads are strongly
 * consistent and cached per process for at most 30 s: a revocation reaches every
 * Lambda and sandbox within 30 s plus the in-flight request (documented bound:
 * under a minute).
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ResourceInUseException,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { ConflictError, NotFoundError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';

/** Upper bound of the read cache; also the documented revocation delay on top of the request in flight. */
export const MAX_CACHE_TTL_MS = 30_000;

export const PluginId = z
  .string()
  .min(1)
  .max(214)
  .regex(/^[A-Za-z0-9@][A-Za-z0-9@._/-]*$/, 'plugin id: letters, digits, @ . _ / -');
export const PluginVersion = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9.+_-]*$/, 'version: letters, digits, . + _ -');
export const Sha256Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 lowercase hex>');

export const AdmissionInput = z.strictObject({
  pluginId: PluginId,
  version: PluginVersion,
  /** `sha256:<hex>` of the artifact that verified. */
  digest: Sha256Digest,
  /** Extra digests (hex) the artifact is known by, e.g. sha512 = npm dist.integrity. */
  otherDigests: z.record(z.string(), z.string()).default({}),
  publisher: z.string().min(1).max(512),
  signer: z.record(z.string(), z.unknown()),
  provenance: z.record(z.string(), z.unknown()).nullable().default(null),
  slsaBuildLevel: z.number().int().min(0).max(3),
  admittedBy: z.string().min(1).max(256),
  /** Who approved a new publisher, when the policy asked for it. */
  approvedBy: z.string().min(1).max(256).nullable().default(null),
  admittedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
});
export type AdmissionInput = z.input<typeof AdmissionInput>;

export interface PluginRecord {
  readonly pluginId: string;
  readonly version: string;
  readonly digest: string;
  readonly otherDigests: Readonly<Record<string, string>>;
  readonly publisher: string;
  readonly signer: Readonly<Record<string, unknown>>;
  readonly provenance: Readonly<Record<string, unknown>> | null;
  readonly slsaBuildLevel: number;
  readonly admittedBy: string;
  readonly approvedBy: string | null;
  readonly admittedAt: string;
  readonly expiresAt: string;
  readonly status: 'admitted' | 'revoked';
  readonly revokedAt?: string;
  readonly revokedBy?: string;
  readonly revokeReason?: string;
}

export interface PublisherRecord {
  readonly publisher: string;
  readonly firstAdmittedAt: string;
  readonly approvedBy: string | null;
  readonly revoked: boolean;
  readonly revokedAt?: string;
  readonly revokedBy?: string;
  readonly revokeReason?: string;
}

/** What the policy engine consumes for `plugin_exec`. */
export interface PluginAllowFacts {
  readonly admitted: boolean;
  readonly revoked: boolean;
  readonly expired: boolean;
  readonly digestMatches: boolean;
  /** Convenience: all four say yes. */
  readonly allowed: boolean;
  readonly expiresAt: string | null;
  readonly publisher: string | null;
}

const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });
const versionKey = (pluginId: string, version: string) => ({
  pk: S(`PLUGIN#${pluginId}`),
  sk: S(`VERSION#${version}`),
});
const publisherKey = (publisher: string) => ({ pk: S(`PUBLISHER#${publisher}`), sk: S('PUBLISHER') });

const gs = (item: Record<string, AttributeValue>, k: string): string | undefined => item[k]?.S;

function toRecord(item: Record<string, AttributeValue>): PluginRecord {
  const facts = JSON.parse(gs(item, 'facts') ?? '{}') as {
    otherDigests?: Record<string, string>;
    signer?: Record<string, unknown>;
    provenance?: Record<string, unknown> | null;
  };
  const revokedAt = gs(item, 'revokedAt');
  const revokedBy = gs(item, 'revokedBy');
  const revokeReason = gs(item, 'revokeReason');
  return {
    pluginId: gs(item, 'pluginId') ?? '',
    version: gs(item, 'version') ?? '',
    digest: gs(item, 'digest') ?? '',
    otherDigests: facts.otherDigests ?? {},
    publisher: gs(item, 'publisher') ?? '',
    signer: facts.signer ?? {},
    provenance: facts.provenance ?? null,
    slsaBuildLevel: Number(item.slsaBuildLevel?.N ?? 0),
    admittedBy: gs(item, 'admittedBy') ?? '',
    approvedBy: gs(item, 'approvedBy') ?? null,
    admittedAt: gs(item, 'admittedAt') ?? '',
    expiresAt: gs(item, 'expiresAt') ?? '',
    status: gs(item, 'status') === 'revoked' ? 'revoked' : 'admitted',
    ...(revokedAt ? { revokedAt } : {}),
    ...(revokedBy ? { revokedBy } : {}),
    ...(revokeReason ? { revokeReason } : {}),
  };
}

function toPublisher(item: Record<string, AttributeValue>): PublisherRecord {
  const revokedAt = gs(item, 'revokedAt');
  const revokedBy = gs(item, 'revokedBy');
  const revokeReason = gs(item, 'revokeReason');
  return {
    publisher: gs(item, 'publisher') ?? '',
    firstAdmittedAt: gs(item, 'firstAdmittedAt') ?? '',
    approvedBy: gs(item, 'approvedBy') ?? null,
    revoked: item.revoked?.BOOL === true,
    ...(revokedAt ? { revokedAt } : {}),
    ...(revokedBy ? { revokedBy } : {}),
    ...(revokeReason ? { revokeReason } : {}),
  };
}

export interface RegistryOptions {
  readonly tableName: string;
  /** Read cache for isAllowed; clamped to MAX_CACHE_TTL_MS. @default 30_000 */
  readonly cacheTtlMs?: number;
  /** @default Date.now */
  readonly clock?: () => number;
}

export class PluginRegistry {
  readonly #ddb: DynamoDBClient;
  readonly #table: string;
  readonly #ttl: number;
  readonly #clock: () => number;
  readonly #cache = new Map<
    string,
    { at: number; version?: Record<string, AttributeValue>; publisher?: Record<string, AttributeValue> }
  >();

  constructor(ddb: DynamoDBClient, opts: RegistryOptions) {
    this.#ddb = ddb;
    this.#table = opts.tableName;
    this.#ttl = Math.max(0, Math.min(opts.cacheTtlMs ?? MAX_CACHE_TTL_MS, MAX_CACHE_TTL_MS));
    this.#clock = opts.clock ?? Date.now;
  }

  /**
   * Records an admitted version. Idempotent for the same digest; a different digest
   * for an existing version, a revoked version, or a revoked publisher is a ConflictError.
   */
  async admit(input: AdmissionInput): Promise<PluginRecord> {
    const a = parseOrThrow(AdmissionInput, input, 'plugin admission');
    const pub = await this.getPublisher(a.publisher);
    if (pub?.revoked) throw new ConflictError(`publisher ${a.publisher} is revoked`, { publisher: a.publisher });
    const item: Record<string, AttributeValue> = {
      ...versionKey(a.pluginId, a.version),
      pluginId: S(a.pluginId),
      version: S(a.version),
      digest: S(a.digest),
      publisher: S(a.publisher),
      slsaBuildLevel: N(a.slsaBuildLevel),
      admittedBy: S(a.admittedBy),
      admittedAt: S(a.admittedAt),
      expiresAt: S(a.expiresAt),
      status: S('admitted'),
      facts: S(JSON.stringify({ otherDigests: a.otherDigests, signer: a.signer, provenance: a.provenance })),
      ...(a.approvedBy ? { approvedBy: S(a.approvedBy) } : {}),
    };
    try {
      // Re-admitting an expired, unrevoked version with the same digest renews it.
      await awsCall('dynamodb:PutItem', () =>
        this.#ddb.send(
          new PutItemCommand({
            TableName: this.#table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(pk) OR (#d = :d AND #s = :admitted)',
            ExpressionAttributeNames: { '#d': 'digest', '#s': 'status' },
            ExpressionAttributeValues: { ':d': S(a.digest), ':admitted': S('admitted') },
          }),
        ),
      );
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) {
        const cur = await this.get(a.pluginId, a.version);
        throw new ConflictError(
          cur?.status === 'revoked'
            ? `${a.pluginId}@${a.version} is revoked and cannot be re-admitted`
            : `${a.pluginId}@${a.version} is already admitted with digest ${cur?.digest ?? '?'}`,
          { pluginId: a.pluginId, version: a.version },
        );
      }
      throw e;
    }
    await awsCall('dynamodb:UpdateItem', () =>
      this.#ddb.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: publisherKey(a.publisher),
          UpdateExpression:
            'SET publisher = :p, firstAdmittedAt = if_not_exists(firstAdmittedAt, :t), approvedBy = if_not_exists(approvedBy, :by), revoked = if_not_exists(revoked, :f)',
          ExpressionAttributeValues: {
            ':p': S(a.publisher),
            ':t': S(a.admittedAt),
            ':by': a.approvedBy ? S(a.approvedBy) : { NULL: true },
            ':f': { BOOL: false },
          },
        }),
      ),
    );
    this.#cache.delete(`${a.pluginId}\n${a.version}`);
    return toRecord(item);
  }

  async get(pluginId: string, version: string): Promise<PluginRecord | undefined> {
    const r = await awsCall('dynamodb:GetItem', () =>
      this.#ddb.send(
        new GetItemCommand({ TableName: this.#table, Key: versionKey(pluginId, version), ConsistentRead: true }),
      ),
    );
    return r.Item ? toRecord(r.Item) : undefined;
  }

  async getPublisher(publisher: string): Promise<PublisherRecord | undefined> {
    const r = await awsCall('dynamodb:GetItem', () =>
      this.#ddb.send(
        new GetItemCommand({ TableName: this.#table, Key: publisherKey(publisher), ConsistentRead: true }),
      ),
    );
    return r.Item ? toPublisher(r.Item) : undefined;
  }

  /** Versions of one plugin, or of every plugin (a scan: the registry is small). */
  async list(pluginId?: string): Promise<PluginRecord[]> {
    const out: PluginRecord[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = pluginId
        ? await awsCall('dynamodb:Query', () =>
            this.#ddb.send(
              new QueryCommand({
                TableName: this.#table,
                KeyConditionExpression: 'pk = :pk',
                ExpressionAttributeValues: { ':pk': S(`PLUGIN#${pluginId}`) },
                ExclusiveStartKey: start,
              }),
            ),
          )
        : await awsCall('dynamodb:Scan', () =>
            this.#ddb.send(
              new ScanCommand({
                TableName: this.#table,
                FilterExpression: 'begins_with(pk, :p)',
                ExpressionAttributeValues: { ':p': S('PLUGIN#') },
                ExclusiveStartKey: start,
              }),
            ),
          );
      for (const it of page.Items ?? []) out.push(toRecord(it));
      start = page.LastEvaluatedKey;
    } while (start);
    return out.sort((a, b) => a.pluginId.localeCompare(b.pluginId) || a.admittedAt.localeCompare(b.admittedAt));
  }

  /** Revokes one version (conditional: it must exist). Idempotent: revoking twice keeps the first record. */
  async revokeVersion(
    pluginId: string,
    version: string,
    by: string,
    reason: string,
    now = new Date(),
  ): Promise<PluginRecord> {
    try {
      const r = await awsCall('dynamodb:UpdateItem', () =>
        this.#ddb.send(
          new UpdateItemCommand({
            TableName: this.#table,
            Key: versionKey(pluginId, version),
            UpdateExpression: 'SET #s = :revoked, revokedAt = :t, revokedBy = :by, revokeReason = :why',
            ConditionExpression: 'attribute_exists(pk) AND #s <> :revoked',
            ExpressionAttributeNames: { '#s': 'status' },
            ExpressionAttributeValues: {
              ':revoked': S('revoked'),
              ':t': S(now.toISOString()),
              ':by': S(by),
              ':why': S(reason),
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      this.#cache.delete(`${pluginId}\n${version}`);
      return toRecord(r.Attributes ?? {});
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
      const cur = await this.get(pluginId, version);
      if (!cur) throw new NotFoundError(`${pluginId}@${version} is not in the registry`, { pluginId, version });
      return cur;
    }
  }

  /** Revokes every version of a publisher, present and future, with one write. Idempotent. */
  async revokePublisher(publisher: string, by: string, reason: string, now = new Date()): Promise<PublisherRecord> {
    try {
      const r = await awsCall('dynamodb:UpdateItem', () =>
        this.#ddb.send(
          new UpdateItemCommand({
            TableName: this.#table,
            Key: publisherKey(publisher),
            UpdateExpression:
              'SET publisher = :p, revoked = :t, revokedAt = :at, revokedBy = :by, revokeReason = :why, firstAdmittedAt = if_not_exists(firstAdmittedAt, :at)',
            ConditionExpression: 'attribute_not_exists(revoked) OR revoked = :f',
            ExpressionAttributeValues: {
              ':p': S(publisher),
              ':t': { BOOL: true },
              ':f': { BOOL: false },
              ':at': S(now.toISOString()),
              ':by': S(by),
              ':why': S(reason),
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      this.#cache.clear();
      return toPublisher(r.Attributes ?? {});
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
      return (await this.getPublisher(publisher)) as PublisherRecord;
    }
  }

  /** Versions a publisher has admitted (a scan; used to name what a publisher revocation covers). */
  async listByPublisher(publisher: string): Promise<PluginRecord[]> {
    return (await this.list()).filter((r) => r.publisher === publisher);
  }

  /**
   * Registry facts for the policy engine's `plugin_exec`. Cached ≤ 30 s per
   * (plugin, version); the digest comparison is done on every call, never cached.
   */
  async isAllowed(
    pluginId: string,
    version: string,
    digest: string,
    now: Date = new Date(),
  ): Promise<PluginAllowFacts> {
    const key = `${pluginId}\n${version}`;
    const t = this.#clock();
    let entry = this.#cache.get(key);
    if (!entry || t - entry.at >= this.#ttl) {
      const vk = versionKey(pluginId, version);
      const r = await awsCall('dynamodb:GetItem', () =>
        this.#ddb.send(new GetItemCommand({ TableName: this.#table, Key: vk, ConsistentRead: true })),
      );
      const publisher = r.Item ? gs(r.Item, 'publisher') : undefined;
      let pub: Record<string, AttributeValue> | undefined;
      if (publisher) {
        const b = await awsCall('dynamodb:BatchGetItem', () =>
          this.#ddb.send(
            new BatchGetItemCommand({
              RequestItems: { [this.#table]: { Keys: [publisherKey(publisher)], ConsistentRead: true } },
            }),
          ),
        );
        pub = b.Responses?.[this.#table]?.[0];
      }
      entry = { at: t, ...(r.Item ? { version: r.Item } : {}), ...(pub ? { publisher: pub } : {}) };
      if (this.#ttl > 0) this.#cache.set(key, entry);
    }
    if (!entry.version)
      return {
        admitted: false,
        revoked: false,
        expired: false,
        digestMatches: false,
        allowed: false,
        expiresAt: null,
        publisher: null,
      };
    const rec = toRecord(entry.version);
    const revoked = rec.status === 'revoked' || entry.publisher?.revoked?.BOOL === true;
    const expired = now.getTime() >= Date.parse(rec.expiresAt);
    const digestMatches = rec.digest === digest.toLowerCase();
    return {
      admitted: true,
      revoked,
      expired,
      digestMatches,
      allowed: !revoked && !expired && digestMatches,
      expiresAt: rec.expiresAt,
      publisher: rec.publisher,
    };
  }

  /** Drops the read cache (tests; a revoking process calls it on itself automatically). */
  clearCache(): void {
    this.#cache.clear();
  }
}

/** The `PluginFacts` object the policy engine's request context takes (lambdas/policy/model.ts). */
export function toPolicyPluginFacts(
  pluginId: string,
  digest: string,
  f: PluginAllowFacts,
): { pluginId: string; digest: string; admitted: boolean; revoked: boolean; expiresAt: string } {
  return {
    pluginId,
    digest,
    // A digest mismatch means this exact artifact was never admitted.
    admitted: f.admitted && f.digestMatches,
    revoked: f.revoked,
    expiresAt: f.expiresAt ?? new Date(0).toISOString(),
  };
}

/** Creates the registry table (local emulator, demo); in AWS the construct owns it. Idempotent. */
export async function createRegistryTable(ddb: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await awsCall('dynamodb:CreateTable', () =>
      ddb.send(
        new CreateTableCommand({
          TableName: tableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        }),
      ),
    );
  } catch (e) {
    if (!(e instanceof ResourceInUseException)) throw e;
  }
}
