import { readFileSync, readdirSync } from 'node:fs';
import { PluginVerifier, npmRegistryKeys, bundlesOf } from './verify.ts';
const R = '/work/shared/testdata/sigstore/';
const v = PluginVerifier.fromTrustedRoot(readFileSync(R+'roots/public-good-trusted_root.json'), npmRegistryKeys(JSON.parse(readFileSync(R+'roots/npm-registry-keys.json','utf8'))));
const integ: Record<string,string> = {'sigstore-0.4.0':'KCwMX6k20mQyFkNYG2XT3lwK9u1P36wS9YURFd85zCXPrwrSLZCEh7/vMBFNYcJXRiBtGDS+T4/RZZF493zABA==','sigstore-1.0.0':'e+qfbn/zf1+rCza/BhIA//Awmf0v1pa5HQS8Xk8iXrn9bgytytVLqYD0P7NSqZ6IELTgq+tcDvLPkQjNHyWLNg==','tuf-js-1.0.0':'1dxsQwESDzACJjTdYHQ4wJ1f/of7jALWKfJEHSBWUQB/5UTJUx9SW6GHXp4mZ1KvdBRJCpGjssoPFGi4hvw8/A==','sigstore-2.1.0':'kPIj+ZLkyI3QaM0qX8V/nSsweYND3W448pwkDgS6CQ74MfhEkIR8ToK5Iyx46KJYRjseVcD3Rp9zAmUAj6ZjPw==','sigstore-2.2.0':'fcU9clHwEss2/M/11FFM8Jwc4PjBgbhXoNskoK5guoK0qGQBSeUbQZRJ+B2fDFIvhyf0gqCaPrel9mszbhAxug=='};
for (const f of readdirSync(R+'npm-provenance')) {
  const k = Object.keys(integ).find(x=>f.replace('BAD-','').startsWith(x+'.'))!;
  const sha512 = Buffer.from(integ[k]!,'base64').toString('hex');
  bundlesOf(readFileSync(R+'npm-provenance/'+f)).forEach((b,i)=>{
    try { const r = v.verify(b, {digests:{sha512}}); console.log('PASS', f, i, r.mediaType, r.signer.subjectAlternativeName ?? r.signer.keyHint, r.statement?.predicateType, JSON.stringify(r.signer.extensions).slice(0,300)); }
    catch(e:any){ console.log('FAIL', f, i, e.reason, e.message.slice(0,100)); }
  });
}
for (const f of ['reusable-workflow-attestation.sigstore.json','custom-issuer.sigstore.json']) {
  const art = f.startsWith('custom') ? {bytes: readFileSync(R+'github-attestations/custom-issuer-artifact')} : {digests:{sha256:'49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25'}};
  try { const r = v.verify(readFileSync(R+'github-attestations/'+f), art); console.log('PASS', f, r.signer.subjectAlternativeName, r.signer.issuer, JSON.stringify(r.signer.extensions)); } catch(e:any){ console.log('FAIL', f, e.reason, e.message); }
}
