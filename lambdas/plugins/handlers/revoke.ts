/** Revocation: input RevokeInput → {revoked, violations, decision}; throws NotFoundError for an unknown version. */
import { makeHandler } from '../../shared/middleware.ts';
import { RevokeInput, revokePlugin } from '../admission.ts';
import { policyVersion, registry } from './deps.ts';

export const handler = makeHandler({
  inputName: 'revoke input',
  input: RevokeInput,
  core: async (input) => revokePlugin({ registry: registry(), policyVersion: policyVersion() }, input),
});
