/**
 * The session table: one item per session, keyed by `sessionId`, holding its
 * status, what it runs, and the task tokens of the two callbacks (attestation,
 * session end) so the guests' door and `aidops session end` can answer them
 * by session id. The `byInstance` index (keys only) finds the session of the
 * instance that calls the guests' door. Ended items are purged by DynamoDB TTL
 * (`purgeAt`). A tombstone marks the item (`tombstonedBy`); from then on only the
 * teardown moves it.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { awsCall } from '../shared/aws-errors.ts';
import { AidopsError, ConflictError, NotFoundError } from '../shared/errors.ts';
import { IN_FLIGHT, LIVE, type SessionContext, type SessionStatus } from './model.ts';

/** The global secondary index on `instanceId` (keys only): which session an instance runs. */
export const INSTANCE_INDEX = 'byInstance';

/**
 * The session was tombstoned: no step of its workflow may move its status any
 * more. Also the error the tombstone answers the workflow's pending callback with;
 * the session workflow catches it into a teardown that keeps the instance.
 */
export class SessionTombstonedError extends AidopsError {
  override name = 'SessionTombstonedError' as const;
}
export const SESSION_TOMBSTONED = 'SessionTombstonedError' as const;

export interface SessionItem {
  sessionId: string;
  status: SessionStatus;
  executionArn?: string;
  user?: string;
  cohort?: string;
  useCase?: string;
  tier?: string;
  profile?: string;
  evidenceType?: string;
  instanceType?: string;
  instanceId?: string;
  requestedAt?: string;
  expiresAt?: string;
  endedAt?: string;
  reason?: string;
  nonce?: string;
  attestToken?: string;
  endToken?: string;
  /** The profile's attestation policy (JSON), checked at synth. */
  attestationPolicy?: string;
  /** 'true' when the profile pins no measurement (its attestation events say so). */
  attestationUnpinned?: string;
  policyVersion?: string;
  updatedAt?: string;
  /** The tombstone (incident id) that contained the session; once set, only the teardown moves the status. */
  tombstonedBy?: string;
  tombstonedAt?: string;
  /** The desktop's OS, how the policy normalizes its paths (`linux` | `windows`). Absent: `linux`. */
  os?: string;
  /** Scopes granted through the scope-grant workflow (lambdas/sessions/scopes.ts), by scope. */
  scopes?: Record<string, ScopeGrant>;
  /** Written by the guests' door (lambdas/doors/guest/marks.ts): its attestation verdict and when. */
  attestation?: 'verified' | 'rejected';
  attestedAt?: string;
  /** Written by the guests' door: when the agent last called, and the state it last reported. */
  lastSeenAt?: string;
  agentState?: string;
}

/** One granted scope on the session item; held until `expiresAt` or a revocation. */
export interface ScopeGrant {
  readonly requestId: string;
  readonly expiresAt: string;
  readonly grantedBy: string;
  readonly grantedAt: string;
}

type Av = { S?: string; N?: string; BOOL?: boolean; NULL?: boolean; M?: Record<string, Av> };

function toGrants(m: Record<string, Av>): Record<string, ScopeGrant> {
  const out: Record<string, ScopeGrant> = {};
  for (const [scope, v] of Object.entries(m)) {
    const g = v.M;
    if (!g?.expiresAt?.S) continue; // not a grant: never held
    out[scope] = {
      requestId: g.requestId?.S ?? '',
      expiresAt: g.expiresAt.S,
      grantedBy: g.grantedBy?.S ?? '',
      grantedAt: g.grantedAt?.S ?? '',
    };
  }
  return out;
}

const isConditional = (e: unknown) =>
  e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException';

function toItem(raw: Record<string, Av> | undefined): SessionItem | undefined {
  if (!raw) return undefined;
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (v.S !== undefined) o[k] = v.S;
  if (raw.scopes?.M) o.scopes = toGrants(raw.scopes.M);
  return o as unknown as SessionItem;
}

/** Purge ended items after 90 days (the audit trail is the record, not this table). */
const PURGE_AFTER_S = 90 * 86_400;

export class SessionTable {
  readonly #ddb: DynamoDBClient;
  readonly tableName: string;
  constructor(ddb: DynamoDBClient, tableName: string) {
    this.#ddb = ddb;
    this.tableName = tableName;
  }

  async get(sessionId: string): Promise<SessionItem | undefined> {
    const r = await awsCall('GetItem session', () =>
      this.#ddb.send(
        new GetItemCommand({ TableName: this.tableName, Key: { sessionId: { S: sessionId } }, ConsistentRead: true }),
      ),
    );
    return toItem(r.Item as Record<string, Av> | undefined);
  }

  async mustGet(sessionId: string): Promise<SessionItem> {
    const s = await this.get(sessionId);
    if (!s) throw new NotFoundError(`no session ${sessionId}`, { sessionId });
    return s;
  }

  /**
   * Records an admitted session. A restart of an interrupted run (same session id,
   * still in flight) takes the item over; an ended or active session is a conflict.
   */
  async admit(
    s: SessionContext,
    attestation: { readonly policy?: unknown; readonly unpinned: boolean },
    now: Date,
  ): Promise<void> {
    const item: Record<string, Av> = {
      sessionId: { S: s.sessionId },
      status: { S: 'admitted' },
      executionArn: { S: s.executionArn },
      user: { S: s.user },
      cohort: { S: s.cohort },
      useCase: { S: s.useCase },
      tier: { S: s.tier },
      profile: { S: s.profile },
      evidenceType: { S: s.evidenceType },
      instanceType: { S: s.instanceType },
      requestedAt: { S: s.requestedAt },
      expiresAt: { S: s.expiresAt },
      policyVersion: { S: s.policyVersion },
      updatedAt: { S: now.toISOString() },
    };
    if (attestation.policy) item.attestationPolicy = { S: JSON.stringify(attestation.policy) };
    if (attestation.unpinned) item.attestationUnpinned = { S: 'true' };
    const values: Record<string, Av> = {};
    IN_FLIGHT.forEach((st, i) => {
      values[`:s${i}`] = { S: st };
    });
    try {
      await awsCall('PutItem session', () =>
        this.#ddb.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: item as Record<string, AttributeValue>,
            ConditionExpression: `attribute_not_exists(sessionId) OR #st IN (${IN_FLIGHT.map((_, i) => `:s${i}`).join(', ')})`,
            ExpressionAttributeNames: { '#st': 'status' },
            ExpressionAttributeValues: values as Record<string, AttributeValue>,
          }),
        ),
      );
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) {
        const cur = await this.get(s.sessionId);
        throw new ConflictError(
          `session ${s.sessionId} already exists with status ${cur?.status ?? '?'}; session ids are single-use`,
          { sessionId: s.sessionId, status: cur?.status },
        );
      }
      throw e;
    }
  }

  /**
   * Sets fields (strings) and removes others; `status` moves only forward in practice (the workflow is the writer).
   * Once a tombstone has marked the session, a status other than `tombstoned` is refused (SessionTombstonedError).
   */
  async update(
    sessionId: string,
    set: Partial<Record<keyof SessionItem, string>>,
    remove: readonly (keyof SessionItem)[] = [],
    now = new Date(),
  ): Promise<void> {
    const fields = { ...set, updatedAt: now.toISOString() } as Record<string, string>;
    const names: Record<string, string> = {};
    const values: Record<string, Av> = {};
    const sets = Object.entries(fields).map(([k, v], i) => {
      names[`#f${i}`] = k;
      values[`:v${i}`] = { S: v };
      return `#f${i} = :v${i}`;
    });
    if (set.status === 'ended' || set.status === 'failed' || set.status === 'tombstoned') {
      names['#purge'] = 'purgeAt';
      values[':purge'] = { N: String(Math.floor(now.getTime() / 1000) + PURGE_AFTER_S) };
      sets.push('#purge = :purge');
    }
    const rems = remove.map((k, i) => {
      names[`#r${i}`] = k;
      return `#r${i}`;
    });
    const guarded = set.status !== undefined && set.status !== 'tombstoned';
    try {
      await awsCall('UpdateItem session', () =>
        this.#ddb.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: { sessionId: { S: sessionId } },
            UpdateExpression: `SET ${sets.join(', ')}${rems.length ? ` REMOVE ${rems.join(', ')}` : ''}`,
            ConditionExpression: guarded
              ? 'attribute_exists(sessionId) AND attribute_not_exists(tombstonedBy)'
              : 'attribute_exists(sessionId)',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values as Record<string, AttributeValue>,
          }),
        ),
      );
    } catch (e) {
      if (guarded && isConditional(e)) {
        const cur = await this.get(sessionId);
        if (cur?.tombstonedBy)
          throw new SessionTombstonedError(`session ${sessionId} was tombstoned by ${cur.tombstonedBy}`, {
            sessionId,
            incidentId: cur.tombstonedBy,
          });
      }
      throw e;
    }
  }

  /**
   * The tombstone's mark: status `tombstoned` and the incident, only on a live session
   * (an ended one stays as it ended). Returns the item as it was, with its pending
   * callback tokens, and whether this call marked it.
   */
  async markTombstoned(
    sessionId: string,
    incidentId: string,
    reason: string,
    now = new Date(),
  ): Promise<{ before: SessionItem | undefined; marked: boolean }> {
    const values: Record<string, Av> = {
      ':tomb': { S: 'tombstoned' },
      ':inc': { S: incidentId },
      ':now': { S: now.toISOString() },
      ':why': { S: reason.slice(0, 3000) },
    };
    LIVE.forEach((st, i) => {
      values[`:l${i}`] = { S: st };
    });
    try {
      const out = await awsCall('UpdateItem session (tombstone)', () =>
        this.#ddb.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: { sessionId: { S: sessionId } },
            UpdateExpression:
              'SET #st = :tomb, tombstonedBy = :inc, tombstonedAt = :now, reason = :why, updatedAt = :now',
            ConditionExpression: `attribute_exists(sessionId) AND #st IN (${LIVE.map((_, i) => `:l${i}`).join(', ')})`,
            ExpressionAttributeNames: { '#st': 'status' },
            ExpressionAttributeValues: values as Record<string, AttributeValue>,
            ReturnValues: 'ALL_OLD',
          }),
        ),
      );
      return { before: toItem(out.Attributes as Record<string, Av> | undefined), marked: true };
    } catch (e) {
      if (!isConditional(e)) throw e;
      return { before: await this.get(sessionId), marked: false };
    }
  }

  /**
   * The session an instance runs: its live session, else its most recent one. The index is
   * eventually consistent, so each candidate is read back consistently and must still name
   * the instance.
   */
  async byInstance(instanceId: string): Promise<SessionItem | undefined> {
    const r = await awsCall('Query sessions by instance', () =>
      this.#ddb.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: INSTANCE_INDEX,
          KeyConditionExpression: 'instanceId = :i',
          ExpressionAttributeValues: { ':i': { S: instanceId } },
          Limit: 20,
        }),
      ),
    );
    const ids = [...new Set((r.Items ?? []).map((i) => i.sessionId?.S).filter((s): s is string => !!s))];
    const found = (await Promise.all(ids.map((id) => this.get(id)))).filter(
      (s): s is SessionItem => s?.instanceId === instanceId,
    );
    const live = (s: SessionItem) => (LIVE as readonly string[]).includes(s.status);
    return found.sort(
      (a, b) => Number(live(b)) - Number(live(a)) || (b.requestedAt ?? '').localeCompare(a.requestedAt ?? ''),
    )[0];
  }

  async list(limit = 1000): Promise<SessionItem[]> {
    const out: SessionItem[] = [];
    let start: Record<string, Av> | undefined;
    do {
      const r = await awsCall('Scan sessions', () =>
        this.#ddb.send(
          new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: start as never, ConsistentRead: true }),
        ),
      );
      for (const i of r.Items ?? []) {
        const s = toItem(i as Record<string, Av>);
        if (s) out.push(s);
      }
      start = r.LastEvaluatedKey as Record<string, Av> | undefined;
    } while (start && out.length < limit);
    return out.sort((a, b) => (b.requestedAt ?? '').localeCompare(a.requestedAt ?? ''));
  }
}
