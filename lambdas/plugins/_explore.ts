import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { PluginVerifier, trustedKeyFromPem } from './verify.ts';
const D = '/work/shared/testdata/sigstore/conformance';
const pg = readFileSync('/work/shared/testdata/sigstore/roots/public-good-trusted_root.json');
const BEACON = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
for (const c of readdirSync(D).filter(x=>!x.includes('.'))) {
  const dir = `${D}/${c}`;
  let res='';
  try {
    const art = readFileSync(existsSync(`${dir}/artifact`)?`${dir}/artifact`:`${D}/a.txt`);
    const v = PluginVerifier.fromTrustedRoot(existsSync(`${dir}/trusted_root.json`)?readFileSync(`${dir}/trusted_root.json`):pg);
    const key = existsSync(`${dir}/key.pub`) ? trustedKeyFromPem(readFileSync(`${dir}/key.pub`)) : undefined;
    const id = existsSync(`${dir}/identity`)? readFileSync(`${dir}/identity`,'utf8').trim(): BEACON;
    const iss = existsSync(`${dir}/issuer`)? readFileSync(`${dir}/issuer`,'utf8').trim(): 'https://token.actions.githubusercontent.com';
    const r = v.verify(readFileSync(`${dir}/bundle.sigstore.json`), {bytes: art}, key ? {key} : c.startsWith('managed-key') ? {} : {identity:{subjectAlternativeName:id, issuer:iss}});
    res = `PASS ${r.signedAt} ${r.timeSource} ${r.content}`;
  } catch (err: any) { res = `FAIL ${err.name} ${err.reason ?? ''} ${String(err.message).slice(0,100)}`; }
  console.log((c.endsWith('_fail') === res.startsWith('FAIL') ? 'ok ' : 'BAD'), c.padEnd(55), res);
}
