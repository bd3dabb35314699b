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
import { type CliIo, Exit, strictParse, table, UsageError } from '../args.ts';

export const DEFAULT_TABLE = 'aidops-plugin-registry';

export const usage = `usage: aidops plugin <command> [options]

  verify --artifact FILE | --artifact-digest sha256:HEX|sha512:HEX  --bundle FILE
         [--certificate-identity SAN --certificate-oidc-issuer URL | --key FILE]
         [--policy FILE] [--trusted-root FILE] [--trusted-keys FILE] [--json]
      Verifies offline. --bundle may be a Sigstore bundle (v0.1–v0.3) or an npm
      attestations response. Identity flags mean what they mean to cosign: the
      certificate SAN and OIDC issuer must equal them exactly (both required together).
      --key verifies a key-signed bundle with that PEM key. --policy applies a trust
      policy (signers, provenance, builders, SLSA level). One of identity, --key or
      --policy is required. --trusted-root defaults to $AIDOPS_SIGSTORE_TRUSTED_ROOT;
      --trusted-keys is a sigstore-js keys document (npm registry keys).

  admit  --plugin ID --version V --artifact FILE --bundle FILE --policy FILE
         [--trusted-root FILE] [--trusted-keys FILE] [--approved-by WHO] [--by WHO]
      Verifies, applies the policy and records the version in the registry.
  revoke (--plugin ID --version V | --publisher P) --reason TEXT [--by WHO] [--session ID]...
      Revokes a version or every version of a publisher; prints PolicyViolation
      events for the sessions named.
  list   [--plugin ID]
  show   --plugin ID --version V [--digest sha256:HEX]
      With --digest, also prints what the policy engine sees: {admitted, revoked, expired, digestMatches}.

  registry commands take [--table NAME] (default $AIDOPS_PLUGIN_TABLE or ${DEFAULT_TABLE})
  [--endpoint URL] (e.g. the local emulator) [--json]
exit: 0 ok (verified and allowed), 1 rejected or not found, 2 bad usage`;

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

const VERIFY_OPTS = {
  artifact: { type: 'string' },
  'artifact-digest': { type: 'string' },
  bundle: { type: 'string' },
  'certificate-identity': { type: 'string' },
  'certificate-oidc-issuer': { type: 'string' },
  key: { type: 'string' },
  policy: { type: 'string' },
  'trusted-root': { type: 'string' },
  'trusted-keys': { type: 'string' },
  json: { type: 'boolean' },
} as const;

async function verifyCmd(argv: string[], io: CliIo): Promise<number> {
  const { values } = strictParse(argv, VERIFY_OPTS);
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
}

const REGISTRY_OPTS = {
  table: { type: 'string' },
  endpoint: { type: 'string' },
  json: { type: 'boolean' },
} as const;

function registryOf(env: CliIo['env'], values: { table?: string; endpoint?: string }): PluginRegistry {
  const ddb = new DynamoDBClient(awsClientConfig(values.endpoint ? { endpoint: values.endpoint } : {}));
  return new PluginRegistry(ddb, {
    tableName: values.table ?? env.AIDOPS_PLUGIN_TABLE ?? DEFAULT_TABLE,
    cacheTtlMs: 0,
  });
}

async function admitCmd(argv: string[], io: CliIo): Promise<number> {
  const { values } = strictParse(argv, {
    ...REGISTRY_OPTS,
    plugin: { type: 'string' },
    version: { type: 'string' },
    artifact: { type: 'string' },
    bundle: { type: 'string' },
    policy: { type: 'string' },
    'trusted-root': { type: 'string' },
    'trusted-keys': { type: 'string' },
    'approved-by': { type: 'string' },
    by: { type: 'string' },
  });
  for (const f of ['plugin', 'version', 'artifact', 'bundle', 'policy'] as const)
    if (!values[f]) throw new UsageError(`--${f} is required`);
  const artifact = readFile(values.artifact as string, 'artifact');
  const bundleFile = readFile(values.bundle as string, 'bundle');
  const policy = policyOf(values.policy) as TrustPolicy;
  const verifier = verifierOf(io.env, values['trusted-root'], values['trusted-keys']);
  const registry = registryOf(io.env, values);
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
}

async function revokeCmd(argv: string[], io: CliIo): Promise<number> {
  const { values } = strictParse(argv, {
    ...REGISTRY_OPTS,
    plugin: { type: 'string' },
    version: { type: 'string' },
    publisher: { type: 'string' },
    reason: { type: 'string' },
    by: { type: 'string' },
    session: { type: 'string', multiple: true },
  });
  if (!values.reason) throw new UsageError('--reason is required');
  const byVersion = values.plugin !== undefined || values.version !== undefined;
  if (byVersion === (values.publisher !== undefined))
    throw new UsageError('give --plugin and --version, or --publisher');
  if (byVersion && (!values.plugin || !values.version)) throw new UsageError('--plugin and --version go together');
  const registry = registryOf(io.env, values);
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
}

async function listCmd(argv: string[], io: CliIo): Promise<number> {
  const { values } = strictParse(argv, { ...REGISTRY_OPTS, plugin: { type: 'string' } });
  const rows = await registryOf(io.env, values).list(values.plugin);
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
}

async function showCmd(argv: string[], io: CliIo): Promise<number> {
  const { values } = strictParse(argv, {
    ...REGISTRY_OPTS,
    plugin: { type: 'string' },
    version: { type: 'string' },
    digest: { type: 'string' },
  });
  if (!values.plugin || !values.version) throw new UsageError('--plugin and --version are required');
  if (values.digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(values.digest))
    throw new UsageError('--digest must be sha256:<64 lowercase hex>');
  const registry = registryOf(io.env, values);
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
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'verify':
      return verifyCmd(rest, io);
    case 'admit':
      return admitCmd(rest, io);
    case 'revoke':
      return revokeCmd(rest, io);
    case 'list':
      return listCmd(rest, io);
    case 'show':
      return showCmd(rest, io);
    default:
      throw new UsageError(cmd ? `unknown command "${cmd}"` : 'missing command');
  }
}
