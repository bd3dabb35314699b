/**
 * Nonces the control plane issues per session attempt, each usable once.
 *
 * DynamoDB item: { nonce (hex, partition key), sessionId, expiresAt (epoch s, the
 * table's TTL attribute), used (BOOL), usedAt }. `consume` is a single conditional
 * UpdateItem, so two concurrent replays cannot both succeed. TTL deletion is lazy
 * (up to days), so expiry is also enforced in the condition.
 */
import { randomBytes } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { classifyAwsError } from '../shared/aws-errors.ts';
import { ConflictError } from '../shared/errors.ts';
import { reject } from './reasons.ts';

export interface NonceStore {
  /** Issues a nonce for a session attempt (random 32 bytes unless one is given). */
  issue(sessionId: string, opts?: { nonce?: Uint8Array; ttlSeconds?: number }): Promise<Uint8Array>;
  /** Marks the nonce used by this session; NONCE_REUSED on replay, NONCE_MISMATCH if unknown, expired or another session's. */
  consume(nonce: Uint8Array, sessionId: string): Promise<void>;
}

export const DEFAULT_NONCE_TTL_SECONDS = 300;

export interface DynamoNonceStoreOptions {
  readonly tableName: string;
  /** @default DEFAULT_NONCE_TTL_SECONDS */
  readonly ttlSeconds?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export class DynamoNonceStore implements NonceStore {
  readonly #ddb: DynamoDBClient;
  readonly #o: DynamoNonceStoreOptions;
  constructor(ddb: DynamoDBClient, opts: DynamoNonceStoreOptions) {
    this.#ddb = ddb;
    this.#o = opts;
  }
  #nowS(): number {
    return Math.floor((this.#o.now ?? Date.now)() / 1000);
  }
  async issue(sessionId: string, opts: { nonce?: Uint8Array; ttlSeconds?: number } = {}): Promise<Uint8Array> {
    const nonce = opts.nonce ?? randomBytes(32);
    const ttl = opts.ttlSeconds ?? this.#o.ttlSeconds ?? DEFAULT_NONCE_TTL_SECONDS;
    try {
      await this.#ddb.send(
        new PutItemCommand({
          TableName: this.#o.tableName,
          Item: {
            nonce: { S: Buffer.from(nonce).toString('hex') },
            sessionId: { S: sessionId },
            expiresAt: { N: String(this.#nowS() + ttl) },
            used: { BOOL: false },
          },
          ConditionExpression: 'attribute_not_exists(nonce)',
        }),
      );
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) throw new ConflictError('nonce already issued');
      throw classifyAwsError(e, 'issuing a nonce');
    }
    return nonce;
  }
  async consume(nonce: Uint8Array, sessionId: string): Promise<void> {
    const key = { nonce: { S: Buffer.from(nonce).toString('hex') } };
    const now = this.#nowS();
    try {
      await this.#ddb.send(
        new UpdateItemCommand({
          TableName: this.#o.tableName,
          Key: key,
          UpdateExpression: 'SET used = :t, usedAt = :now',
          ConditionExpression: 'attribute_exists(nonce) AND used = :f AND sessionId = :sid AND expiresAt > :now',
          ExpressionAttributeValues: {
            ':t': { BOOL: true },
            ':f': { BOOL: false },
            ':sid': { S: sessionId },
            ':now': { N: String(now) },
          },
        }),
      );
      return;
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw classifyAwsError(e, 'consuming a nonce');
    }
    // Why the condition failed decides the reason; a consistent read sees the winner of any race.
    let item: Record<string, { S?: string; N?: string; BOOL?: boolean }> | undefined;
    try {
      item = (
        await this.#ddb.send(new GetItemCommand({ TableName: this.#o.tableName, Key: key, ConsistentRead: true }))
      ).Item as typeof item;
    } catch (e) {
      throw classifyAwsError(e, 'reading a nonce');
    }
    if (!item || item.sessionId?.S !== sessionId || Number(item.expiresAt?.N ?? 0) <= now)
      reject('NONCE_MISMATCH', 'the nonce is unknown, expired or issued to another session.');
    if (item.used?.BOOL === true) reject('NONCE_REUSED');
    reject('NONCE_MISMATCH', 'the nonce could not be consumed.');
  }
}
