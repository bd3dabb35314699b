/**
 * The control-plane state as a document, for deciding offline (`aidops policy
 * check --state FILE`) what the decision function would decide: the same lookups
 * (state.ts) over in-memory sources instead of the session table, SSM and the
 * registry. It is a way to ask "what if", never an input the deployed decider takes.
 *
 *   { "now": "2025-06-01T12:00:00Z",
 *     "sessions": [{ "sessionId": "ses-1", "status": "active", "tier": "medium", "cohort": "pilot",
 *                    "user": "alice@example.com", "os": "linux", "expiresAt": "…",
 *                    "scopes": { "write:/finance": { "requestId": "r-1", "expiresAt": "…", "grantedBy": "arn:…", "grantedAt": "…" } } }],
 *     "flags": [{ "cohort": "all", "capability": "network-egress", "enabled": false }],
 *     "plugins": [{ "pluginId": "pdf-tools", "version": "1.4.0", "digest": "sha256:…", "expiresAt": "…", "revoked": false }] }
 */
import * as z from 'zod';
import type { FlagEntry } from '../sessions/flags.ts';
import { STATUSES } from '../sessions/model.ts';
import type { SessionItem } from '../sessions/table.ts';
import { CAPABILITIES } from '../sessions/tiers.ts';
import { SessionId } from '../shared/ids.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { PATH_PROFILES } from './paths.ts';
import { createStateLookup, type StateLookup } from './state.ts';

const Iso = z.iso.datetime({ offset: true });

const Grant = z.strictObject({
  requestId: z.string().default('-'),
  expiresAt: Iso,
  grantedBy: z.string().default('-'),
  grantedAt: z.string().default('-'),
});

export const StateDocument = z.strictObject({
  /** The server's time for these decisions. @default now */
  now: Iso.optional(),
  sessions: z
    .array(
      z.strictObject({
        sessionId: SessionId,
        status: z.enum(STATUSES),
        tier: z.string().default('low'),
        cohort: z.string().default('default'),
        user: z.string().default('unknown'),
        os: z.enum(PATH_PROFILES).default('linux'),
        expiresAt: Iso.optional(),
        scopes: z.record(z.string(), Grant).default({}),
      }),
    )
    .default([]),
  flags: z
    .array(z.strictObject({ cohort: z.string().min(1), capability: z.enum(CAPABILITIES), enabled: z.boolean() }))
    .default([]),
  plugins: z
    .array(
      z.strictObject({
        pluginId: z.string().min(1),
        version: z.string().min(1),
        digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
        expiresAt: Iso,
        revoked: z.boolean().default(false),
      }),
    )
    .default([]),
});
export type StateDocument = z.input<typeof StateDocument>;

/** State lookups over a state document; their clock stands still at `now`. */
export function stateFromDocument(input: unknown): StateLookup {
  const doc = parseOrThrow(StateDocument, input, 'state document');
  const now = doc.now ? Date.parse(doc.now) : Date.now();
  const sessions = new Map(doc.sessions.map((s) => [s.sessionId, s as unknown as SessionItem]));
  const flags: FlagEntry[] = doc.flags.map((f, i) => ({ ...f, version: i + 1, name: `/${f.cohort}/${f.capability}` }));
  return createStateLookup({
    clock: () => now,
    sessions: { get: async (id) => sessions.get(id) },
    flags: { list: async () => flags },
    plugins: {
      list: async (pluginId) =>
        doc.plugins
          .filter((p) => p.pluginId === pluginId)
          .map((p) => ({ ...p, status: p.revoked ? ('revoked' as const) : ('admitted' as const) })),
      isAllowed: async (pluginId, version, digest, at) => {
        const p = doc.plugins.find((x) => x.pluginId === pluginId && x.version === version);
        const expired = p ? at.getTime() >= Date.parse(p.expiresAt) : false;
        const digestMatches = p?.digest === digest;
        return {
          admitted: Boolean(p),
          revoked: p?.revoked ?? false,
          expired,
          digestMatches,
          allowed: Boolean(p) && !p?.revoked && !expired && digestMatches,
          expiresAt: p?.expiresAt ?? null,
          publisher: null,
        };
      },
    },
  });
}
