/**
 * Deployment configuration, from CDK context (read only in bin/), checked with
 * zod at synth so a bad value stops the deploy with the field that is wrong.
 */
import * as z from 'zod';
import { parseDrillConfig } from '../lambdas/remediation/drill/config.ts';
import { parseEgressActions } from '../lambdas/remediation/trigger/egress-actions.ts';
import { parseSessionsConfig } from '../lambdas/sessions/tiers.ts';
import { names } from '../lambdas/shared/names.ts';
import { parseOrThrow } from '../lambdas/shared/validation.ts';

/** A context value given as JSON text (`-c key='{"a":1}'`) or already parsed (cdk.json). */
const jsonText = (v: unknown): unknown => {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
};
/** Service-level objectives the alarms hold the deployment to (`aidops:slo`, JSON; each field has a default). */
export const SloConfig = z.strictObject({
  /** Time to isolation p99 (trigger event's time → quarantine group applied), seconds. */
  timeToIsolationP99Seconds: z.number().positive().max(3600).default(60),
  /** Share of attestations rejected, percent, that pages when held for `attestationRejectionMinutes`. */
  attestationRejectionRatePercent: z.number().min(0).max(100).default(20),
  /** How long the rejection rate must stay over its threshold, minutes (a multiple of 5). */
  attestationRejectionMinutes: z.number().int().min(5).max(1440).multipleOf(5).default(15),
  /** Audit pipeline lag (age of the oldest object no digest covers), seconds. */
  auditLagSeconds: z
    .number()
    .int()
    .positive()
    .max(7 * 86400)
    .default(7200),
});
export type SloConfig = z.output<typeof SloConfig>;

export const AppConfig = z.strictObject({
  /** Stack name prefix and tag. */
  environment: z
    .string()
    .regex(/^[a-z][a-z0-9-]{1,20}$/)
    .default('dev'),
  /** Default COMPLIANCE retention of audit objects. Cannot be shortened once written. */
  auditRetentionDays: z.coerce.number().int().min(1).max(36500).default(365),
  /** Email or none; failed/timed-out executions page this topic. */
  alarmEmail: z.email().optional(),
  /** Plugin trust policy (JSON text, checked by lambdas/plugins/policy.ts). @default policies/plugin-trust-policy.json */
  pluginTrustPolicy: z.string().optional(),
  account: z
    .string()
    .regex(/^\d{12}$/)
    .optional(),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/)
    .optional(),
  /**
   * Security Hub products whose findings may tombstone a session: product ARNs or `aws/<product>` ids
   * (for the stack's partition and region). @default Security Hub, GuardDuty and Inspector
   */
  trustedFindingProducts: z
    .union([z.array(z.string()), z.string()])
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      let list: unknown = v;
      if (typeof v === 'string') {
        const text = v.trim();
        try {
          list = text.startsWith('[') ? JSON.parse(text) : text.split(',').map((x) => x.trim());
        } catch {
          list = undefined;
        }
      }
      const parsed = z
        .array(
          z
            .string()
            .regex(
              /^(arn:aws[a-z-]*:securityhub:[a-z0-9-]+::product\/[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+|aws\/[a-z0-9-]+)$/,
              'a Security Hub product ARN or an aws/<product> id',
            ),
        )
        .min(1)
        .safeParse(list);
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message: parsed.error.issues.map((i) => i.message).join('; ') });
        return z.NEVER;
      }
      return parsed.data;
    }),
  /**
   * What a SuspiciousEgress (rejected flow-log records from a session interface) does, by the session's tier:
   * `tombstone` or `alert`; JSON, merged over the defaults. @default { high: tombstone, medium: alert, low: alert }
   */
  suspiciousEgressActions: z
    .unknown()
    .optional()
    .transform((v, ctx) => {
      try {
        return parseEgressActions(v, 'aidops:suspiciousEgressActions');
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }),
  /** Per approval kind, whether its requester may not approve it. @default restore and scope on, plugin off */
  twoPersonRule: z.preprocess(
    jsonText,
    z.strictObject({ restore: z.boolean(), plugin: z.boolean(), scope: z.boolean() }).partial().default({}),
  ),
  /** The people's door: REGIONAL (default) or PRIVATE through the named execute-api VPC endpoints. */
  peopleDoor: z.preprocess(
    jsonText,
    z
      .strictObject({
        endpointType: z.enum(['REGIONAL', 'PRIVATE']).default('REGIONAL'),
        vpcEndpointIds: z.array(z.string().regex(/^vpce-[0-9a-f]{8,17}$/)).default([]),
        /** Admit only the operator roles (the resource policy denies everyone else of the account). */
        operatorRolesOnly: z.boolean().default(false),
      })
      .refine((d) => d.endpointType !== 'PRIVATE' || d.vpcEndpointIds.length > 0, {
        message: 'a PRIVATE people door needs vpcEndpointIds',
      })
      .default({ endpointType: 'REGIONAL', vpcEndpointIds: [], operatorRolesOnly: false }),
  ),
  /** Principals (ARNs) who may assume the operator roles, with MFA. @default this account's */
  operatorPrincipals: z.preprocess(
    (v) => (typeof v === 'string' && !v.trim().startsWith('[') ? v.split(',').map((x) => x.trim()) : jsonText(v)),
    z.array(z.string().regex(/^arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z0-9+=,.@_/:-]+$/)).optional(),
  ),
  /** SLO thresholds (JSON text or an object), merged over the defaults. */
  slo: z
    .unknown()
    .optional()
    .transform((v, ctx) => {
      let raw: unknown = v ?? {};
      if (typeof v === 'string') {
        try {
          raw = JSON.parse(v);
        } catch {
          ctx.addIssue({ code: 'custom', message: 'aidops:slo: not JSON' });
          return z.NEVER;
        }
      }
      const parsed = SloConfig.safeParse(raw);
      if (!parsed.success) {
        const named = parsed.error.issues.map((i) => `aidops:slo.${i.path.join('.')}: ${i.message}`).join('; ');
        ctx.addIssue({ code: 'custom', message: named });
        return z.NEVER;
      }
      return parsed.data;
    }),
  /** The scheduled game day (JSON `{"schedule":"rate(7 days)"}`); off when absent. */
  drill: z
    .unknown()
    .optional()
    .transform((v, ctx) => {
      try {
        return parseDrillConfig(v, 'aidops:drill');
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }),
  /** Tiers, profiles, use cases and session limits (lambdas/sessions/tiers.ts): an override deep-merged over the defaults. */
  sessions: z
    .unknown()
    .optional()
    .transform((v, ctx) => {
      try {
        return parseSessionsConfig(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }),
});
export type AppConfig = z.output<typeof AppConfig>;

/** Context keys this app reads, e.g. `-c aidops:auditRetentionDays=2555`. */
export const CONTEXT_KEYS = {
  environment: 'aidops:environment',
  auditRetentionDays: 'aidops:auditRetentionDays',
  alarmEmail: 'aidops:alarmEmail',
  /** Sessions override (JSON): tiers, profiles, use cases, TTLs, sweeper, flags (lambdas/sessions/tiers.ts). */
  sessions: 'aidops:sessions',
  /** Path to a plugin trust policy JSON file. */
  pluginTrustPolicyFile: 'aidops:pluginTrustPolicyFile',
  /** Security Hub products whose findings may tombstone (JSON array or comma-separated; ARNs or aws/<product>). */
  trustedFindingProducts: 'aidops:trustedFindingProducts',
  /** What SuspiciousEgress does by tier (JSON, e.g. `{"medium":"tombstone"}`; the rest keep their defaults). */
  suspiciousEgressActions: 'aidops:suspiciousEgressActions',
  /** Two-person rule per approval kind (JSON), e.g. '{"plugin":true}'. */
  twoPersonRule: 'aidops:twoPersonRule',
  /** People's door (JSON): endpointType REGIONAL|PRIVATE, vpcEndpointIds, operatorRolesOnly. */
  peopleDoor: 'aidops:peopleDoor',
  /** Who may assume the operator roles (JSON array or comma-separated ARNs; MFA always required). */
  operatorPrincipals: 'aidops:operatorPrincipals',
  /** SLO alarm thresholds (JSON, e.g. `{"timeToIsolationP99Seconds":30}`; the rest keep their defaults). */
  slo: 'aidops:slo',
  /** The scheduled game day (JSON, e.g. `{"schedule":"rate(7 days)"}`); off by default. */
  drill: 'aidops:drill',
} as const;

export function parseConfig(raw: Record<string, unknown>): AppConfig {
  const c = parseOrThrow(AppConfig, raw, 'cdk context');
  // The flags live under the environment's SSM path unless the sessions override names another prefix.
  if (c.sessions.flagPrefix !== names().flagPrefix) return c;
  return { ...c, sessions: { ...c.sessions, flagPrefix: names(c.environment).flagPrefix } };
}
