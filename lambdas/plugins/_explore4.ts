import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
const R = '/work/shared/testdata/sigstore/';
const root = JSON.parse(readFileSync(R+'roots/public-good-trusted_root.json','utf8'));
const set = new Set<string>();
for (const ca of root.certificateAuthorities) for (const c of ca.certChain.certificates) { set.add(c.rawBytes); const x = new X509Certificate(Buffer.from(c.rawBytes,'base64')); console.log(ca.subject?.commonName, String(x.subject).replace(/\n/g,','), x.validFrom, x.fingerprint256.slice(0,20)); }
const b = JSON.parse(readFileSync(R+'conformance/bundle-with-root-cert_fail/bundle.sigstore.json','utf8'));
for (const c of b.verificationMaterial.x509CertificateChain.certificates) console.log('conf in root?', set.has(c.rawBytes), new X509Certificate(Buffer.from(c.rawBytes,'base64')).fingerprint256.slice(0,20));
const n = JSON.parse(readFileSync(R+'npm-provenance/sigstore-0.4.0.attestations.json','utf8')).attestations[0].bundle;
for (const c of n.verificationMaterial.x509CertificateChain.certificates) console.log('npm in root?', set.has(c.rawBytes));
