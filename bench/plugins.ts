/**
 * Plugin admission checks per second with a warm verifier (trusted root parsed once),
 * the cost of the first one (root parse + first verify), beside plain @sigstore/verify
 * on the same bundles in the same run. Run: node bench/plugins.ts
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { checkArtifact } from '../lambdas/plugins/admission.ts';
import { parseTrustPolicy } from '../lambdas/plugins/policy.ts';
import { bundlesOf, PluginVerifier } from '../lambdas/plugins/verify.ts';
import { SIGSTORE_VECTORS } from '../local/fixtures.ts';

const D = SIGSTORE_VECTORS;
const rootBytes = readFileSync(path.join(D, 'roots/public-good-trusted_root.json'));
const artifact = readFileSync(path.join(D, 'conformance/a.txt'));
const BEACON =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const cases = ['happy-path-v0.1', 'happy-path-v0.2', 'happy-path-v0.3', 'happy-path-v0.3-new-mediaType'].map((c) =>
  readFileSync(path.join(D, 'conformance', c, 'bundle.sigstore.json')),
);
const policy = parseTrustPolicy({
  version: 1,
  signers: [{ kind: 'oidc', issuer: 'https://token.actions.githubusercontent.com', subject: BEACON }],
  provenance: { required: false },
});

function rate(label: string, fn: (i: number) => void, ms = 3000): number {
  for (let i = 0; i < 20; i++) fn(i); // warm-up
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) fn(n++);
  const per = n / ((performance.now() - t0) / 1000);
  console.log(`${label.padEnd(58)} ${per.toFixed(0).padStart(7)} /s  (${(1000 / per).toFixed(3)} ms each, n=${n})`);
  return per;
}

// First admission: parse the trusted root, build the verifier, check one artifact.
let t = performance.now();
const cold = PluginVerifier.fromTrustedRoot(rootBytes);
const parseMs = performance.now() - t;
t = performance.now();
checkArtifact(cold, policy, artifact, cases[0]);
const firstMs = performance.now() - t;
t = performance.now();
const tmLib = toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(rootBytes.toString())));
const libParseMs = performance.now() - t;

const warm = cold;
const libVerifier = new Verifier(tmLib);
const lib = rate('plain @sigstore/verify (bundleFromJSON + verify)', (i) => {
  const b = bundleFromJSON(JSON.parse((cases[i % cases.length] as Buffer).toString()));
  libVerifier.verify(toSignedEntity(b, artifact), { subjectAlternativeName: BEACON });
});
const ours = rate('PluginVerifier.verify (+ chain/digest/identity checks)', (i) => {
  warm.verify(cases[i % cases.length], { bytes: artifact }, { identity: { subjectAlternativeName: BEACON } });
});
const adm = rate('admission check (verify + trust policy)', (i) => {
  checkArtifact(warm, policy, artifact, cases[i % cases.length]);
});
const coldRate = rate(
  'cold: parse root + verify every time',
  (i) => {
    checkArtifact(PluginVerifier.fromTrustedRoot(rootBytes), policy, artifact, cases[i % cases.length]);
  },
  2000,
);

console.log('');
console.log(
  `first admission: root parse ${parseMs.toFixed(1)} ms + first check ${firstMs.toFixed(1)} ms (library root parse alone: ${libParseMs.toFixed(1)} ms)`,
);
console.log(`ratio PluginVerifier / plain library:          ${(ours / lib).toFixed(2)}x throughput`);
console.log(`ratio admission check / plain library:         ${(adm / lib).toFixed(2)}x throughput`);
console.log(`ratio warm admission / cold (root re-parsed):  ${(adm / coldRate).toFixed(2)}x throughput`);
console.log(
  `bundles: ${cases.length} (v0.1, v0.2, v0.3, v0.3 new media type); bundle docs per check: ${bundlesOf(cases[0]).length}`,
);
