/**
 * Where policies come from, so a policy change takes effect without redeploying
 * the functions that decide.
 *
 * A policy bundle is: a manifest (policy set name, version), data (egress
 * allowlist, ...), Cedar schema + policies, and the compiled Rego wasm. It lives
 * either in a directory laid out like `policies/` in this repository, or as one
 * JSON document (`packBundle`) in S3, optionally selected by an SSM parameter
 * that names the active object. A source answers a cheap `probe()` (a token that
 * changes whenever the content does) and a `load()`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { NotFoundError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';
import type { CedarSources } from './cedar.ts';
import { type PolicyData, PolicyLoadError } from './engine.ts';
import { canonicalJson } from './model.ts';

export const BUNDLE_FORMAT = 'aidops-policy-bundle/1';

export interface PolicyBundle {
  readonly policySet: string;
  /** The author's version label (manifest.json), reported in every decision. */
  readonly version: string;
  /** sha256 over the whole content; changes whenever anything in the bundle does. */
  readonly contentDigest: string;
  readonly data: PolicyData;
  readonly cedar?: CedarSources;
  readonly rego?: { readonly wasm: Uint8Array };
}

const Manifest = z.object({ policySet: z.string().min(1), version: z.string().min(1) });
const Data = z.looseObject({ egress_allowlist: z.array(z.string()) });
const BundleDoc = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  policySet: z.string().min(1),
  version: z.string().min(1),
  data: Data,
  cedar: z.strictObject({ schema: z.string(), policies: z.record(z.string(), z.string()) }).optional(),
  rego: z.strictObject({ wasmBase64: z.string().min(1) }).optional(),
});
export type BundleDoc = z.infer<typeof BundleDoc>;

function digestOf(doc: BundleDoc): string {
  return createHash('sha256').update(canonicalJson(doc)).digest('hex');
}

function fromDoc(doc: BundleDoc): PolicyBundle {
  return {
    policySet: doc.policySet,
    version: doc.version,
    contentDigest: digestOf(doc),
    data: doc.data as PolicyData,
    ...(doc.cedar ? { cedar: doc.cedar } : {}),
    ...(doc.rego ? { rego: { wasm: new Uint8Array(Buffer.from(doc.rego.wasmBase64, 'base64')) } } : {}),
  };
}

/**
 * Reads a policy directory into the single-document form:
 * `manifest.json`, `data.json`, `cedar/*.cedarschema` + `cedar/*.cedar`,
 * `rego/bundle/policy.wasm`. Either language may be absent, not both.
 */
export function packBundle(dir: string): BundleDoc {
  const read = (p: string) => readFileSync(path.join(dir, p), 'utf8');
  if (!existsSync(path.join(dir, 'manifest.json'))) throw new NotFoundError(`no manifest.json in policy dir ${dir}`);
  const manifest = parseOrThrow(Manifest, JSON.parse(read('manifest.json')), `${dir}/manifest.json`);
  const data = existsSync(path.join(dir, 'data.json'))
    ? parseOrThrow(Data, JSON.parse(read('data.json')), `${dir}/data.json`)
    : { egress_allowlist: [] };
  let cedar: BundleDoc['cedar'];
  const cedarDir = path.join(dir, 'cedar');
  if (existsSync(cedarDir)) {
    const files = readdirSync(cedarDir).sort();
    const schemas = files.filter((f) => f.endsWith('.cedarschema'));
    if (schemas.length !== 1) throw new PolicyLoadError(`${cedarDir}: expected exactly one .cedarschema file`);
    const policies: Record<string, string> = {};
    for (const f of files.filter((x) => x.endsWith('.cedar'))) policies[f] = read(`cedar/${f}`);
    cedar = { schema: read(`cedar/${schemas[0]}`), policies };
  }
  let rego: BundleDoc['rego'];
  const wasm = path.join(dir, 'rego/bundle/policy.wasm');
  if (existsSync(wasm)) rego = { wasmBase64: readFileSync(wasm).toString('base64') };
  if (!cedar && !rego) throw new PolicyLoadError(`${dir}: neither cedar/ nor rego/bundle/policy.wasm present`);
  return {
    format: BUNDLE_FORMAT,
    policySet: manifest.policySet,
    version: manifest.version,
    data,
    ...(cedar ? { cedar } : {}),
    ...(rego ? { rego } : {}),
  };
}

export function parseBundleDoc(input: unknown): PolicyBundle {
  return fromDoc(parseOrThrow(BundleDoc, input, 'policy bundle'));
}

export function loadBundleFromDir(dir: string): PolicyBundle {
  return fromDoc(packBundle(dir));
}

export interface PolicySourceHandle {
  /** Human description for errors and logs. */
  readonly describe: string;
  /** A token that changes whenever the active bundle does; cheap. */
  probe(): Promise<string>;
  load(): Promise<PolicyBundle>;
}

/** Where to read policies from; the caller builds it (clients are arguments). */
export type PolicySource =
  | { readonly type: 'dir'; readonly dir: string }
  | { readonly type: 'bundle'; readonly bundle: PolicyBundle }
  | { readonly type: 's3'; readonly s3: S3Client; readonly bucket: string; readonly key: string }
  | {
      /** The parameter's value is `{"bucket","key","versionId"?}`: the active bundle object. */
      readonly type: 'ssm';
      readonly ssm: SSMClient;
      readonly s3: S3Client;
      readonly parameterName: string;
      /** Used while the parameter says `{"bundled":true}`: the bundle shipped with the function. */
      readonly bundled?: PolicyBundle;
    };

const Pointer = z.strictObject({
  bucket: z.string().min(1),
  key: z.string().min(1),
  versionId: z.string().min(1).optional(),
});
export type BundlePointer = z.infer<typeof Pointer>;
/** The deploy-time value: decide with the bundle shipped inside the function until someone repoints. */
const BundledPointer = z.strictObject({ bundled: z.literal(true) });

async function getS3Json(s3: S3Client, p: BundlePointer): Promise<unknown> {
  const r = await awsCall('s3:GetObject', () =>
    s3.send(new GetObjectCommand({ Bucket: p.bucket, Key: p.key, ...(p.versionId ? { VersionId: p.versionId } : {}) })),
  );
  const body = await r.Body?.transformToString('utf8');
  if (body === undefined) throw new NotFoundError(`policy bundle s3://${p.bucket}/${p.key} is empty`);
  return JSON.parse(body);
}

export function openSource(src: PolicySource): PolicySourceHandle {
  switch (src.type) {
    case 'dir': {
      // The token is the content digest itself: reading a few small files every ≤30 s is cheap.
      return {
        describe: `dir ${src.dir}`,
        probe: async () => digestOf(packBundle(src.dir)),
        load: async () => loadBundleFromDir(src.dir),
      };
    }
    case 'bundle':
      return {
        describe: `bundle ${src.bundle.policySet}@${src.bundle.version}`,
        probe: async () => src.bundle.contentDigest,
        load: async () => src.bundle,
      };
    case 's3': {
      const p = { bucket: src.bucket, key: src.key };
      return {
        describe: `s3://${src.bucket}/${src.key}`,
        probe: async () => {
          const h = await awsCall('s3:HeadObject', () =>
            src.s3.send(new HeadObjectCommand({ Bucket: src.bucket, Key: src.key })),
          );
          return `${h.VersionId ?? ''}|${h.ETag ?? ''}|${h.LastModified?.toISOString() ?? ''}`;
        },
        load: async () => parseBundleDoc(await getS3Json(src.s3, p)),
      };
    }
    case 'ssm': {
      const pointer = async (): Promise<{ p: BundlePointer | null; token: string }> => {
        const r = await awsCall('ssm:GetParameter', () =>
          src.ssm.send(new GetParameterCommand({ Name: src.parameterName })),
        );
        const value = r.Parameter?.Value;
        if (!value) throw new NotFoundError(`SSM parameter ${src.parameterName} has no value`);
        const raw: unknown = JSON.parse(value);
        if (BundledPointer.safeParse(raw).success) {
          if (!src.bundled)
            throw new NotFoundError(`SSM parameter ${src.parameterName} says "bundled" but no bundle shipped`);
          return { p: null, token: `bundled|${src.bundled.contentDigest}` };
        }
        const p = parseOrThrow(Pointer, raw, `SSM parameter ${src.parameterName}`);
        return { p, token: value };
      };
      return {
        describe: `ssm ${src.parameterName}`,
        probe: async () => {
          const { p, token } = await pointer();
          if (!p) return token;
          // Without a pinned object version the object itself may change under the same pointer.
          if (p.versionId) return token;
          const h = await awsCall('s3:HeadObject', () =>
            src.s3.send(new HeadObjectCommand({ Bucket: p.bucket, Key: p.key })),
          );
          return `${token}|${h.VersionId ?? ''}|${h.ETag ?? ''}`;
        },
        load: async () => {
          const { p } = await pointer();
          return p ? parseBundleDoc(await getS3Json(src.s3, p)) : src.bundled!;
        },
      };
    }
  }
}
