import { EC2Client } from '@aws-sdk/client-ec2';
import { awsClientConfig } from '../../shared/clients.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { CreateSnapshotsInput, createSnapshots } from '../snapshot.ts';

const ec2 = new EC2Client(awsClientConfig());

export const handler = makeHandler({
  inputName: 'create-snapshots input',
  input: CreateSnapshotsInput,
  core: (p) => createSnapshots(ec2, p),
});
