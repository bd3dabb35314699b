/**
 * Where each approval parks its task token, read by the people's door: the
 * incident table (restores, by execution ARN), the plugin approvals table
 * (admissions, by execution name), the scope-request table (by request id).
 */
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { PluginApprovals } from '../../plugins/approvals.ts';
import type { IncidentStore } from '../../remediation/incidents.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { ConflictError, NotFoundError } from '../../shared/errors.ts';
import type { PendingStore, TaskAnswers } from './approvals.ts';

/** `arn:…:stateMachine:NAME` + execution name → the execution's ARN. */
export const executionOf = (machineArn: string, name: string): string =>
  `${machineArn.replace(':stateMachine:', ':execution:')}:${name}`;

export function restorePending(store: IncidentStore, restoreMachineArn: string): PendingStore {
  return {
    async find(id) {
      const a = await store.getApproval(executionOf(restoreMachineArn, id));
      if (!a) throw new NotFoundError(`restore ${id} is not waiting for approval (or was answered already)`);
      return { token: a.token, requestedBy: a.requestedBy, subject: a.summary, sessionId: a.sessionId };
    },
    async settle(id) {
      await store.deleteApproval(executionOf(restoreMachineArn, id));
    },
  };
}

export function pluginPending(ddb: DynamoDBClient, table: string): PendingStore {
  const approvals = new PluginApprovals(ddb, table);
  return {
    async find(id) {
      const a = await approvals.get(id);
      if (!a) throw new NotFoundError(`plugin admission ${id} is not waiting for approval (or was answered already)`);
      return {
        token: a.token,
        requestedBy: a.requestedBy || null,
        subject: `plugin ${a.pluginId}@${a.version}`,
        sessionId: null,
      };
    },
    async settle(id) {
      await approvals.delete(id);
    },
  };
}

export function scopePending(ddb: DynamoDBClient, table: string): PendingStore {
  return {
    async find(id) {
      const r = await awsCall('dynamodb:GetItem scope request', () =>
        ddb.send(new GetItemCommand({ TableName: table, Key: { requestId: { S: id } }, ConsistentRead: true })),
      );
      const i = r.Item;
      if (!i) throw new NotFoundError(`no scope request ${id}`);
      if (i.status?.S !== 'pending') throw new ConflictError(`scope request ${id} is ${i.status?.S ?? 'unknown'}`);
      if (!i.taskToken?.S) throw new ConflictError(`scope request ${id} is not waiting for an approver yet`);
      return {
        token: i.taskToken.S,
        requestedBy: i.requestedBy?.S ?? null,
        subject: `scope ${i.scope?.S ?? '?'} for session ${i.sessionId?.S ?? '?'}`,
        sessionId: i.sessionId?.S ?? null,
      };
    },
    // The workflow's answer step closes the request; its token is spent.
    async settle() {},
  };
}

export function sfnAnswers(sfn: SFNClient): TaskAnswers {
  return {
    async success(token, output) {
      await awsCall('states:SendTaskSuccess', () =>
        sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) })),
      );
    },
    async failure(token, error, cause) {
      await awsCall('states:SendTaskFailure', () =>
        sfn.send(new SendTaskFailureCommand({ taskToken: token, error, cause: cause.slice(0, 32_768) })),
      );
    },
  };
}
