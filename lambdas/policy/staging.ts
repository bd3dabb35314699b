/**
 * Write staging: an agent's proposed writes land in a staging prefix first,
 * each is decided, allowed ones are promoted (copied to the target prefix),
 * denied ones stay held with their reasons until an approver approves
 * (promote) or rejects (discard) them. Approve and reject are audited.
 *
 * Layout in the bucket:
 *   <staging>/<sessionId>/<writeId>        the proposed content (absent for a delete)
 *   <staging>/<sessionId>/<writeId>.json   the hold record while the write waits
 *   <target>/<sessionId><normalized path>  promoted content
 */
import { randomUUID } from 'node:crypto';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import * as z from 'zod';
import { type AuditEventOf, newEvent } from '../audit/schema.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { ConflictError, NotFoundError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';
import type { AuthoritativeDecider, AuthoritativeOutcome } from './authoritative.ts';
import { POLICY_EVENT_SOURCE } from './decide.ts';
import { DecisionRequest } from './model.ts';

export const MAX_WRITE_BYTES = 5 * 1024 * 1024;

export interface StagingConfig {
  readonly bucket: string;
  /** e.g. `staging/` */
  readonly stagingPrefix: string;
  /** e.g. `workspace/` */
  readonly targetPrefix: string;
}

export interface StagingDeps {
  readonly s3: S3Client;
  /** Decides each write on the session's own state (the caller names only session, action, path). */
  readonly decider: AuthoritativeDecider;
  readonly config: StagingConfig;
}

export const ProposedWrite = z.strictObject({
  /** An fs_write or fs_delete decision request: `{ sessionId, action, resource }`. */
  request: DecisionRequest.refine((r) => r.action === 'fs_write' || r.action === 'fs_delete', {
    message: 'staged writes must be fs_write or fs_delete',
    path: ['action'],
  }),
  /** File content for fs_write, base64. */
  contentBase64: z
    .string()
    .max(Math.ceil((MAX_WRITE_BYTES * 4) / 3) + 4)
    .optional(),
});
export type ProposedWrite = z.input<typeof ProposedWrite>;

export const HoldRecord = z.strictObject({
  writeId: z.string(),
  sessionId: z.string(),
  action: z.enum(['fs_write', 'fs_delete']),
  path: z.string(),
  status: z.literal('held'),
  reasons: z.array(z.string()),
  decisionId: z.string(),
  policyVersion: z.string(),
  inputDigest: z.string(),
  heldAt: z.string(),
});
export type HoldRecord = z.infer<typeof HoldRecord>;

export interface StagedResult {
  writeId: string;
  path: string;
  /** `refused`: the session is unknown or no longer live; the staged content is dropped, nothing is held. */
  status: 'promoted' | 'held' | 'refused';
  targetKey?: string;
  outcome: AuthoritativeOutcome;
}

const join = (prefix: string, rest: string): string =>
  (prefix.endsWith('/') || prefix === '' ? prefix : `${prefix}/`) + rest;
const stagedKey = (c: StagingConfig, sessionId: string, writeId: string) =>
  join(c.stagingPrefix, `${sessionId}/${writeId}`);
const holdKey = (c: StagingConfig, sessionId: string, writeId: string) => `${stagedKey(c, sessionId, writeId)}.json`;
/** Normalized paths start with `/`, so the session id and the path never run together. */
export const targetKey = (c: StagingConfig, sessionId: string, normalizedPath: string) =>
  join(c.targetPrefix, `${sessionId}${normalizedPath}`);

async function promote(
  deps: StagingDeps,
  sessionId: string,
  writeId: string,
  action: 'fs_write' | 'fs_delete',
  path: string,
): Promise<string> {
  const { s3, config: c } = deps;
  const target = targetKey(c, sessionId, path);
  if (action === 'fs_write') {
    await awsCall('s3:CopyObject', () =>
      s3.send(
        new CopyObjectCommand({
          Bucket: c.bucket,
          Key: target,
          CopySource: `${c.bucket}/${encodeURIComponent(stagedKey(c, sessionId, writeId)).replace(/%2F/g, '/')}`,
        }),
      ),
    );
    await awsCall('s3:DeleteObject', () =>
      s3.send(new DeleteObjectCommand({ Bucket: c.bucket, Key: stagedKey(c, sessionId, writeId) })),
    );
  } else {
    await awsCall('s3:DeleteObject', () => s3.send(new DeleteObjectCommand({ Bucket: c.bucket, Key: target })));
  }
  return target;
}

/** Stages, decides (one batch) and promotes, holds or (no live session) drops each proposed write. */
export async function stageWrites(deps: StagingDeps, input: readonly unknown[]): Promise<StagedResult[]> {
  const writes = input.map((w, i) => parseOrThrow(ProposedWrite, w, `proposed write [${i}]`));
  const { s3, config: c } = deps;
  const ids = writes.map(() => randomUUID());
  // Hold the content before deciding: nothing reaches the target without passing through here.
  await Promise.all(
    writes.map((w, i) =>
      w.request.action === 'fs_write'
        ? awsCall('s3:PutObject', () =>
            s3.send(
              new PutObjectCommand({
                Bucket: c.bucket,
                Key: stagedKey(c, w.request.sessionId, ids[i]!),
                Body: Buffer.from(w.contentBase64 ?? '', 'base64'),
              }),
            ),
          )
        : Promise.resolve(),
    ),
  );
  const outcomes = await deps.decider.decideBatch(writes.map((w) => w.request));
  const results: StagedResult[] = [];
  for (const [i, o] of outcomes.entries()) {
    const writeId = ids[i]!;
    const { sessionId, resource } = writes[i]!.request;
    const action = writes[i]!.request.action as 'fs_write' | 'fs_delete';
    if (!o.request) {
      if (action === 'fs_write')
        await awsCall('s3:DeleteObject', () =>
          s3.send(new DeleteObjectCommand({ Bucket: c.bucket, Key: stagedKey(c, sessionId, writeId) })),
        );
      results.push({ writeId, path: resource.kind === 'file' ? resource.path : '', status: 'refused', outcome: o });
      continue;
    }
    const path = o.request.resource.kind === 'file' ? o.request.resource.path : '';
    if (o.decision.effect === 'allow') {
      const target = await promote(deps, sessionId, writeId, action, path);
      results.push({ writeId, path, status: 'promoted', targetKey: target, outcome: o });
      continue;
    }
    const hold: HoldRecord = {
      writeId,
      sessionId,
      action,
      path,
      status: 'held',
      reasons: o.decision.reasons,
      decisionId: o.decision.decisionId,
      policyVersion: o.decision.policyVersion,
      inputDigest: o.decision.inputDigest,
      heldAt: new Date().toISOString(),
    };
    await awsCall('s3:PutObject', () =>
      s3.send(
        new PutObjectCommand({
          Bucket: c.bucket,
          Key: holdKey(c, sessionId, writeId),
          Body: JSON.stringify(hold),
          ContentType: 'application/json',
        }),
      ),
    );
    results.push({ writeId, path, status: 'held', outcome: o });
  }
  return results;
}

async function readHold(deps: StagingDeps, sessionId: string, writeId: string): Promise<HoldRecord> {
  try {
    const r = await awsCall('s3:GetObject', () =>
      deps.s3.send(new GetObjectCommand({ Bucket: deps.config.bucket, Key: holdKey(deps.config, sessionId, writeId) })),
    );
    return parseOrThrow(HoldRecord, JSON.parse((await r.Body?.transformToString()) ?? ''), 'hold record');
  } catch (e) {
    if ((e as Error).name === 'NoSuchKey') throw new NotFoundError(`no held write ${writeId} for session ${sessionId}`);
    throw e;
  }
}

/** Held writes of one session, oldest first. */
export async function listHeld(deps: StagingDeps, sessionId: string): Promise<HoldRecord[]> {
  const out: HoldRecord[] = [];
  let token: string | undefined;
  do {
    const page = await awsCall('s3:ListObjectsV2', () =>
      deps.s3.send(
        new ListObjectsV2Command({
          Bucket: deps.config.bucket,
          Prefix: join(deps.config.stagingPrefix, `${sessionId}/`),
          ContinuationToken: token,
        }),
      ),
    );
    for (const o of page.Contents ?? []) {
      if (!o.Key?.endsWith('.json')) continue;
      const writeId = o.Key.slice(o.Key.lastIndexOf('/') + 1, -'.json'.length);
      out.push(await readHold(deps, sessionId, writeId));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort((a, b) => a.heldAt.localeCompare(b.heldAt));
}

export interface Resolution {
  readonly sessionId: string;
  readonly writeId: string;
  /** Who decided, for the audit trail. */
  readonly approver: string;
  readonly note?: string;
}

function resolutionEvent(hold: HoldRecord, r: Resolution, outcome: 'allow' | 'deny'): AuditEventOf<'decision'> {
  const verb = outcome === 'allow' ? 'approved' : 'rejected';
  return newEvent('decision', {
    source: POLICY_EVENT_SOURCE,
    sessionId: hold.sessionId,
    user: { id: r.approver, type: 'human' },
    policyVersion: hold.policyVersion,
    detail: {
      // A human override of a held write: the audit schema's 'guard' engine.
      engine: 'guard',
      inputDigest: hold.inputDigest,
      action: hold.action,
      resource: hold.path,
      outcome,
      reasons: [`${verb} by ${r.approver}${r.note ? `: ${r.note}` : ''}`, ...hold.reasons.map((x) => `held for: ${x}`)],
      policyIds: [hold.decisionId],
    },
  });
}

/** Promotes a held write; returns the target key and the audit event to publish. */
export async function approveHeld(
  deps: StagingDeps,
  r: Resolution,
): Promise<{ targetKey: string; event: AuditEventOf<'decision'> }> {
  const hold = await readHold(deps, r.sessionId, r.writeId);
  if (hold.status !== 'held') throw new ConflictError(`write ${r.writeId} is not held`);
  const target = await promote(deps, r.sessionId, r.writeId, hold.action, hold.path);
  await awsCall('s3:DeleteObject', () =>
    deps.s3.send(
      new DeleteObjectCommand({ Bucket: deps.config.bucket, Key: holdKey(deps.config, r.sessionId, r.writeId) }),
    ),
  );
  return { targetKey: target, event: resolutionEvent(hold, r, 'allow') };
}

/** Discards a held write; returns the audit event to publish. */
export async function rejectHeld(deps: StagingDeps, r: Resolution): Promise<{ event: AuditEventOf<'decision'> }> {
  const hold = await readHold(deps, r.sessionId, r.writeId);
  const { bucket } = deps.config;
  await awsCall('s3:DeleteObject', () =>
    deps.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: stagedKey(deps.config, r.sessionId, r.writeId) })),
  );
  await awsCall('s3:DeleteObject', () =>
    deps.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: holdKey(deps.config, r.sessionId, r.writeId) })),
  );
  return { event: resolutionEvent(hold, r, 'deny') };
}
