/**
 * What the guests' door keeps on the caller's session item, beside what the
 * workflow keeps there: the caller's request counter (the per-caller limit),
 * when the agent was last seen and the state it reported, and the attestation
 * verdict the door reached. It reads the session's approved scopes from the
 * same item. Each write is one conditional UpdateItem on the session's key.
 *
 * The per-caller limit is a counter per fixed window (`doorWindow`,
 * `doorCount`): API Gateway's stage throttle is one bucket for all callers, so
 * an instance's own limit lives here. A window's first request starts it, the
 * next ones count while under the limit; across a window's edge a caller can
 * send up to twice the limit in a short time.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { type ActiveScope, activeScopes } from '../../sessions/scopes.ts';
import { SessionTable } from '../../sessions/table.ts';
import { awsCall } from '../../shared/aws-errors.ts';

export interface CallerLimit {
  readonly requests: number;
  readonly windowSeconds: number;
}

/** A scope granted to the session, as the session state reports it. */
export type GrantedScope = ActiveScope;

type Av = AttributeValue;

export class SessionMarks {
  readonly #ddb: DynamoDBClient;
  readonly #table: string;
  constructor(ddb: DynamoDBClient, tableName: string) {
    this.#ddb = ddb;
    this.#table = tableName;
  }

  async #update(
    what: string,
    sessionId: string,
    expression: string,
    condition: string,
    values: Record<string, Av>,
    names: Record<string, string> = {},
    returnOld = false,
  ): Promise<Record<string, Av> | undefined> {
    const r = await awsCall(what, () =>
      this.#ddb.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: { sessionId: { S: sessionId } },
          UpdateExpression: expression,
          ConditionExpression: `attribute_exists(sessionId) AND (${condition})`,
          ExpressionAttributeValues: values,
          ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
          ...(returnOld ? { ReturnValues: 'ALL_OLD' as const } : {}),
        }),
      ),
    );
    return r.Attributes;
  }

  /** Counts one request in the caller's current window; false when the window is full. */
  async countRequest(sessionId: string, limit: CallerLimit, now: Date): Promise<boolean> {
    const w = { N: String(Math.floor(now.getTime() / 1000 / limit.windowSeconds)) };
    const one = { N: '1' };
    const inWindow = () =>
      this.#update('UpdateItem door counter', sessionId, 'ADD doorCount :one', 'doorWindow = :w AND doorCount < :max', {
        ':one': one,
        ':w': w,
        ':max': { N: String(limit.requests) },
      });
    const newWindow = () =>
      this.#update(
        'UpdateItem door window',
        sessionId,
        'SET doorWindow = :w, doorCount = :one',
        'attribute_not_exists(doorWindow) OR doorWindow < :w',
        { ':one': one, ':w': w },
      );
    // The usual case first (inside the window, under the limit); then a new window; then once
    // more inside it, in case a concurrent request of the same caller opened it first.
    for (const attempt of [inWindow, newWindow, inWindow]) {
      try {
        await attempt();
        return true;
      } catch (e) {
        if (!(e instanceof ConditionalCheckFailedException)) throw e;
      }
    }
    return false;
  }

  /** Records the agent as seen now, with the state it reports; returns the state it reported before. */
  async seen(sessionId: string, state: string | undefined, now: Date): Promise<{ previous?: string }> {
    const old = await this.#update(
      'UpdateItem last seen',
      sessionId,
      state === undefined ? 'SET lastSeenAt = :t' : 'SET lastSeenAt = :t, agentState = :s',
      'attribute_exists(sessionId)',
      { ':t': { S: now.toISOString() }, ...(state === undefined ? {} : { ':s': { S: state } }) },
      {},
      true,
    );
    const previous = old?.agentState?.S;
    return previous === undefined ? {} : { previous };
  }

  /** Records the door's attestation verdict on the session (what the session state reports). */
  async attested(sessionId: string, verdict: 'verified' | 'rejected', at: Date): Promise<void> {
    await this.#update(
      'UpdateItem attestation verdict',
      sessionId,
      'SET attestation = :v, attestedAt = :t',
      'attribute_exists(sessionId)',
      { ':v': { S: verdict }, ':t': { S: at.toISOString() } },
    );
  }

  /** The session's scopes that have not expired at `now`, read as the decider reads them (sessions/scopes.ts). */
  async scopes(sessionId: string, now: Date): Promise<GrantedScope[]> {
    const item = await new SessionTable(this.#ddb, this.#table).get(sessionId);
    return item ? activeScopes(item, now) : [];
  }
}
