/**
 * Chain layout, object format and the chain head store.
 *
 * A chain is the ordered list of audit objects of one session (or the
 * control plane). Object `seq` of chain `c` lives at a key derived from (c, seq),
 * and its first line (the header) names the key, version id and SHA-256 of object
 * `seq - 1`. So a chain verifies from the objects alone, without trusting listing
 * order, and a writer can never fork it: keys are created with If-None-Match: *,
 * so exactly one writer can create `seq`.
 *
 * The head (last seq/key/version/hash per chain) is a DynamoDB item rather than a
 * head object in the bucket: every object in the audit bucket is Object-Locked by
 * default, so a head object rewritten per batch would pile up undeletable versions
 * for a year; DynamoDB gives an atomic conditional write per item for a mutable
 * pointer that is only an index (the chain itself is the truth: a stale or lost
 * head is repaired by probing the next key).
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';

export const CHAIN_OBJECT_FORMAT = 'aidops.audit.chain-object/1' as const;
export const DIGEST_FORMAT = 'aidops.audit.digest/1' as const;

/** First line of every chain object. */
export interface ChainHeader {
  readonly format: typeof CHAIN_OBJECT_FORMAT;
  readonly chain: string;
  readonly seq: number;
  /** Hex SHA-256 of the whole previous object of this chain; null for seq 1. */
  readonly prevObjectSha256: string | null;
  readonly prevKey: string | null;
  readonly prevVersionId: string | null;
  /** Number of event lines after the header. */
  readonly count: number;
  readonly writtenAt: string;
  readonly firstEventTime: string;
  readonly lastEventTime: string;
}

const SEQ_WIDTH = 12;

/** `''` or a prefix ending in `/`. */
export function normalizePrefix(prefix: string | undefined): string {
  if (!prefix) return '';
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

const pad = (n: number) => String(n).padStart(SEQ_WIDTH, '0');

export function chainObjectKey(prefix: string, chain: string, seq: number): string {
  return `${normalizePrefix(prefix)}chains/${chain}/${pad(seq)}.jsonl`;
}

export function digestObjectKey(prefix: string, chain: string, digestSeq: number): string {
  return `${normalizePrefix(prefix)}digests/${chain}/${pad(digestSeq)}.json`;
}

const KEY_RE = /^(.*)(chains|digests)\/([A-Za-z0-9][A-Za-z0-9._:-]*)\/(\d{12})\.(jsonl|json)$/;

/** Parses a chain or digest key; null for anything else (foreign objects are reported, not trusted). */
export function parseAuditKey(
  prefix: string,
  key: string,
): { type: 'chain' | 'digest'; chain: string; seq: number } | null {
  const m = KEY_RE.exec(key);
  if (!m || m[1] !== normalizePrefix(prefix)) return null;
  const type = m[2] === 'chains' ? 'chain' : 'digest';
  if ((type === 'chain') !== (m[5] === 'jsonl')) return null;
  return { type, chain: m[3]!, seq: Number(m[4]) };
}

export interface ChainPointer {
  readonly key: string;
  readonly versionId: string;
  readonly sha256: string;
}

/** Header + event lines, newline-terminated. Event lines are already JSON. */
export function buildChainObject(
  chain: string,
  seq: number,
  prev: ChainPointer | null,
  eventLines: readonly string[],
  eventTimes: { first: string; last: string },
  writtenAt: Date,
): { header: ChainHeader; body: Buffer } {
  const header: ChainHeader = {
    format: CHAIN_OBJECT_FORMAT,
    chain,
    seq,
    prevObjectSha256: prev?.sha256 ?? null,
    prevKey: prev?.key ?? null,
    prevVersionId: prev?.versionId ?? null,
    count: eventLines.length,
    writtenAt: writtenAt.toISOString(),
    firstEventTime: eventTimes.first,
    lastEventTime: eventTimes.last,
  };
  const body = Buffer.from(`${JSON.stringify(header)}\n${eventLines.join('\n')}\n`, 'utf8');
  return { header, body };
}

/** Parses and shape-checks a header line; null when it is not one. */
export function parseChainHeader(line: string): ChainHeader | null {
  let h: unknown;
  try {
    h = JSON.parse(line);
  } catch {
    return null;
  }
  if (!h || typeof h !== 'object') return null;
  const o = h as Record<string, unknown>;
  const strOrNull = (v: unknown) => v === null || typeof v === 'string';
  if (
    o.format !== CHAIN_OBJECT_FORMAT ||
    typeof o.chain !== 'string' ||
    !Number.isSafeInteger(o.seq) ||
    !strOrNull(o.prevObjectSha256) ||
    !strOrNull(o.prevKey) ||
    !strOrNull(o.prevVersionId) ||
    !Number.isSafeInteger(o.count) ||
    typeof o.writtenAt !== 'string'
  ) {
    return null;
  }
  return o as unknown as ChainHeader;
}

// ---------------------------------------------------------------------------
// Head store

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
      await ddb.send(cmd);
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
      const out = await ddb.send(
        new GetItemCommand({ TableName: table, Key: { chain: { S: chain } }, ConsistentRead: true }),
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
        const out = await ddb.send(
          new ScanCommand({ TableName: table, ExclusiveStartKey: start as never, ConsistentRead: true }),
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

/** In-process head store with the same conditional semantics (benchmarks, unit tests). */
export function memoryHeadStore(): HeadStore & { readonly items: Map<string, ChainState> } {
  const items = new Map<string, ChainState>();
  return {
    items,
    async get(chain) {
      return items.get(chain) ?? { chain, head: null, digest: null };
    },
    async advance(head) {
      const cur = items.get(head.chain) ?? { chain: head.chain, head: null, digest: null };
      if (cur.head && cur.head.seq >= head.seq) return false;
      items.set(head.chain, { ...cur, head });
      return true;
    },
    async advanceDigest(chain, d) {
      const cur = items.get(chain) ?? { chain, head: null, digest: null };
      if (cur.digest && cur.digest.digestSeq >= d.digestSeq) return false;
      items.set(chain, { ...cur, digest: d });
      return true;
    },
    async *list() {
      yield* items.values();
    },
  };
}
