import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { bundlesOf } from './verify.ts';
const R = '/work/shared/testdata/sigstore/';
for (const f of ['conformance/bundle-with-root-cert_fail/bundle.sigstore.json','npm-provenance/sigstore-0.4.0.attestations.json','npm-provenance/sigstore-1.0.0.attestations.json','npm-provenance/sigstore-2.1.0.provenance.v0.1.sigstore.json','conformance/happy-path-v0.1/bundle.sigstore.json']) {
  const b:any = bundlesOf(readFileSync(R+f))[0];
  const certs = b.verificationMaterial.x509CertificateChain?.certificates ?? [];
  console.log(f, b.verificationMaterial.tlogEntries.map((t:any)=>Object.keys(t)).join('|'), Object.keys(b.verificationMaterial.tlogEntries[0].inclusionProof??{}));
  for (const c of certs) { const x = new X509Certificate(Buffer.from(c.rawBytes,'base64')); console.log('   ', String(x.subject).replace(/\n/g,','), '<=', String(x.issuer).replace(/\n/g,','), x.ca, x.validFrom); }
}
