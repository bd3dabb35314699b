/** EventBridge target: a bundle landed in the staging bucket → start plugin admission (see ../upload.ts). Env: ADMISSION_MACHINE_ARN. */
import { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { awsClientConfig } from '../../shared/clients.ts';
import { requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { startAdmissionFromUpload } from '../upload.ts';

const sfn = new SFNClient(awsClientConfig());

export const handler = makeHandler({
  inputName: 'S3 Object Created event',
  // The event is checked field by field in the core; here only that it is an object.
  input: z.record(z.string(), z.unknown()),
  core: (event) => startAdmissionFromUpload(sfn, requireEnv('ADMISSION_MACHINE_ARN'), event),
});
