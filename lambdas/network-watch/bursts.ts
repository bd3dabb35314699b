/**
 * One incident per burst: the first batch that shows a session rejected on a
 * destination and port claims it (a conditional put in the incident table,
 * `egress#SESSION#DEST#PORT#PROTO`, held for a short window); later batches of
 * the same burst find the claim and raise nothing. A burst still going after
 * the window is a new incident. The claim is released when raising the event
 * fails, so the redelivery raises it.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { awsCall } from '../shared/aws-errors.ts';

export interface BurstClaims {
  /** The burst's incident id: a new one when this call claimed it, else the one that holds it. */
  claim(key: string, incidentId: string, windowSeconds: number): Promise<{ claimed: boolean; incidentId: string }>;
  release(key: string, incidentId: string): Promise<void>;
}

const isConditional = (e: unknown) =>
  e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException';

export function dynamoBurstClaims(
  ddb: DynamoDBClient,
  table: string,
  nowSec: () => number = () => Math.floor(Date.now() / 1000),
): BurstClaims {
  return {
    async claim(key, incidentId, windowSeconds) {
      const pk = `egress#${key}`;
      try {
        await awsCall('dynamodb:PutItem', () =>
          ddb.send(
            new PutItemCommand({
              TableName: table,
              Item: {
                pk: { S: pk },
                incident: { S: incidentId },
                expiresAt: { N: String(nowSec() + windowSeconds) },
              },
              // An expired claim (TTL deletion lags) counts as free.
              ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
              ExpressionAttributeValues: { ':now': { N: String(nowSec()) } },
            }),
          ),
        );
        return { claimed: true, incidentId };
      } catch (e) {
        if (!isConditional(e)) throw e;
        const cur = await awsCall('dynamodb:GetItem', () =>
          ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } }, ConsistentRead: true })),
        );
        return { claimed: false, incidentId: cur.Item?.incident?.S ?? 'unknown' };
      }
    },
    async release(key, incidentId) {
      await awsCall('dynamodb:DeleteItem', () =>
        ddb.send(
          new DeleteItemCommand({
            TableName: table,
            Key: { pk: { S: `egress#${key}` } },
            ConditionExpression: 'incident = :i',
            ExpressionAttributeValues: { ':i': { S: incidentId } },
          }),
        ),
      ).catch((e: unknown) => {
        if (!isConditional(e)) throw e;
      });
    },
  };
}
