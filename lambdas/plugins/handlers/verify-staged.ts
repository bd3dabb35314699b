/** Step "VerifyStaged": input VerifyStagedInput → VerifyStagedResult (see lambdas/plugins/admission.ts). */
import { makeHandler } from '../../shared/middleware.ts';
import { VerifyStagedInput, verifyStaged } from '../admission.ts';
import { policyVersion, registry, s3, trustPolicy, verifier } from './deps.ts';

export const handler = makeHandler({
  inputName: 'verify-staged input',
  input: VerifyStagedInput,
  core: async (input) =>
    verifyStaged(
      { s3, verifier: await verifier(), policy: trustPolicy(), registry: registry(), policyVersion: policyVersion() },
      input,
    ),
});
