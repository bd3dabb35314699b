/**
 * EventBridge rules → this function → at most one tombstone execution per
 * session and triggering event (see ../trigger.ts). The input is the raw event.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { awsClientConfig } from '../../shared/clients.ts';
import { ValidationError } from '../../shared/errors.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { ClaimSlotInput, claimHeldSlot, DryRunSwitch, dynamoIncidentStore, handleTrigger } from '../trigger.ts';
import { busName, incidentTable, topicArn } from './env.ts';

const sfn = new SFNClient(awsClientConfig());
const ddb = new DynamoDBClient(awsClientConfig());
const ssm = new SSMClient(awsClientConfig());
const sns = new SNSClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());
let dryRunSwitch: DryRunSwitch | undefined;

const maxPerMinute = () => Number(process.env.MAX_TOMBSTONES_PER_MINUTE ?? '5');

export const handler = makeHandler({
  inputName: 'EventBridge event',
  input: z.unknown(),
  core: async (event) => {
    const machine = process.env.TOMBSTONE_MACHINE_ARN;
    const param = process.env.DRY_RUN_PARAMETER;
    if (!machine || !param) throw new ValidationError('TOMBSTONE_MACHINE_ARN and DRY_RUN_PARAMETER must be set');
    dryRunSwitch ??= new DryRunSwitch(ssm, param, Number(process.env.DRY_RUN_SWITCH_CACHE_MS ?? '15000'));
    return await handleTrigger(
      {
        sfn,
        store: dynamoIncidentStore(ddb, incidentTable()),
        dryRunSwitch,
        sns,
        topicArn: topicArn(),
        eventBridge,
        busName: busName(),
        tombstoneMachineArn: machine,
        maxPerMinute: maxPerMinute(),
      },
      event,
    );
  },
});

/** The machine's held path: try again for a blast-radius slot. */
export const claimSlot = makeHandler({
  inputName: 'claim slot input',
  input: ClaimSlotInput,
  core: (input) => claimHeldSlot(dynamoIncidentStore(ddb, incidentTable()), maxPerMinute(), input),
});
