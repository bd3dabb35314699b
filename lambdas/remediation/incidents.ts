/**
 * The incident table: blast-radius rate counters, session locks and parked
 * restore approvals, all with a TTL. The trigger, the tombstone's held path,
 * the restore workflow and the CLI share it.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { awsCall } from '../shared/aws-errors.ts';

export interface IncidentStore {
  /** 'acquired' (new), 'same' (held by this execution already), or the execution that holds it. */
  lockSession(
    sessionId: string,
    executionName: string,
    ttlSeconds: number,
  ): Promise<{ status: 'acquired' | 'same' | 'held'; holder: string }>;
  releaseSession(sessionId: string): Promise<void>;
  /** Releases the lock only if `executionName` holds it; true when it did. */
  releaseSessionIf(sessionId: string, executionName: string): Promise<boolean>;
  /** Takes one of `max` slots of the current minute; false when they are gone. */
  claimSlot(minute: string, max: number): Promise<boolean>;
  putApproval(
    executionArn: string,
    item: { token: string; sessionId: string | null; expiresAt: number; summary: string; requestedBy?: string },
  ): Promise<void>;
  /** `requestedBy`: who started the restore (the two-person rule compares the approver with it). */
  getApproval(
    executionArn: string,
  ): Promise<{ token: string; sessionId: string | null; summary: string; requestedBy: string | null } | null>;
  deleteApproval(executionArn: string): Promise<void>;
}

const isConditional = (e: unknown) =>
  e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException';

export function dynamoIncidentStore(
  ddb: DynamoDBClient,
  table: string,
  nowSec: () => number = () => Math.floor(Date.now() / 1000),
): IncidentStore {
  return {
    async lockSession(sessionId, executionName, ttlSeconds) {
      const pk = `lock#${sessionId}`;
      try {
        await awsCall('dynamodb:PutItem', () =>
          ddb.send(
            new PutItemCommand({
              TableName: table,
              Item: { pk: { S: pk }, execution: { S: executionName }, expiresAt: { N: String(nowSec() + ttlSeconds) } },
              // An expired lock (TTL deletion lags) counts as free.
              ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR execution = :e',
              ExpressionAttributeValues: { ':now': { N: String(nowSec()) }, ':e': { S: executionName } },
            }),
          ),
        );
        return { status: 'acquired', holder: executionName };
      } catch (e) {
        if (!isConditional(e)) throw e;
        const cur = await awsCall('dynamodb:GetItem', () =>
          ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } }, ConsistentRead: true })),
        );
        const holder = cur.Item?.execution?.S ?? 'unknown';
        return { status: holder === executionName ? 'same' : 'held', holder };
      }
    },
    async releaseSession(sessionId) {
      await awsCall('dynamodb:DeleteItem', () =>
        ddb.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: `lock#${sessionId}` } } })),
      );
    },
    async releaseSessionIf(sessionId, executionName) {
      try {
        await awsCall('dynamodb:DeleteItem', () =>
          ddb.send(
            new DeleteItemCommand({
              TableName: table,
              Key: { pk: { S: `lock#${sessionId}` } },
              ConditionExpression: 'execution = :e',
              ExpressionAttributeValues: { ':e': { S: executionName } },
            }),
          ),
        );
        return true;
      } catch (e) {
        if (isConditional(e)) return false;
        throw e;
      }
    },
    async claimSlot(minute, max) {
      try {
        await awsCall('dynamodb:UpdateItem', () =>
          ddb.send(
            new UpdateItemCommand({
              TableName: table,
              Key: { pk: { S: `rate#${minute}` } },
              UpdateExpression: 'ADD n :one SET expiresAt = :ttl',
              ConditionExpression: 'attribute_not_exists(n) OR n < :max',
              ExpressionAttributeValues: {
                ':one': { N: '1' },
                ':max': { N: String(max) },
                ':ttl': { N: String(nowSec() + 3600) },
              },
            }),
          ),
        );
        return true;
      } catch (e) {
        if (isConditional(e)) return false;
        throw e;
      }
    },
    async putApproval(executionArn, item) {
      await awsCall('dynamodb:PutItem', () =>
        ddb.send(
          new PutItemCommand({
            TableName: table,
            Item: {
              pk: { S: `approval#${executionArn}` },
              token: { S: item.token },
              sessionId: { S: item.sessionId ?? '' },
              summary: { S: item.summary },
              ...(item.requestedBy ? { requestedBy: { S: item.requestedBy } } : {}),
              expiresAt: { N: String(item.expiresAt) },
            },
          }),
        ),
      );
    },
    async getApproval(executionArn) {
      const out = await awsCall('dynamodb:GetItem', () =>
        ddb.send(
          new GetItemCommand({
            TableName: table,
            Key: { pk: { S: `approval#${executionArn}` } },
            ConsistentRead: true,
          }),
        ),
      );
      if (!out.Item?.token?.S) return null;
      return {
        token: out.Item.token.S,
        sessionId: out.Item.sessionId?.S || null,
        summary: out.Item.summary?.S ?? '',
        requestedBy: out.Item.requestedBy?.S || null,
      };
    },
    async deleteApproval(executionArn) {
      await awsCall('dynamodb:DeleteItem', () =>
        ddb.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: `approval#${executionArn}` } } })),
      );
    },
  };
}

/** `2025-06-01T12:03`: the minute a slot is counted in. */
export const minuteOf = (d: Date): string => d.toISOString().slice(0, 16);
