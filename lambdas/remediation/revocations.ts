/**
 * Credential revocation on a role that every session shares, without
 * accumulating: ONE inline policy per role (`aidops-revocations`), rewritten
 * (never appended) from the role's revocation set, which lives in the incident
 * table (`revocations#<role>`, conditional writes). IAM caps a role's inline
 * policies at 10,240 characters; one policy per revoked instance filled that
 * after about 34 tombstones, and then every revocation failed.
 *
 *  - A quarantined instance (its profile detached, so it gets no new credentials)
 *    is one ARN in one Deny statement: every credential delivered to it is refused.
 *  - A released instance (a restore gave its profile back) gets its own statement:
 *    only credentials issued before its revocation are refused.
 *  - An entry older than the longest life of instance-profile credentials
 *    (`windowMs`, default 12 h) can deny nothing still valid: it is pruned.
 *  - A write that would pass IAM's limit is refused (`RevocationCapacityError`)
 *    before anything changes; the tombstone then goes on and pages.
 *
 * Concurrent writers (tombstones of several sessions on the same role) serialize
 * on the set's version; after putting the policy, a writer re-reads the set and
 * puts it again if another writer has moved it on, so the last policy written is
 * the latest set. Inline policies of the earlier scheme (`aidops-revoke-<instance>`)
 * are folded into the set and deleted.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteRolePolicyCommand,
  GetRolePolicyCommand,
  type IAMClient,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { TransientError } from '../shared/errors.ts';
import { IsoTime } from '../shared/ids.ts';
import { RevocationCapacityError } from './errors.ts';

export const REVOCATION_POLICY_NAME = 'aidops-revocations' as const;
/** The earlier scheme: one inline policy per revoked instance. */
const LEGACY_POLICY_PREFIX = 'aidops-revoke-';
/** IAM's limit on the sum of a role's inline policies (characters, whitespace not counted). */
export const INLINE_POLICY_LIMIT = 10_240;
/** Instance-profile credentials live about 6 h; twice that before an entry is pruned. */
export const DEFAULT_REVOCATION_WINDOW_MS = 12 * 3_600_000;

export const RevocationEntry = z.strictObject({
  instanceArn: z.string().min(1),
  /** Credentials issued before this are refused (all of them while the instance is quarantined). */
  revokedAt: IsoTime,
  /** Set when a restore gave the instance its profile back. */
  releasedAt: IsoTime.optional(),
});
export type RevocationEntry = z.output<typeof RevocationEntry>;

/** Characters IAM counts against the limit: the policy without whitespace. */
export const policyChars = (doc: string): number => doc.replace(/\s/g, '').length;

/** The role's one revocation policy for `entries`, compact; null when nothing is revoked. */
export function renderRevocations(entries: readonly RevocationEntry[]): string | null {
  const quarantined = [...new Set(entries.filter((e) => !e.releasedAt).map((e) => e.instanceArn))].sort();
  const released = entries.filter((e) => e.releasedAt).sort((a, b) => a.instanceArn.localeCompare(b.instanceArn));
  const deny = { Effect: 'Deny', Action: '*', Resource: '*' };
  const statements = [
    ...(quarantined.length > 0
      ? [{ Sid: 'AidopsQuarantined', ...deny, Condition: { ArnEquals: { 'ec2:SourceInstanceARN': quarantined } } }]
      : []),
    ...released.map((e, i) => ({
      Sid: `AidopsReleased${i}`,
      ...deny,
      Condition: {
        DateLessThan: { 'aws:TokenIssueTime': e.revokedAt },
        ArnEquals: { 'ec2:SourceInstanceARN': e.instanceArn },
      },
    })),
  ];
  return statements.length > 0 ? JSON.stringify({ Version: '2012-10-17', Statement: statements }) : null;
}

/** Entries that can still deny a valid credential; one per instance (the strictest). */
export function pruneRevocations(
  entries: readonly RevocationEntry[],
  now: Date,
  windowMs = DEFAULT_REVOCATION_WINDOW_MS,
): RevocationEntry[] {
  const byArn = new Map<string, RevocationEntry>();
  for (const e of entries) {
    if (Date.parse(e.revokedAt) + windowMs <= now.getTime()) continue;
    const seen = byArn.get(e.instanceArn);
    // Quarantined beats released; otherwise the later revocation denies more.
    const stricter =
      !seen ||
      (seen.releasedAt && !e.releasedAt) ||
      (!seen.releasedAt === !e.releasedAt && e.revokedAt > seen.revokedAt);
    if (stricter) byArn.set(e.instanceArn, e);
  }
  return [...byArn.values()];
}

/** The instance quarantined as of `at`: every credential it was given is refused. */
export const revokeInstance =
  (instanceArn: string) =>
  (entries: RevocationEntry[], at: Date): RevocationEntry[] => [
    ...entries.filter((e) => e.instanceArn !== instanceArn),
    { instanceArn, revokedAt: at.toISOString() },
  ];

/** The instance released at `at`: only credentials issued before its revocation stay refused. */
export const releaseInstance =
  (instanceArn: string) =>
  (entries: RevocationEntry[], at: Date): RevocationEntry[] =>
    entries.map((e) => (e.instanceArn === instanceArn && !e.releasedAt ? { ...e, releasedAt: at.toISOString() } : e));

export interface RevocationDeps {
  readonly iam: IAMClient;
  readonly ddb: DynamoDBClient;
  /** The incident table. */
  readonly table: string;
  /** @default DEFAULT_REVOCATION_WINDOW_MS */
  readonly windowMs?: number;
}

export interface RevocationUpdate {
  /** The policy on the role now; null when the set became empty (the policy was deleted). */
  readonly policyName: string | null;
  readonly entries: number;
  /** Characters of the policy, as IAM counts them. */
  readonly characters: number;
  /** Policies of the earlier scheme folded in and deleted. */
  readonly legacyRemoved: string[];
}

interface StoredSet {
  readonly entries: RevocationEntry[];
  readonly version: number;
}

const keyOf = (role: string) => ({ pk: { S: `revocations#${role}` } });

async function readSet(deps: RevocationDeps, role: string): Promise<StoredSet> {
  const out = await awsCall('dynamodb:GetItem', () =>
    deps.ddb.send(new GetItemCommand({ TableName: deps.table, Key: keyOf(role), ConsistentRead: true })),
  );
  const raw = out.Item?.entries?.S;
  const parsed = raw ? z.array(RevocationEntry).safeParse(JSON.parse(raw)) : undefined;
  return { entries: parsed?.success ? parsed.data : [], version: Number(out.Item?.version?.N ?? 0) };
}

/** Writes the set if nobody else did since `from`; false when another writer won. */
async function writeSet(
  deps: RevocationDeps,
  role: string,
  entries: readonly RevocationEntry[],
  from: number,
  now: Date,
): Promise<boolean> {
  const windowMs = deps.windowMs ?? DEFAULT_REVOCATION_WINDOW_MS;
  try {
    await awsCall('dynamodb:PutItem', () =>
      deps.ddb.send(
        new PutItemCommand({
          TableName: deps.table,
          Item: {
            ...keyOf(role),
            entries: { S: JSON.stringify(entries) },
            version: { N: String(from + 1) },
            updatedAt: { S: now.toISOString() },
            // When every entry could be pruned, the item may go too (the policy then denies nothing valid).
            expiresAt: { N: String(Math.floor((now.getTime() + windowMs) / 1000) + 3600) },
          },
          ConditionExpression: from === 0 ? 'attribute_not_exists(pk)' : 'version = :v',
          ...(from === 0 ? {} : { ExpressionAttributeValues: { ':v': { N: String(from) } } }),
        }),
      ),
    );
    return true;
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException')
      return false;
    throw e;
  }
}

interface RolePolicies {
  /** Characters of the role's other inline policies. */
  readonly otherCharacters: number;
  /** Policies of the earlier scheme, with what they denied. */
  readonly legacy: { name: string; entries: RevocationEntry[] }[];
}

/** What a policy of the earlier scheme denied: tokens of one instance issued before a time. */
function legacyEntries(doc: unknown): RevocationEntry[] {
  const statements = (doc as { Statement?: unknown })?.Statement;
  const out: RevocationEntry[] = [];
  for (const s of Array.isArray(statements) ? statements : []) {
    const c = (s as { Condition?: Record<string, Record<string, unknown>> }).Condition ?? {};
    const arn = c.ArnEquals?.['ec2:SourceInstanceARN'];
    const before = c.DateLessThan?.['aws:TokenIssueTime'];
    if (typeof arn === 'string' && typeof before === 'string' && IsoTime.safeParse(before).success)
      out.push({ instanceArn: arn, revokedAt: before, releasedAt: before });
  }
  return out;
}

async function readRolePolicies(iam: IAMClient, role: string): Promise<RolePolicies> {
  const names: string[] = [];
  let marker: string | undefined;
  do {
    const page = await awsCall('iam:ListRolePolicies', () =>
      iam.send(new ListRolePoliciesCommand({ RoleName: role, Marker: marker })),
    );
    names.push(...(page.PolicyNames ?? []));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  let otherCharacters = 0;
  const legacy: RolePolicies['legacy'] = [];
  for (const name of names.filter((n) => n !== REVOCATION_POLICY_NAME)) {
    const got = await awsCall('iam:GetRolePolicy', () =>
      iam.send(new GetRolePolicyCommand({ RoleName: role, PolicyName: name })),
    );
    // IAM returns the document URL-encoded.
    const doc = decodeURIComponent(got.PolicyDocument ?? '');
    if (name.startsWith(LEGACY_POLICY_PREFIX)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(doc);
      } catch {
        parsed = undefined;
      }
      legacy.push({ name, entries: legacyEntries(parsed) });
    } else otherCharacters += policyChars(doc);
  }
  return { otherCharacters, legacy };
}

/** Puts (or, for an empty set, deletes) the one revocation policy. */
async function putPolicy(iam: IAMClient, role: string, doc: string | null): Promise<void> {
  if (doc) {
    await awsCall('iam:PutRolePolicy', () =>
      iam.send(new PutRolePolicyCommand({ RoleName: role, PolicyName: REVOCATION_POLICY_NAME, PolicyDocument: doc })),
    );
    return;
  }
  await deletePolicy(iam, role, REVOCATION_POLICY_NAME);
}

async function deletePolicy(iam: IAMClient, role: string, name: string): Promise<void> {
  await awsCall('iam:DeleteRolePolicy', async () => {
    try {
      return await iam.send(new DeleteRolePolicyCommand({ RoleName: role, PolicyName: name }));
    } catch (e) {
      if ((e as Error).name === 'NoSuchEntityException' || (e as Error).name === 'NoSuchEntity') return {};
      throw e;
    }
  });
}

/**
 * Applies `change` to the role's revocation set (pruned first) and rewrites the
 * role's one revocation policy from it.
 */
export async function updateRevocations(
  deps: RevocationDeps,
  role: string,
  change: (entries: RevocationEntry[], at: Date) => RevocationEntry[],
  now: Date = new Date(),
): Promise<RevocationUpdate> {
  const windowMs = deps.windowMs ?? DEFAULT_REVOCATION_WINDOW_MS;
  for (let attempt = 0; attempt < 12; attempt++) {
    const cur = await readSet(deps, role);
    const policies = await readRolePolicies(deps.iam, role);
    const entries = pruneRevocations(
      change(pruneRevocations([...cur.entries, ...policies.legacy.flatMap((l) => l.entries)], now, windowMs), now),
      now,
      windowMs,
    );
    const doc = renderRevocations(entries);
    const characters = doc ? policyChars(doc) : 0;
    if (characters + policies.otherCharacters > INLINE_POLICY_LIMIT) {
      throw new RevocationCapacityError(
        `role ${role}: ${entries.length} revoked instances need ${characters} characters; with its other inline policies (${policies.otherCharacters}) that passes IAM's ${INLINE_POLICY_LIMIT}`,
        { role, entries: entries.length, characters, otherCharacters: policies.otherCharacters },
      );
    }
    if (!(await writeSet(deps, role, entries, cur.version, now))) {
      // Another writer won: back off a random while (jitter breaks the lockstep), then read again.
      await new Promise((r) => setTimeout(r, Math.random() * 25 * (attempt + 1)));
      continue;
    }
    await putPolicy(deps.iam, role, doc);
    for (const l of policies.legacy) await deletePolicy(deps.iam, role, l.name);
    // Another writer may have moved the set on and put its policy before ours: put the latest again.
    let mine = cur.version + 1;
    for (let i = 0; i < 8; i++) {
      const latest = await readSet(deps, role);
      if (latest.version === mine) break;
      await putPolicy(deps.iam, role, renderRevocations(latest.entries));
      mine = latest.version;
    }
    return {
      policyName: doc ? REVOCATION_POLICY_NAME : null,
      entries: entries.length,
      characters,
      legacyRemoved: policies.legacy.map((l) => l.name),
    };
  }
  throw new TransientError(`role ${role}: the revocation set kept changing under this write; try again`, { role });
}
