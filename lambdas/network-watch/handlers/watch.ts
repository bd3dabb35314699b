/**
 * CloudWatch Logs subscription filter on the session VPC's flow logs → this
 * function → SuspiciousEgress events (see ../watch.ts). The input is the raw
 * subscription event; a malformed one is a ValidationError.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import * as z from 'zod';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { dynamoBurstClaims } from '../bursts.ts';
import { InterfaceOwners } from '../interfaces.ts';
import { watchFlowLogs } from '../watch.ts';

const ddb = new DynamoDBClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());
// Module scope: the interface cache lives as long as the execution environment.
const owners = new InterfaceOwners(new EC2Client(awsClientConfig()));

export const handler = makeHandler({
  inputName: 'CloudWatch Logs subscription event',
  // decodeSubscription validates the event (and what is inside it) strictly.
  input: z.unknown(),
  core: (event) =>
    watchFlowLogs(
      {
        owners,
        claims: dynamoBurstClaims(ddb, requireEnv('INCIDENT_TABLE')),
        eventBridge,
        busName: requireEnv('AUDIT_BUS_NAME'),
        windowSeconds: numberEnv('BURST_WINDOW_SECONDS', 900),
      },
      event,
    ),
});
