import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import { LocalRuntime } from './local/runtime.ts';
const D='/work/shared/testdata/sigstore/';
const rt = await LocalRuntime.start({ logLevel: 'ERROR' });
try {
  console.log('started');
  const s3 = new S3Client(rt.clientConfig());
  const B = rt.ref('PluginsStaging');
  await s3.send(new PutObjectCommand({Bucket:B, Key:'sigstore/trusted_root.json', Body: readFileSync(D+'roots/public-good-trusted_root.json')}));
  await s3.send(new PutObjectCommand({Bucket:B, Key:'a/artifact', Body: Buffer.from('tampered')}));
  await s3.send(new PutObjectCommand({Bucket:B, Key:'a/artifact.sigstore.json', Body: readFileSync(D+'github-attestations/custom-issuer.sigstore.json')}));
  console.log('uploaded');
  const p = rt.execute('aidops-plugin-admission', {pluginId:'x', version:'1', key:'a/artifact', bundleKey:'a/artifact.sigstore.json'}, 't1');
  const t = setInterval(()=>console.log('calls', rt.gateway.calls.slice(-3).map(c=>`${c.service}:${c.action}:${c.status}`).join(' ')), 3000);
  const ex = await Promise.race([p, new Promise(r=>setTimeout(()=>r('TIMEOUT'), 20000))]);
  clearInterval(t);
  console.log(typeof ex === 'string' ? ex : rt.formatTimeline(ex as any));
} finally { await rt.stop(); }
