/** Names the CLI, the constructs and the workflows address the remediation capability by. */

export const TOMBSTONE_MACHINE = 'aidops-tombstone' as const;
export const RESTORE_MACHINE = 'aidops-restore' as const;
export const SNAPSHOT_MACHINE = 'aidops-snapshot' as const;
