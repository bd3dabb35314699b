import {
  CreateBucketCommand,
  type ObjectLockRetentionMode,
  PutBucketVersioningCommand,
  PutObjectLockConfigurationCommand,
} from '@aws-sdk/client-s3';
import { LOCAL_REGION } from '../../emulator/moto.ts';
import type { ProvisionerTable } from './types.ts';

export const s3: ProvisionerTable = {
  async 'AWS::S3::Bucket'({ c, id, type, p }) {
    const name = String(p.BucketName ?? `aidops-${id.toLowerCase()}`.slice(0, 63));
    await c.s3.send(
      new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: p.ObjectLockEnabled === true }),
    );
    if (p.VersioningConfiguration?.Status === 'Enabled' && p.ObjectLockEnabled !== true) {
      await c.s3.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }));
    }
    const rule = p.ObjectLockConfiguration?.Rule?.DefaultRetention;
    if (p.ObjectLockEnabled === true && rule) {
      await c.s3.send(
        new PutObjectLockConfigurationCommand({
          Bucket: name,
          ObjectLockConfiguration: {
            ObjectLockEnabled: 'Enabled',
            Rule: {
              DefaultRetention: {
                Mode: rule.Mode as ObjectLockRetentionMode,
                Days: rule.Days !== undefined ? Number(rule.Days) : undefined,
                Years: rule.Years !== undefined ? Number(rule.Years) : undefined,
              },
            },
          },
        }),
      );
    }
    return {
      type,
      ref: name,
      attrs: {
        Arn: `arn:aws:s3:::${name}`,
        DomainName: `${name}.s3.amazonaws.com`,
        RegionalDomainName: `${name}.s3.${LOCAL_REGION}.amazonaws.com`,
      },
    };
  },
};
