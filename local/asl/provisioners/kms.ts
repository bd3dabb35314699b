import { CreateAliasCommand, CreateKeyCommand, type KeySpec, type KeyUsageType } from '@aws-sdk/client-kms';
import { type ProvisionerTable, str } from './types.ts';

export const kms: ProvisionerTable = {
  async 'AWS::KMS::Key'({ c, type, p }) {
    const k = await c.kms.send(
      new CreateKeyCommand({
        Description: str(p.Description),
        KeySpec: (p.KeySpec ?? 'SYMMETRIC_DEFAULT') as KeySpec,
        KeyUsage: (p.KeyUsage ?? 'ENCRYPT_DECRYPT') as KeyUsageType,
        Policy: p.KeyPolicy ? JSON.stringify(p.KeyPolicy) : undefined,
      }),
    );
    const keyId = k.KeyMetadata!.KeyId!;
    return { type, ref: keyId, attrs: { Arn: k.KeyMetadata!.Arn!, KeyId: keyId } };
  },
  async 'AWS::KMS::Alias'({ c, type, p }) {
    await c.kms.send(new CreateAliasCommand({ AliasName: p.AliasName, TargetKeyId: p.TargetKeyId }));
    return { type, ref: p.AliasName, attrs: {} };
  },
};
