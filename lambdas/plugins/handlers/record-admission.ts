/** Step "RecordAdmission": input RecordAdmissionInput → {record, decision}; throws ForbiddenError, ConflictError. */
import { makeHandler } from '../../shared/middleware.ts';
import { RecordAdmissionInput, recordAdmission } from '../admission.ts';
import { policyVersion, registry, trustPolicy } from './deps.ts';

export const handler = makeHandler({
  inputName: 'record-admission input',
  input: RecordAdmissionInput,
  core: async (input) =>
    recordAdmission({ registry: registry(), policy: trustPolicy(), policyVersion: policyVersion() }, input),
});
