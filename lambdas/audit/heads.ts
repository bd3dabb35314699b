/**
 * The chain head store: per chain, the last object written (seq, key, version,
 * hash) and the last digest. A DynamoDB item rather than a head object in the
 * bucket: every object in the audit bucket is Object-Locked by default, so a head
 * object rewritten per batch would pile up undeletable versions for a year;
 * DynamoDB gives an atomic conditional write per item for a mutable pointer that
 * is only an index (the chain itself is the truth: a stale or lost head is
 * repaired by probing the next key).
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { awsCall } from '../shared/aws-errors.ts';
import type { ChainPointer } from './chain.ts';

export interface ChainHead extends ChainPointer {
  readonly chain: string;
  readonly seq: number;
}

export interface DigestHead extends ChainPointer {
  readonly digestSeq: number;
  /** Last chain seq covered by this digest. */
  readonly throughSeq: number;
}

export interface ChainState {
  readonly chain: string;
  readonly head: ChainHead | null;
  readonly digest: DigestHead | null;
}

export interface HeadStore {
  get(chain: string): Promise<ChainState>;
  /** Moves the head forward to `head.seq`; false if the stored head is already at or past it. */
  advance(head: ChainHead): Promise<boolean>;
  /** Moves the digest head forward; false if another digester already did. */
  advanceDigest(chain: string, digest: DigestHead): Promise<boolean>;
  list(): AsyncIterable<ChainState>;
}

type Item = Record<string, { S?: string; N?: string }>;

function itemToState(chain: string, item: Item | undefined): ChainState {
  if (!item) return { chain, head: null, digest: null };
  const s = (k: string) => item[k]?.S;
  const n = (k: string) => (item[k]?.N !== undefined ? Number(item[k]?.N) : undefined);
  const seq = n('seq');
  const head =
    seq !== undefined
      ? { chain, seq, key: s('key') ?? '', versionId: s('versionId') ?? '', sha256: s('sha256') ?? '' }
      : null;
  const dSeq = n('dSeq');
  const digest =
    dSeq !== undefined
      ? {
          digestSeq: dSeq,
          throughSeq: n('dThroughSeq') ?? 0,
          key: s('dKey') ?? '',
          versionId: s('dVersionId') ?? '',
          sha256: s('dSha256') ?? '',
        }
      : null;
  return { chain, head, digest };
}

/**
 * Head store on one DynamoDB table (partition key `chain`, string). Writer and
 * digester update disjoint attributes of the same item, each with a condition that
 * only lets its sequence number grow, so concurrent writers cannot move it back.
 */
export function dynamoHeadStore(ddb: DynamoDBClient, table: string): HeadStore {
  const conditional = async (cmd: UpdateItemCommand): Promise<boolean> => {
    try {
      await awsCall('dynamodb:UpdateItem', () => ddb.send(cmd));
      return true;
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException') {
        return false;
      }
      throw e;
    }
  };
  return {
    async get(chain) {
      const out = await awsCall('dynamodb:GetItem', () =>
        ddb.send(new GetItemCommand({ TableName: table, Key: { chain: { S: chain } }, ConsistentRead: true })),
      );
      return itemToState(chain, out.Item as Item | undefined);
    },
    advance(head) {
      return conditional(
        new UpdateItemCommand({
          TableName: table,
          Key: { chain: { S: head.chain } },
          UpdateExpression: 'SET seq = :seq, #k = :key, versionId = :v, sha256 = :h, updatedAt = :t',
          ConditionExpression: 'attribute_not_exists(seq) OR seq < :seq',
          ExpressionAttributeNames: { '#k': 'key' },
          ExpressionAttributeValues: {
            ':seq': { N: String(head.seq) },
            ':key': { S: head.key },
            ':v': { S: head.versionId },
            ':h': { S: head.sha256 },
            ':t': { S: new Date().toISOString() },
          },
        }),
      );
    },
    advanceDigest(chain, d) {
      return conditional(
        new UpdateItemCommand({
          TableName: table,
          Key: { chain: { S: chain } },
          UpdateExpression: 'SET dSeq = :d, dThroughSeq = :through, dKey = :key, dVersionId = :v, dSha256 = :h',
          ConditionExpression: 'attribute_not_exists(dSeq) OR dSeq < :d',
          ExpressionAttributeValues: {
            ':d': { N: String(d.digestSeq) },
            ':through': { N: String(d.throughSeq) },
            ':key': { S: d.key },
            ':v': { S: d.versionId },
            ':h': { S: d.sha256 },
          },
        }),
      );
    },
    async *list() {
      let start: Record<string, unknown> | undefined;
      do {
        const out = await awsCall('dynamodb:Scan', () =>
          ddb.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start as never, ConsistentRead: true })),
        );
        for (const item of out.Items ?? []) {
          const chain = item.chain?.S;
          if (chain) yield itemToState(chain, item as Item);
        }
        start = out.LastEvaluatedKey;
      } while (start);
    },
  };
}
