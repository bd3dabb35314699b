import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SessionTable } from '../../sessions/table.ts';
import { awsClientConfig } from '../../shared/clients.ts';
import { optionalEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { EndSessionInput, endSession } from '../tombstone/end-session.ts';

const ddb = new DynamoDBClient(awsClientConfig());
const sfn = new SFNClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());

export const handler = makeHandler({
  inputName: 'end session input',
  input: EndSessionInput,
  core: (input) => {
    const tableName = optionalEnv('SESSION_TABLE');
    return endSession(
      {
        ...(tableName ? { table: new SessionTable(ddb, tableName) } : {}),
        sfn,
        eventBridge,
        busName: requireEnv('AUDIT_BUS_NAME'),
      },
      input,
    );
  },
});
