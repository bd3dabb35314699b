/** The administrator's route: set or unset a capability's flag for a cohort, with a reason, audited. */
import * as z from 'zod';
import type { AuditSink } from '../../sessions/audit.ts';
import { decisionEvent } from '../../sessions/audit.ts';
import type { SsmFlags } from '../../sessions/flags.ts';
import { CAPABILITIES } from '../../sessions/tiers.ts';
import { parseOrThrow } from '../../shared/validation.ts';

export const FlagBody = z.strictObject({
  cohort: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a cohort name'),
  /** true / false sets the flag; null removes it (the default applies again). */
  enabled: z.boolean().nullable(),
  reason: z.string().trim().min(1).max(1024),
});

export async function putFlag(
  deps: { readonly flags: SsmFlags; readonly audit: AuditSink },
  rawCapability: string,
  body: z.output<typeof FlagBody>,
  by: string,
) {
  const capability = parseOrThrow(z.enum(CAPABILITIES), rawCapability, 'capability');
  const reason = `${body.reason} (by ${by})`;
  const version =
    body.enabled === null ? null : (await deps.flags.set(body.cohort, capability, body.enabled, reason)).version;
  if (body.enabled === null) await deps.flags.unset(body.cohort, capability);
  await deps.audit([
    decisionEvent(
      { sessionId: null, user: by },
      { capability, ...body },
      'flag:set',
      `flag/${body.cohort}/${capability}`,
      'allow',
      [
        `${capability} for ${body.cohort} ${body.enabled === null ? 'unset' : body.enabled ? 'on' : 'off'} by ${by}: ${body.reason}`,
      ],
    ),
  ]);
  return { cohort: body.cohort, capability, enabled: body.enabled, version };
}
