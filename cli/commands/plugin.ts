/**
 * `aidops plugin`: verify a plugin's Sigstore bundle offline, and admit, revoke,
 * list and show plugin versions in the DynamoDB registry.
 * Exit 0 ok / verified and allowed, 1 rejected (with a reason code), 2 bad usage.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { checkArtifact, recordAdmission, revokePlugin } from '../../lambdas/plugins/admission.ts';
import { PluginVerificationError } from '../../lambdas/plugins/errors.ts';
import { evaluatePolicy, parseTrustPolicy, type TrustPolicy } from '../../lambdas/plugins/policy.ts';
import { PluginRegistry } from '../../lambdas/plugins/registry.ts';
import {
  type ArtifactInput,
  bundlesOf,
  npmRegistryKeys,
  PluginVerifier,
  type TrustedKey,
  trustedKeyFromPem,
  type VerifiedBundle,
} from '../../lambdas/plugins/verify.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { type CliIo, type CommandGroup, command, Exit, table, UsageError } from '../args.ts';
import { cliNames, envOption } from '../env.ts';

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function artifactOf(values: { artifact?: string; 'artifact-digest'?: string }): {
  input: ArtifactInput;
  bytes?: Buffer;
} {
  if ((values.artifact === undefined) === (values['artifact-digest'] === undefined))
    throw new UsageError('give exactly one of --artifact or --artifact-digest');
  if (values.artifact) {
    const bytes = readFile(values.artifact, 'artifact');
    return { input: { bytes }, bytes };
  }
  const m = /^(sha256|sha512):([0-9a-fA-F]+)$/.exec(values['artifact-digest'] ?? '');
  const alg = m?.[1];
  const hex = m?.[2]?.toLowerCase();
  if (!alg || !hex || hex.length !== (alg === 'sha256' ? 64 : 128))
    throw new UsageError('--artifact-digest must be sha256:<64 hex> or sha512:<128 hex>');
  return { input: { digests: { [alg]: hex } } };
}

function verifierOf(env: CliIo['env'], rootPath: string | undefined, keysPath: string | undefined): PluginVerifier {
  const p = rootPath ?? env.AIDOPS_SIGSTORE_TRUSTED_ROOT;
  if (!p) throw new UsageError('--trusted-root FILE is required (or set AIDOPS_SIGSTORE_TRUSTED_ROOT)');
  const keys: Record<string, TrustedKey> = keysPath
    ? npmRegistryKeys(JSON.parse(readFile(keysPath, 'trusted keys').toString()))
    : {};
  return PluginVerifier.fromTrustedRoot(readFile(p, 'trusted root'), keys);
}

function policyOf(path: string | undefined): TrustPolicy | undefined {
  return path ? parseTrustPolicy(readFile(path, 'policy').toString('utf8')) : undefined;
}

function summary(v: VerifiedBundle) {
  return {
    mediaType: v.mediaType,
    content: v.content,
    signer: v.signer.subjectAlternativeName ?? v.signer.keyHint ?? null,
    issuer: v.signer.issuer ?? null,
    signedAt: v.signedAt,
    timeSource: v.timeSource,
    predicateType: v.statement?.predicateType ?? null,
  };
}

function rejected(io: CliIo, json: boolean | undefined, e: PluginVerificationError): number {
  if (json) io.out(JSON.stringify({ verdict: 'rejected', reason: e.reason, message: e.message }, null, 2));
  else io.err(`rejected: ${e.reason}: ${e.message.replace(`${e.reason}: `, '')}`);
  return Exit.Rejected;
}

const TRUST_OPTS = {
  'trusted-root': {
    type: 'string',
    value: 'FILE',
    help: 'Sigstore trusted root (default $AIDOPS_SIGSTORE_TRUSTED_ROOT)',
  },
  'trusted-keys': { type: 'string', value: 'FILE', help: 'a sigstore-js keys document (npm registry keys)' },
} as const;

const verify = command({
  summary: "verify a plugin's Sigstore bundle offline, optionally against a trust policy",
  synopsis:
    '(--artifact FILE | --artifact-digest sha256:HEX|sha512:HEX) --bundle FILE ' +
    '(--certificate-identity SAN --certificate-oidc-issuer URL | --key FILE | --policy FILE) [options]',
  options: {
    artifact: { type: 'string', value: 'FILE', help: 'the plugin artifact' },
    'artifact-digest': {
      type: 'string',
      value: 'ALG:HEX',
      help: "the artifact's digest instead of its bytes: sha256:HEX or sha512:HEX",
    },
    bundle: { type: 'string', value: 'FILE', help: 'a Sigstore bundle (v0.1–v0.3) or an npm attestations response' },
    'certificate-identity': {
      type: 'string',
      value: 'SAN',
      help: 'the certificate SAN must equal it exactly (as for cosign); needs --certificate-oidc-issuer',
    },
    'certificate-oidc-issuer': { type: 'string', value: 'URL', help: 'the OIDC issuer must equal it exactly' },
    key: { type: 'string', value: 'FILE', help: 'verify a key-signed bundle with this PEM public key' },
    policy: {
      type: 'string',
      value: 'FILE',
      help: 'trust policy to apply (signers, provenance, builders, SLSA level)',
    },
    ...TRUST_OPTS,
    json: { type: 'boolean', help: 'print {verdict, reason, bundles, artifactDigest, policy}' },
  },
  exit: '0 verified (and allowed by the policy), 1 rejected with a reason code, 2 bad usage',
  examples: [
    'aidops plugin verify --artifact beacon-1.0.0.tgz --bundle beacon.sigstore.json --policy policies/plugin-trust-policy.json --trusted-root trusted_root.json',
  ],
  run: async ({ values }, io) => {
    if (!values.bundle) throw new UsageError('--bundle FILE is required');
    const id = values['certificate-identity'];
    const iss = values['certificate-oidc-issuer'];
    if ((id === undefined) !== (iss === undefined))
      throw new UsageError('--certificate-identity and --certificate-oidc-issuer go together');
    if (values.key && id !== undefined) throw new UsageError('--key and --certificate-identity are exclusive');
    if (!values.key && id === undefined && !values.policy)
      throw new UsageError('give --certificate-identity and --certificate-oidc-issuer, --key, or --policy');
    const { input } = artifactOf(values);
    const bundleFile = readFile(values.bundle, 'bundle');
    const policy = policyOf(values.policy);
    const verifier = verifierOf(io.env, values['trusted-root'], values['trusted-keys']);
    const key = values.key ? trustedKeyFromPem(readFile(values.key, 'key')) : undefined;
    try {
      const verified = bundlesOf(bundleFile).map((b) => {
        // Identity flags bind the certificate signer; key-signed registry attestations are checked by key.
        const keyed = JSON.stringify((b as { verificationMaterial?: unknown })?.verificationMaterial ?? {}).includes(
          '"publicKey"',
        );
        return verifier.verify(b, input, {
          ...(key ? { key } : {}),
          ...(id !== undefined && !keyed ? { identity: { subjectAlternativeName: id, issuer: iss } } : {}),
        });
      });
      const decision = policy ? evaluatePolicy(policy, verified) : undefined;
      if (values.json)
        io.out(
          JSON.stringify(
            {
              verdict: 'verified',
              reason: null,
              bundles: verified.map(summary),
              artifactDigest: verified[0]?.artifactDigest,
              ...(decision ? { policy: decision } : {}),
            },
            null,
            2,
          ),
        );
      else {
        io.out(table(verified.map(summary)));
        if (decision)
          io.out(
            `policy: allowed; publisher ${decision.publisher}, SLSA build L${decision.slsaBuildLevel}` +
              (decision.provenance
                ? `, ${decision.provenance.sourceRepository ?? '?'}@${decision.provenance.sourceRef ?? '?'}`
                : ''),
          );
        io.out('verified');
      }
      return Exit.Ok;
    } catch (e) {
      if (e instanceof PluginVerificationError) return rejected(io, values.json, e);
      throw e;
    }
  },
});

const REGISTRY_OPTS = {
  ...envOption,
  table: { type: 'string', value: 'NAME', help: "registry table (default $AIDOPS_PLUGIN_TABLE or the environment's)" },
  endpoint: { type: 'string', value: 'URL', help: 'DynamoDB endpoint (e.g. the local emulator); default AWS' },
  json: { type: 'boolean', help: 'machine-readable output' },
} as const;

function registryOf(
  env: CliIo['env'],
  values: { table?: string; env?: string },
  endpoint: string | undefined,
): PluginRegistry {
  const ddb = new DynamoDBClient(awsClientConfig(endpoint ? { endpoint } : {}));
  return new PluginRegistry(ddb, {
    tableName: values.table ?? env.AIDOPS_PLUGIN_TABLE ?? cliNames(values.env, { env }).pluginRegistryTable,
    cacheTtlMs: 0,
  });
}

const admit = command({
  summary: 'verify a plugin version, apply the trust policy and record it in the registry',
  synopsis: '--plugin ID --version V --artifact FILE --bundle FILE --policy FILE [options]',
  options: {
    plugin: { type: 'string', value: 'ID', help: 'the plugin id' },
    version: { type: 'string', value: 'V', help: 'the version to admit' },
    artifact: { type: 'string', value: 'FILE', help: 'the plugin artifact' },
    bundle: { type: 'string', value: 'FILE', help: 'its Sigstore bundle or npm attestations response' },
    policy: { type: 'string', value: 'FILE', help: 'the trust policy' },
    ...TRUST_OPTS,
    'approved-by': { type: 'string', value: 'WHO', help: 'who approved a publisher the registry has not seen' },
    by: { type: 'string', value: 'WHO', help: 'who admits (default $USER)' },
    ...REGISTRY_OPTS,
  },
  exit: '0 admitted, 1 rejected (reason code) or refused, 2 bad usage or unreachable endpoint',
  examples: [
    'aidops plugin admit --plugin beacon --version 1.0.0 --artifact beacon-1.0.0.tgz --bundle beacon.sigstore.json --policy policies/plugin-trust-policy.json --approved-by alice',
  ],
  run: async ({ values, endpoint }, io) => {
    for (const f of ['plugin', 'version', 'artifact', 'bundle', 'policy'] as const)
      if (!values[f]) throw new UsageError(`--${f} is required`);
    const artifact = readFile(values.artifact as string, 'artifact');
    const bundleFile = readFile(values.bundle as string, 'bundle');
    const policy = policyOf(values.policy) as TrustPolicy;
    const verifier = verifierOf(io.env, values['trusted-root'], values['trusted-keys']);
    const registry = registryOf(io.env, values, endpoint);
    let checked: ReturnType<typeof checkArtifact>;
    try {
      checked = checkArtifact(verifier, policy, artifact, bundleFile);
    } catch (e) {
      if (e instanceof PluginVerificationError) return rejected(io, values.json, e);
      throw e;
    }
    const d = checked.decision;
    const { record, decision } = await recordAdmission(
      { registry, policy },
      {
        facts: {
          pluginId: values.plugin as string,
          version: values.version as string,
          digest: `sha256:${createHash('sha256').update(artifact).digest('hex')}`,
          otherDigests: { sha512: createHash('sha512').update(artifact).digest('hex') },
          publisher: d.publisher,
          signer: { ...d.signer },
          provenance: d.provenance ? JSON.parse(JSON.stringify({ ...d.provenance, subjects: undefined })) : null,
          slsaBuildLevel: d.slsaBuildLevel,
          signedAt: checked.verified[0]?.signedAt ?? '',
          bundles: checked.verified.map((v) => ({
            mediaType: v.mediaType,
            content: v.content,
            predicateType: v.statement?.predicateType ?? null,
          })),
        },
        admittedBy: values.by ?? io.env.USER ?? 'aidops-cli',
        approvedBy: values['approved-by'] ?? null,
      },
    );
    if (values.json) io.out(JSON.stringify({ record, decision }, null, 2));
    else
      io.out(
        `admitted ${record.pluginId}@${record.version} ${record.digest} (publisher ${record.publisher}, expires ${record.expiresAt})`,
      );
    return Exit.Ok;
  },
});

const revoke = command({
  summary: 'revoke a plugin version, or every version of a publisher',
  synopsis: '(--plugin ID --version V | --publisher P) --reason TEXT [options]',
  options: {
    plugin: { type: 'string', value: 'ID', help: 'the plugin id (with --version)' },
    version: { type: 'string', value: 'V', help: 'the version to revoke' },
    publisher: { type: 'string', value: 'P', help: 'revoke every version of this publisher' },
    reason: { type: 'string', value: 'TEXT', help: 'why (recorded)' },
    by: { type: 'string', value: 'WHO', help: 'who revokes (default $USER)' },
    session: {
      type: 'string',
      multiple: true,
      value: 'ID',
      help: 'print a PolicyViolation event for this session (repeatable)',
    },
    ...REGISTRY_OPTS,
  },
  exit: '0 revoked, 1 not found, 2 bad usage or unreachable endpoint',
  examples: ['aidops plugin revoke --plugin beacon --version 1.0.0 --reason "CVE-2026-0001" --session ses-1a2b3c'],
  run: async ({ values, endpoint }, io) => {
    if (!values.reason) throw new UsageError('--reason is required');
    const byVersion = values.plugin !== undefined || values.version !== undefined;
    if (byVersion === (values.publisher !== undefined))
      throw new UsageError('give --plugin and --version, or --publisher');
    if (byVersion && (!values.plugin || !values.version)) throw new UsageError('--plugin and --version go together');
    const registry = registryOf(io.env, values, endpoint);
    const res = await revokePlugin(
      { registry },
      {
        ...(byVersion ? { pluginId: values.plugin, version: values.version } : { publisher: values.publisher }),
        by: values.by ?? io.env.USER ?? 'aidops-cli',
        reason: values.reason,
        sessionIds: values.session ?? [],
      },
    );
    if (values.json) io.out(JSON.stringify(res, null, 2));
    else {
      io.out(
        `revoked ${byVersion ? `${values.plugin}@${values.version}` : `publisher ${values.publisher} (${res.revoked.versions.length} versions)`}`,
      );
      if (res.violations.length)
        io.out(`PolicyViolation events for sessions: ${res.violations.map((v) => v.sessionId).join(', ')}`);
    }
    return Exit.Ok;
  },
});

const list = command({
  summary: 'list the plugin versions in the registry',
  synopsis: '[--plugin ID] [options]',
  options: { plugin: { type: 'string', value: 'ID', help: 'only this plugin' }, ...REGISTRY_OPTS },
  exit: '0 ok, 2 bad usage or unreachable endpoint',
  examples: ['aidops plugin list --plugin beacon --json'],
  run: async ({ values, endpoint }, io) => {
    const rows = await registryOf(io.env, values, endpoint).list(values.plugin);
    if (values.json) io.out(JSON.stringify(rows, null, 2));
    else
      io.out(
        table(rows as unknown as Record<string, unknown>[], [
          'pluginId',
          'version',
          'status',
          'digest',
          'publisher',
          'slsaBuildLevel',
          'admittedAt',
          'expiresAt',
        ]),
      );
    return Exit.Ok;
  },
});

const show = command({
  summary: "show a plugin version's record and, with --digest, what the policy engine sees",
  synopsis: '--plugin ID --version V [--digest sha256:HEX] [options]',
  options: {
    plugin: { type: 'string', value: 'ID', help: 'the plugin id' },
    version: { type: 'string', value: 'V', help: 'the version' },
    digest: {
      type: 'string',
      value: 'sha256:HEX',
      help: 'also print the policy facts for this digest: {admitted, revoked, expired, digestMatches}',
    },
    ...REGISTRY_OPTS,
  },
  exit: '0 found (and allowed, with --digest), 1 not found or not allowed, 2 bad usage or unreachable endpoint',
  examples: [
    'aidops plugin show --plugin beacon --version 1.0.0 --digest sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf',
  ],
  run: async ({ values, endpoint }, io) => {
    if (!values.plugin || !values.version) throw new UsageError('--plugin and --version are required');
    if (values.digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(values.digest))
      throw new UsageError('--digest must be sha256:<64 lowercase hex>');
    const registry = registryOf(io.env, values, endpoint);
    const record = await registry.get(values.plugin, values.version);
    if (!record) {
      io.err(`${values.plugin}@${values.version} is not in the registry`);
      return Exit.Rejected;
    }
    const facts = values.digest ? await registry.isAllowed(values.plugin, values.version, values.digest) : undefined;
    if (values.json) io.out(JSON.stringify({ record, ...(facts ? { facts } : {}) }, null, 2));
    else {
      io.out(
        table(
          [record as unknown as Record<string, unknown>],
          ['pluginId', 'version', 'status', 'digest', 'publisher', 'admittedBy', 'approvedBy', 'expiresAt'],
        ),
      );
      if (facts) io.out(`policy facts: ${JSON.stringify(facts)}`);
    }
    return facts && !facts.allowed ? Exit.Rejected : Exit.Ok;
  },
});

export const commands: CommandGroup = { verify, admit, revoke, list, show };
