import { EC2Client } from '@aws-sdk/client-ec2';
import { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, requireEnv } from '../../shared/env.ts';
import { ConfigurationError } from '../../shared/errors.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { KnownGoodConfig, startKnownGood } from '../known-good.ts';

const ec2 = new EC2Client(awsClientConfig());
const sfn = new SFNClient(awsClientConfig());

/** The construct's settings: the snapshot machine, intervals per profile (JSON) and the retention. */
function config(): KnownGoodConfig {
  const raw = requireEnv('KNOWN_GOOD_INTERVALS');
  let intervals: unknown;
  try {
    intervals = JSON.parse(raw);
  } catch {
    throw new ConfigurationError('environment variable KNOWN_GOOD_INTERVALS is not JSON', {
      variable: 'KNOWN_GOOD_INTERVALS',
    });
  }
  const cfg = KnownGoodConfig.safeParse({
    snapshotMachineArn: requireEnv('SNAPSHOT_MACHINE_ARN'),
    intervals,
    retentionSeconds: numberEnv('KNOWN_GOOD_RETENTION_SECONDS', 604_800),
  });
  if (!cfg.success) throw new ConfigurationError(`invalid known-good configuration: ${cfg.error.message}`);
  return cfg.data;
}

export const handler = makeHandler({
  inputName: 'scheduler event',
  // A scheduled job: the event carries nothing it reads.
  input: z.unknown(),
  core: () => startKnownGood(ec2, sfn, config()),
});
