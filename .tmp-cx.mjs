import { readFileSync } from 'node:fs';
import * as c from '@cedar-policy/cedar-wasm/nodejs';

const schema = readFileSync('policies/cedar/schema.cedarschema', 'utf8');
const text = readFileSync('policies/cedar/policies.cedar', 'utf8');
console.log(c.getCedarVersion(), c.checkParseSchema(schema));
const parts = c.policySetTextToParts(text);
console.log(parts.type, parts.policies?.length);
const j = c.policyToJson(parts.policies[1]);
console.log(JSON.stringify(j.json.annotations));
console.log(
  JSON.stringify(
    c.validate({ schema, policies: { staticPolicies: text }, validationSettings: { mode: 'strict' } }),
  ).slice(0, 500),
);
const pols = {};
for (const p of parts.policies) {
  const a = c.policyToJson(p).json.annotations;
  pols[a.id] = p;
}
console.log(c.preparsePolicySet('s1', { staticPolicies: pols }), c.preparseSchema('sc', schema));
const call = {
  principal: { type: 'Aidops::User', id: 'alice' },
  action: { type: 'Aidops::Action', id: 'fs_write' },
  resource: { type: 'Aidops::File', id: '/finance/x' },
  context: {
    session: { id: 's', tier: 'standard', cohort: 'c', approvedScopes: [] },
    nowEpochS: 1,
    disabled: [],
    attestation: 'verified',
    plugin: { known: false, pluginId: '', digest: '', admitted: false, revoked: false, expiresAtEpochS: 0 },
    egressAllowlist: ['a:1'],
  },
  entities: [{ uid: { type: 'Aidops::File', id: '/finance/x' }, attrs: { path: '/finance/x' }, parents: [] }],
  preparsedPolicySetId: 's1',
  preparsedSchemaName: 'sc',
  validateRequest: true,
};
console.log(JSON.stringify(c.statefulIsAuthorized(call)));
for (const vr of [true, false]) {
  call.validateRequest = vr;
  const t = process.hrtime.bigint();
  for (let i = 0; i < 5000; i++) c.statefulIsAuthorized(call);
  console.log('stateful validate', vr, Number(process.hrtime.bigint() - t) / 5000 / 1000, 'us');
}
const bad = text.replace('context.attestation == "verified"', 'context.attestaton == "verified"');
console.log(JSON.stringify(c.validate({ schema, policies: { staticPolicies: bad } })).slice(0, 400));
