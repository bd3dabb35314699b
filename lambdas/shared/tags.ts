/** Tag keys every capability reads and writes; one place so sweepers and workflows agree. */
export const Tags = {
  SessionId: 'aidops:session-id',
  Tier: 'aidops:tier',
  Profile: 'aidops:profile',
  PolicyVersion: 'aidops:policy-version',
  ExpiresAt: 'aidops:expires-at',
  Reason: 'aidops:reason',
  KnownGood: 'aidops:known-good',
  RequestId: 'aidops:request-id',
  IncidentId: 'aidops:incident-id',
  ManagedBy: 'aidops:managed-by',
} as const;

export function tagValue(
  tags: readonly { Key?: string; Value?: string }[] | undefined,
  key: string,
): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}
