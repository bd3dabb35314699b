import { EC2Client } from '@aws-sdk/client-ec2';
import { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { awsClientConfig } from '../../shared/clients.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { parseOrThrow } from '../../shared/validation.ts';
import { KnownGoodConfig, startKnownGood } from '../known-good.ts';

const ec2 = new EC2Client(awsClientConfig());
const sfn = new SFNClient(awsClientConfig());

export const handler = makeHandler({
  inputName: 'scheduler event',
  input: z.unknown(),
  core: () =>
    startKnownGood(
      ec2,
      sfn,
      parseOrThrow(
        KnownGoodConfig,
        {
          snapshotMachineArn: process.env.SNAPSHOT_MACHINE_ARN,
          intervals: JSON.parse(process.env.KNOWN_GOOD_INTERVALS ?? '{"default":3600}'),
          retentionSeconds: Number(process.env.KNOWN_GOOD_RETENTION_SECONDS ?? '604800'),
        },
        'known-good configuration',
      ),
    ),
});
