import { randomBytes } from 'node:crypto';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DEFAULT_NONCE_TTL_SECONDS, type NonceStore } from '../../lambdas/attestation/nonce-store.ts';
import { reject } from '../../lambdas/attestation/reasons.ts';
import { ConflictError } from '../../lambdas/shared/errors.ts';

/** The nonce table as the Attestation construct defines it (partition key `nonce`). */
export async function createNonceTable(ddb: DynamoDBClient, name: string): Promise<void> {
  await ddb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'nonce', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'nonce', KeyType: 'HASH' }],
    }),
  );
}

interface Entry {
  sessionId: string;
  expiresAt: number;
  used: boolean;
}

/** The NonceStore contract in memory: a test double for in-process steps (the contract test holds it to DynamoNonceStore's). */
export class InMemoryNonceStore implements NonceStore {
  readonly #m = new Map<string, Entry>();
  readonly #now: () => number;
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }
  async issue(sessionId: string, opts: { nonce?: Uint8Array; ttlSeconds?: number } = {}): Promise<Uint8Array> {
    const nonce = opts.nonce ?? randomBytes(32);
    const key = Buffer.from(nonce).toString('hex');
    if (this.#m.has(key)) throw new ConflictError('nonce already issued');
    this.#m.set(key, {
      sessionId,
      expiresAt: this.#now() + (opts.ttlSeconds ?? DEFAULT_NONCE_TTL_SECONDS) * 1000,
      used: false,
    });
    return nonce;
  }
  async consume(nonce: Uint8Array, sessionId: string): Promise<void> {
    const e = this.#m.get(Buffer.from(nonce).toString('hex'));
    if (!e || e.sessionId !== sessionId || e.expiresAt <= this.#now())
      reject('NONCE_MISMATCH', 'the nonce is unknown, expired or issued to another session.');
    if (e.used) reject('NONCE_REUSED');
    e.used = true;
  }
}
