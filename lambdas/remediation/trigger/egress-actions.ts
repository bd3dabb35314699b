/**
 * What the automatic path does with a `SuspiciousEgress` event, by the
 * session's tier (read from the session table, never from the event): by
 * default a high-tier session is tombstoned, the others page a person.
 * Configured with `-c aidops:suspiciousEgressActions='{"medium":"tombstone"}'`
 * (merged over the defaults), checked at synth.
 */
import * as z from 'zod';
import { TIERS } from '../../sessions/tiers.ts';
import { parseOrThrow } from '../../shared/validation.ts';

export const EGRESS_ACTIONS = ['tombstone', 'alert'] as const;
export type EgressAction = (typeof EGRESS_ACTIONS)[number];

export const DEFAULT_EGRESS_ACTIONS = { high: 'tombstone', medium: 'alert', low: 'alert' } as const;

const Action = z.enum(EGRESS_ACTIONS);
export const EgressActions = z.strictObject({
  high: Action.default(DEFAULT_EGRESS_ACTIONS.high),
  medium: Action.default(DEFAULT_EGRESS_ACTIONS.medium),
  low: Action.default(DEFAULT_EGRESS_ACTIONS.low),
});
export type EgressActions = z.output<typeof EgressActions>;

/** From an object or its JSON text; absent means the defaults. */
export function parseEgressActions(raw: unknown, what = 'suspicious egress actions'): EgressActions {
  let v: unknown = raw ?? {};
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      v = undefined;
    }
  }
  return parseOrThrow(EgressActions, v, what);
}

/** The action for a tier; a session whose tier is unknown is treated as the strictest tier. */
export function egressActionFor(actions: EgressActions, tier: string | undefined): EgressAction {
  return (TIERS as readonly string[]).includes(tier ?? '') ? actions[tier as (typeof TIERS)[number]] : actions.high;
}
