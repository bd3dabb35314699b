/** Every resource type the local runtime makes, one provisioner each; other types are named only. */
import { apiGatewayProvisioners } from '../../standins/api-gateway/provision.ts';
import { configStores } from './config-stores.ts';
import { dynamodb } from './dynamodb.ts';
import { ec2 } from './ec2.ts';
import { events } from './events.ts';
import { iam } from './iam.ts';
import { inProcess } from './in-process.ts';
import { kms } from './kms.ts';
import { logs } from './logs.ts';
import { messaging } from './messaging.ts';
import { s3 } from './s3.ts';
import { localArn, type Provisioner, type ProvisionerTable } from './types.ts';

export const PROVISIONERS: ProvisionerTable = {
  ...kms,
  ...s3,
  ...dynamodb,
  ...messaging,
  ...configStores,
  ...ec2,
  ...iam,
  ...events,
  ...inProcess,
  ...logs,
  ...apiGatewayProvisioners,
};

/** A type not emulated (alarms, policies, endpoints, …): counted, and given a local id so references resolve. */
export const unemulated: Provisioner = async ({ out, id, type }) => {
  out.skipped.set(type, (out.skipped.get(type) ?? 0) + 1);
  return {
    type,
    ref: id,
    attrs: { Arn: localArn('local', `${type.replace(/::/g, '-').toLowerCase()}/${id}`), Name: id, Id: id },
  };
};
