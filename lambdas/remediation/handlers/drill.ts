/**
 * The scheduled game day (lib/constructs/drill.ts, off by default): one drill per firing (../drill/run.ts).
 * Env: SESSION_MACHINE_ARN, TOMBSTONE_MACHINE_ARN, SESSION_TABLE, AUDIT_BUS_NAME, DRILL_USE_CASE,
 * DRILL_OBJECTIVE_SECONDS, DRILL_TIMEOUT_SECONDS.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler, metric } from '../../shared/middleware.ts';
import { runDrill } from '../drill/run.ts';

const sfn = new SFNClient(awsClientConfig());
const ddb = new DynamoDBClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());

export const handler = makeHandler({
  inputName: 'scheduler event',
  // A scheduled job: the event carries nothing it reads.
  input: z.unknown(),
  core: () =>
    runDrill(
      {
        sfn,
        ddb,
        eventBridge,
        sessionMachineArn: requireEnv('SESSION_MACHINE_ARN'),
        tombstoneMachineArn: requireEnv('TOMBSTONE_MACHINE_ARN'),
        sessionTable: requireEnv('SESSION_TABLE'),
        busName: requireEnv('AUDIT_BUS_NAME'),
        metric,
      },
      {
        useCase: requireEnv('DRILL_USE_CASE'),
        objectiveSeconds: numberEnv('DRILL_OBJECTIVE_SECONDS', 60),
        timeoutSeconds: numberEnv('DRILL_TIMEOUT_SECONDS', 600),
      },
    ),
});
