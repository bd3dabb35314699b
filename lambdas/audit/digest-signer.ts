/** The digest signer backed by KMS (ECC_NIST_P384, ECDSA_SHA_384, RAW messages). */
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { awsCall } from '../shared/aws-errors.ts';
import { AidopsError } from '../shared/errors.ts';
import { type DigestSigner, SIGNING_ALGORITHM } from './digest-format.ts';

/** Signer backed by KMS Sign (RAW message, ECDSA_SHA_384); fetches the public key once. */
export async function kmsSigner(kms: KMSClient, keyId: string): Promise<DigestSigner> {
  const pk = await awsCall('kms:GetPublicKey', () => kms.send(new GetPublicKeyCommand({ KeyId: keyId })));
  if (!pk.PublicKey || !pk.KeyId) throw new AidopsError('KMS GetPublicKey returned no key', { keyId });
  if (pk.KeySpec && pk.KeySpec !== 'ECC_NIST_P384') {
    throw new AidopsError(`audit signing key must be ECC_NIST_P384, got ${pk.KeySpec}`, { keyId });
  }
  const arn = pk.KeyId;
  return {
    keyId: arn,
    publicKeyDer: Buffer.from(pk.PublicKey),
    async sign(message) {
      const out = await awsCall('kms:Sign', () =>
        kms.send(
          new SignCommand({ KeyId: arn, Message: message, MessageType: 'RAW', SigningAlgorithm: SIGNING_ALGORITHM }),
        ),
      );
      if (!out.Signature) throw new AidopsError('KMS Sign returned no signature', { keyId: arn });
      return Buffer.from(out.Signature);
    },
  };
}
