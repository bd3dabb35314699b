import { EC2Client } from '@aws-sdk/client-ec2';
import { awsClientConfig } from '../../shared/clients.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { PrepareSnapshotInput, prepareSnapshot } from '../snapshot.ts';

const ec2 = new EC2Client(awsClientConfig());

export const handler = makeHandler({
  inputName: 'snapshot workflow input',
  input: PrepareSnapshotInput,
  core: (req) => prepareSnapshot(ec2, req),
});
