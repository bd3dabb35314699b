import { startMoto } from './emulator/moto.ts';
import { awsClientConfig } from '../lambdas/shared/clients.ts';
import { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectLegalHoldCommand, GetObjectRetentionCommand } from '@aws-sdk/client-s3';
const m = await startMoto();
try {
  const s3 = new S3Client(awsClientConfig({ endpoint: m.endpoint }));
  await s3.send(new CreateBucketCommand({ Bucket: 'bucket-lock-probe', ObjectLockEnabledForBucket: true }));
  const p = await s3.send(new PutObjectCommand({ Bucket: 'bucket-lock-probe', Key: 'k', Body: 'x', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(Date.now()+86400000), ObjectLockLegalHoldStatus: 'ON' }));
  for (const [n, c] of [['hold', new GetObjectLegalHoldCommand({ Bucket: 'bucket-lock-probe', Key: 'k', VersionId: p.VersionId })], ['ret', new GetObjectRetentionCommand({ Bucket: 'bucket-lock-probe', Key: 'k', VersionId: p.VersionId })]] as const) {
    try { console.log(n, JSON.stringify(await s3.send(c as any))); } catch (e) { console.log(n, 'ERR', (e as any).message, (e as any).$response?.body?.toString?.()); }
  }
  const raw = await fetch(`${m.endpoint}/bucket-lock-probe/k?legal-hold&versionId=${p.VersionId}`, { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x' } });
  console.log(await raw.text());
} finally { await m.stop(); }
