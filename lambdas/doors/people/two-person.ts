/**
 * The two-person rule: the principal who asked for an action may not approve it.
 * Per kind of approval, configurable (context `aidops:twoPersonRule`); on by
 * default for restores and scope grants. A refusal is a typed error the door
 * answers 403 and audits; the approval keeps waiting for someone else.
 */
import { samePrincipal, TwoPersonRuleError } from '../../sessions/scopes.ts';

export const APPROVAL_KINDS = ['restore', 'plugin', 'scope'] as const;
export type ApprovalKind = (typeof APPROVAL_KINDS)[number];

/** Which kinds the rule binds. */
export type TwoPersonRule = Readonly<Record<ApprovalKind, boolean>>;

export const DEFAULT_TWO_PERSON_RULE: TwoPersonRule = { restore: true, scope: true, plugin: false };

/** `restore,scope` (the kinds it binds) as the function's environment carries it. */
export function parseTwoPersonRule(value: string | undefined): TwoPersonRule {
  if (value === undefined) return DEFAULT_TWO_PERSON_RULE;
  const on = new Set(
    value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  return { restore: on.has('restore'), scope: on.has('scope'), plugin: on.has('plugin') };
}

export const formatTwoPersonRule = (r: TwoPersonRule): string => APPROVAL_KINDS.filter((k) => r[k]).join(',');

/** Throws TwoPersonRuleError when the rule binds `kind` and the approver is the requester. */
export function checkTwoPerson(
  rule: TwoPersonRule,
  kind: ApprovalKind,
  requester: string | null,
  approver: string,
  subject: string,
): void {
  if (!rule[kind] || !requester) return;
  if (samePrincipal(requester, approver))
    throw new TwoPersonRuleError(`${approver} requested ${subject} and may not approve it (two-person rule)`, {
      kind,
      requester,
    });
}
