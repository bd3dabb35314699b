/**
 * The remediation workflows as audit events label them (`stateMachine`): a
 * workflow's name, the same in every environment. Physical names (which carry
 * the environment) are in lambdas/shared/names.ts.
 */

export const TOMBSTONE_MACHINE = 'aidops-tombstone' as const;
export const RESTORE_MACHINE = 'aidops-restore' as const;
