/**
 * Where the project's real test vectors live: public attestation documents and
 * reports, and the Sigstore conformance suite, copied into the repository with
 * their provenance (see each folder's README). Tests, the demo and benchmarks
 * read them from here, so a fresh clone needs nothing beside it.
 */
import * as path from 'node:path';
import { PROJECT_ROOT } from './emulator/setup.ts';

export const FIXTURES_DIR = path.join(PROJECT_ROOT, 'test/fixtures');
export const ATTESTATION_VECTORS = path.join(FIXTURES_DIR, 'attestation');
export const SIGSTORE_VECTORS = path.join(FIXTURES_DIR, 'sigstore');
/** The trust policy that admits the Sigstore vector `github-attestations/custom-issuer` (demo and tests). */
export const DEMO_TRUST_POLICY_FILE = path.join(FIXTURES_DIR, 'plugin-trust-policy.json');
