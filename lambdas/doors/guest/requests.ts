/**
 * `POST /v1/requests`: the agent asks a person to approve a staged write (one
 * the policy held, by its write id) or to grant its session a scope for a
 * while. The request is recorded pending in the requests table (one item per
 * session and request, purged 30 days after it was made) and audited; the
 * answer names the request id. Approving is the people's door's: it changes the
 * item's status and, for a scope, writes the grant the session state then reports.
 *
 * One pending request per session and subject: the id is derived from them, so
 * asking again while the first still waits answers the same id, and a request
 * answered (approved, rejected, expired) can be asked again.
 */
import { createHash } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { Scope } from '../../policy/model.ts';
import { LIVE } from '../../sessions/model.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { ConflictError } from '../../shared/errors.ts';
import type { Binding } from './binding.ts';

const Justification = z.string().min(1).max(1000);

export const ApprovalRequest = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('staged-write'),
    /** The id the staging step gave the held write (`<staging>/<sessionId>/<writeId>`). */
    writeId: z.uuid(),
    justification: Justification,
  }),
  z.strictObject({
    kind: z.literal('scope'),
    scope: Scope,
    /** How long the grant should last once approved (≤ 24 h; an approver may shorten it). */
    durationSeconds: z.number().int().min(60).max(86_400),
    justification: Justification,
  }),
]);
export type ApprovalRequest = z.output<typeof ApprovalRequest>;

const PURGE_AFTER_S = 30 * 86_400;

export interface RecordedRequest {
  readonly sessionId: string;
  readonly requestId: string;
  readonly kind: ApprovalRequest['kind'];
  readonly subject: string;
  readonly status: 'pending';
  readonly requestedAt: string;
  /** True when the same request was already pending (nothing new was recorded). */
  readonly alreadyPending: boolean;
}

export const subjectOf = (r: ApprovalRequest): string => (r.kind === 'scope' ? r.scope : r.writeId);

export class RequestStore {
  readonly #ddb: DynamoDBClient;
  readonly tableName: string;
  constructor(ddb: DynamoDBClient, tableName: string) {
    this.#ddb = ddb;
    this.tableName = tableName;
  }

  async record(b: Binding, r: ApprovalRequest, now: Date): Promise<RecordedRequest> {
    const s = b.session;
    if (!(LIVE as readonly string[]).includes(s.status))
      throw new ConflictError(`session ${s.sessionId} is ${s.status}: it can ask for nothing more`, {
        status: s.status,
      });
    const subject = subjectOf(r);
    const requestId = `req-${createHash('sha256').update(`${s.sessionId}\n${r.kind}\n${subject}`).digest('hex').slice(0, 20)}`;
    const requestedAt = now.toISOString();
    const key = { sessionId: { S: s.sessionId }, requestId: { S: requestId } };
    try {
      await awsCall('PutItem approval request', () =>
        this.#ddb.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: {
              ...key,
              kind: { S: r.kind },
              subject: { S: subject },
              ...(r.kind === 'scope' ? { durationSeconds: { N: String(r.durationSeconds) } } : {}),
              justification: { S: r.justification },
              status: { S: 'pending' },
              requestedAt: { S: requestedAt },
              requestedBy: { S: b.callerArn },
              instanceId: { S: b.instanceId },
              ...(s.user ? { user: { S: s.user } } : {}),
              purgeAt: { N: String(Math.floor(now.getTime() / 1000) + PURGE_AFTER_S) },
            },
            ConditionExpression: 'attribute_not_exists(requestId) OR #st <> :pending',
            ExpressionAttributeNames: { '#st': 'status' },
            ExpressionAttributeValues: { ':pending': { S: 'pending' } },
          }),
        ),
      );
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
      const cur = await awsCall('GetItem approval request', () =>
        this.#ddb.send(new GetItemCommand({ TableName: this.tableName, Key: key, ConsistentRead: true })),
      );
      return {
        sessionId: s.sessionId,
        requestId,
        kind: r.kind,
        subject,
        status: 'pending',
        requestedAt: cur.Item?.requestedAt?.S ?? requestedAt,
        alreadyPending: true,
      };
    }
    return {
      sessionId: s.sessionId,
      requestId,
      kind: r.kind,
      subject,
      status: 'pending',
      requestedAt,
      alreadyPending: false,
    };
  }
}
