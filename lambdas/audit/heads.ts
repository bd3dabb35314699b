/**
 * The chain head store: per chain, the last object the writer wrote (seq, key,
 * version, hash), the keys it had to skip since, the write it is making now (a
 * claim), and the last digest. A DynamoDB item rather than a head object in the
 * bucket: every object in the audit bucket is Object-Locked by default, so a head
 * object rewritten per batch would pile up undeletable versions for a year; and
 * the bucket is what an attacker with `s3:PutObject` can write, so the head must
 * not be read from it. The head is the only source of truth for where a chain
 * ends: the writer never lists or probes S3 to find it, and never adopts an
 * object whose hash it did not claim before writing it.
 *
 * Every writer update is a compare-and-set on `rev` (one counter per item), so
 * concurrent writers serialize on the item; the digester updates disjoint
 * attributes with a condition that only lets its sequence number grow.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { awsCall } from '../shared/aws-errors.ts';
import { names } from '../shared/names.ts';
import type { ChainPointer } from './chain.ts';

/** The head table's name in an environment (`aidops:environment`): the construct names it, the CLI finds it. */
export function headTableName(environment: string): string {
  return names(environment).auditHeadTable;
}

export interface ChainHead extends ChainPointer {
  readonly chain: string;
  readonly seq: number;
}

export interface DigestHead extends ChainPointer {
  readonly digestSeq: number;
  /** Last chain seq covered by this digest. */
  readonly throughSeq: number;
  /** The object at `throughSeq` (the next digest's first object must link to it); null for an old item. */
  readonly through: ChainPointer | null;
}

/** A writer's intent to create `key` with exactly these bytes (their SHA-256), recorded before the PUT. */
export interface ChainClaim {
  readonly seq: number;
  readonly key: string;
  readonly sha256: string;
  /** Random id of the writer invocation that holds it. */
  readonly owner: string;
  /** When it was taken (ms since epoch): a claim older than the lease belongs to a writer that died. */
  readonly at: number;
}

export interface ChainState {
  readonly chain: string;
  /** False when the table has no item for the chain: the writer never wrote it. */
  readonly exists: boolean;
  readonly head: ChainHead | null;
  /** Keys after the head that held someone else's object when the writer tried them (the next object lists them). */
  readonly skipped: readonly string[];
  readonly claim: ChainClaim | null;
  /** Compare-and-set counter of the writer's attributes (0: no item). */
  readonly rev: number;
  readonly digest: DigestHead | null;
}

/** The seq the next object of a chain takes: after the head and every key skipped since. */
export function nextSeq(state: Pick<ChainState, 'head' | 'skipped'>): number {
  return (state.head?.seq ?? 0) + 1 + state.skipped.length;
}

/** What the verifier reads (read-only access to the table is enough). */
export interface HeadReader {
  get(chain: string): Promise<ChainState>;
  list(): AsyncIterable<ChainState>;
}

export interface HeadStore extends HeadReader {
  /** Records `claim` if the item is still at `rev`; the new rev, or null if someone else moved first. */
  claim(chain: string, rev: number, claim: ChainClaim): Promise<number | null>;
  /** Moves the head to `head` (clearing the claim and the skipped keys) if the item is still at `rev`. */
  commit(chain: string, rev: number, head: ChainHead): Promise<boolean>;
  /** Records `key` as skipped (squatted) and clears the claim, if the item is still at `rev`. */
  skip(chain: string, rev: number, key: string): Promise<boolean>;
  /** Clears the claim (its write never happened), if the item is still at `rev`. */
  release(chain: string, rev: number): Promise<boolean>;
  /** Moves the digest head forward; false if another digester already did. */
  advanceDigest(chain: string, digest: DigestHead): Promise<boolean>;
}

type Attr = { S?: string; N?: string; L?: Attr[] };
type Item = Record<string, Attr>;

function itemToState(chain: string, item: Item | undefined): ChainState {
  if (!item) return { chain, exists: false, head: null, skipped: [], claim: null, rev: 0, digest: null };
  const s = (k: string) => item[k]?.S;
  const n = (k: string) => (item[k]?.N !== undefined ? Number(item[k]?.N) : undefined);
  const seq = n('seq');
  const head =
    seq !== undefined
      ? { chain, seq, key: s('key') ?? '', versionId: s('versionId') ?? '', sha256: s('sha256') ?? '' }
      : null;
  const cSeq = n('cSeq');
  const claim =
    cSeq !== undefined
      ? { seq: cSeq, key: s('cKey') ?? '', sha256: s('cSha256') ?? '', owner: s('cOwner') ?? '', at: n('cAt') ?? 0 }
      : null;
  const dSeq = n('dSeq');
  const tKey = s('tKey');
  const digest =
    dSeq !== undefined
      ? {
          digestSeq: dSeq,
          throughSeq: n('dThroughSeq') ?? 0,
          key: s('dKey') ?? '',
          versionId: s('dVersionId') ?? '',
          sha256: s('dSha256') ?? '',
          through: tKey ? { key: tKey, versionId: s('tVersionId') ?? '', sha256: s('tSha256') ?? '' } : null,
        }
      : null;
  const skipped = (item.skipped?.L ?? []).map((a) => a.S ?? '');
  return { chain, exists: true, head, skipped, claim, rev: n('rev') ?? 0, digest };
}

const CLAIM_ATTRS = 'cSeq, cKey, cSha256, cOwner, cAt';

/**
 * Head store on one DynamoDB table (partition key `chain`, string). Writer and
 * digester update disjoint attributes of the same item.
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
  /** One compare-and-set of the writer's attributes: `rev` must still be `rev` (0: no writer update yet). */
  const cas = (
    chain: string,
    rev: number,
    change: { set: string; remove?: string; values?: Record<string, Attr>; names?: Record<string, string> },
  ) =>
    conditional(
      new UpdateItemCommand({
        TableName: table,
        Key: { chain: { S: chain } },
        UpdateExpression: `SET rev = :next, ${change.set}${change.remove ? ` REMOVE ${change.remove}` : ''}`,
        ConditionExpression: rev === 0 ? 'attribute_not_exists(rev)' : 'rev = :rev',
        ExpressionAttributeNames: change.names,
        ExpressionAttributeValues: {
          ':next': { N: String(rev + 1) },
          ...(rev === 0 ? {} : { ':rev': { N: String(rev) } }),
          ...change.values,
        } as never,
      }),
    );
  return {
    async get(chain) {
      const out = await awsCall('dynamodb:GetItem', () =>
        ddb.send(new GetItemCommand({ TableName: table, Key: { chain: { S: chain } }, ConsistentRead: true })),
      );
      return itemToState(chain, out.Item as Item | undefined);
    },
    async claim(chain, rev, c) {
      const ok = await cas(chain, rev, {
        set: 'cSeq = :seq, cKey = :key, cSha256 = :h, cOwner = :o, cAt = :at',
        values: {
          ':seq': { N: String(c.seq) },
          ':key': { S: c.key },
          ':h': { S: c.sha256 },
          ':o': { S: c.owner },
          ':at': { N: String(c.at) },
        },
      });
      return ok ? rev + 1 : null;
    },
    commit(chain, rev, head) {
      return cas(chain, rev, {
        set: 'seq = :seq, #k = :key, versionId = :v, sha256 = :h, updatedAt = :t',
        remove: `${CLAIM_ATTRS}, skipped`,
        values: {
          ':seq': { N: String(head.seq) },
          ':key': { S: head.key },
          ':v': { S: head.versionId },
          ':h': { S: head.sha256 },
          ':t': { S: new Date().toISOString() },
        },
        names: { '#k': 'key' },
      });
    },
    skip(chain, rev, key) {
      return cas(chain, rev, {
        set: 'skipped = list_append(if_not_exists(skipped, :empty), :k), updatedAt = :t',
        remove: CLAIM_ATTRS,
        values: { ':empty': { L: [] }, ':k': { L: [{ S: key }] }, ':t': { S: new Date().toISOString() } },
      });
    },
    release(chain, rev) {
      return cas(chain, rev, {
        set: 'updatedAt = :t',
        remove: CLAIM_ATTRS,
        values: { ':t': { S: new Date().toISOString() } },
      });
    },
    advanceDigest(chain, d) {
      return conditional(
        new UpdateItemCommand({
          TableName: table,
          Key: { chain: { S: chain } },
          UpdateExpression:
            'SET dSeq = :d, dThroughSeq = :through, dKey = :key, dVersionId = :v, dSha256 = :h, ' +
            'tKey = :tk, tVersionId = :tv, tSha256 = :th',
          ConditionExpression: 'attribute_not_exists(dSeq) OR dSeq < :d',
          ExpressionAttributeValues: {
            ':d': { N: String(d.digestSeq) },
            ':through': { N: String(d.throughSeq) },
            ':key': { S: d.key },
            ':v': { S: d.versionId },
            ':h': { S: d.sha256 },
            ':tk': { S: d.through?.key ?? '' },
            ':tv': { S: d.through?.versionId ?? '' },
            ':th': { S: d.through?.sha256 ?? '' },
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
