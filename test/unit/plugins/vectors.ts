/**
 * Paths and expectations for the Sigstore vectors in test/fixtures/sigstore
 * (see its README).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { SIGSTORE_VECTORS } from '../../../local/fixtures.ts';

export const SIGSTORE_DIR = SIGSTORE_VECTORS;
export const CONFORMANCE_DIR = path.join(SIGSTORE_DIR, 'conformance');
export const PUBLIC_GOOD_ROOT = readFileSync(path.join(SIGSTORE_DIR, 'roots/public-good-trusted_root.json'));
export const NPM_KEYS = JSON.parse(readFileSync(path.join(SIGSTORE_DIR, 'roots/npm-registry-keys.json'), 'utf8'));

export const BEACON_SAN =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
export const GHA_ISSUER = 'https://token.actions.githubusercontent.com';

export interface ConformanceCase {
  readonly name: string;
  readonly mustFail: boolean;
  readonly bundle: Buffer;
  readonly artifact: Buffer;
  readonly root: Buffer;
  readonly ownRoot: boolean;
  readonly keyPem?: Buffer;
  readonly identity: string;
  readonly issuer: string;
}

const opt = (p: string): Buffer | undefined => (existsSync(p) ? readFileSync(p) : undefined);

export function conformanceCases(): ConformanceCase[] {
  return readdirSync(CONFORMANCE_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => {
      const dir = path.join(CONFORMANCE_DIR, d.name);
      const own = opt(path.join(dir, 'trusted_root.json'));
      const keyPem = opt(path.join(dir, 'key.pub'));
      return {
        name: d.name,
        mustFail: d.name.endsWith('_fail'),
        bundle: readFileSync(path.join(dir, 'bundle.sigstore.json')),
        artifact: opt(path.join(dir, 'artifact')) ?? readFileSync(path.join(CONFORMANCE_DIR, 'a.txt')),
        root: own ?? PUBLIC_GOOD_ROOT,
        ownRoot: own !== undefined,
        ...(keyPem ? { keyPem } : {}),
        identity: opt(path.join(dir, 'identity'))?.toString('utf8').trim() ?? BEACON_SAN,
        issuer: opt(path.join(dir, 'issuer'))?.toString('utf8').trim() ?? GHA_ISSUER,
      };
    });
}

export const npmFile = (name: string): Buffer => readFileSync(path.join(SIGSTORE_DIR, 'npm-provenance', name));
export const ghFile = (name: string): Buffer => readFileSync(path.join(SIGSTORE_DIR, 'github-attestations', name));

/** dist.integrity (base64 sha512) of each npm package, from the README; the subject digest. */
export const NPM_INTEGRITY: Record<string, string> = {
  'sigstore@0.4.0': 'KCwMX6k20mQyFkNYG2XT3lwK9u1P36wS9YURFd85zCXPrwrSLZCEh7/vMBFNYcJXRiBtGDS+T4/RZZF493zABA==',
  'sigstore@1.0.0': 'e+qfbn/zf1+rCza/BhIA//Awmf0v1pa5HQS8Xk8iXrn9bgytytVLqYD0P7NSqZ6IELTgq+tcDvLPkQjNHyWLNg==',
  'tuf-js@1.0.0': '1dxsQwESDzACJjTdYHQ4wJ1f/of7jALWKfJEHSBWUQB/5UTJUx9SW6GHXp4mZ1KvdBRJCpGjssoPFGi4hvw8/A==',
  'sigstore@2.1.0': 'kPIj+ZLkyI3QaM0qX8V/nSsweYND3W448pwkDgS6CQ74MfhEkIR8ToK5Iyx46KJYRjseVcD3Rp9zAmUAj6ZjPw==',
  'sigstore@2.2.0': 'fcU9clHwEss2/M/11FFM8Jwc4PjBgbhXoNskoK5guoK0qGQBSeUbQZRJ+B2fDFIvhyf0gqCaPrel9mszbhAxug==',
};
export const sha512Hex = (pkg: string): string => Buffer.from(NPM_INTEGRITY[pkg] ?? '', 'base64').toString('hex');

/** npm files, their package, and the verdict of each bundle in them (README table). */
export const NPM_VECTORS: readonly { file: string; pkg: string; verdicts: readonly (true | string)[] }[] = [
  { file: 'sigstore-0.4.0.attestations.json', pkg: 'sigstore@0.4.0', verdicts: [true, true] },
  { file: 'sigstore-1.0.0.attestations.json', pkg: 'sigstore@1.0.0', verdicts: [true, true] },
  { file: 'tuf-js-1.0.0.attestations.json', pkg: 'tuf-js@1.0.0', verdicts: [true, true] },
  { file: 'sigstore-2.1.0.provenance.v0.3.sigstore.json', pkg: 'sigstore@2.1.0', verdicts: [true] },
  { file: 'sigstore-2.1.0.provenance.v0.1.sigstore.json', pkg: 'sigstore@2.1.0', verdicts: [true] },
  { file: 'sigstore-2.2.0.provenance.v0.2.sigstore.json', pkg: 'sigstore@2.2.0', verdicts: [true] },
  { file: 'sigstore-2.2.0.provenance.v0.3-rewrapped.sigstore.json', pkg: 'sigstore@2.2.0', verdicts: [true] },
  // The README gives sigstore-js's error; these are our reason codes for the same failures.
  {
    file: 'BAD-sigstore-0.4.0.publish-sig-replaced.attestations.json',
    pkg: 'sigstore@0.4.0',
    verdicts: [true, 'TLOG_ENTRY_MISMATCH'],
  },
  {
    file: 'BAD-sigstore-0.4.0.publish-subject-digest-edited.attestations.json',
    pkg: 'sigstore@0.4.0',
    verdicts: [true, 'TLOG_ENTRY_MISMATCH'],
  },
  {
    file: 'BAD-sigstore-0.4.0.publish-payloadtype-edited.attestations.json',
    pkg: 'sigstore@0.4.0',
    verdicts: [true, 'SIGNATURE_INVALID'],
  },
];
