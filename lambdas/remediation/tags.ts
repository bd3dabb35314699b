/** Tag keys the remediation workflows write on instances and snapshots (and read back on restore). */
export const RemediationTags = {
  /** JSON {eniId: [groupIds]} of the groups before the first isolation; never overwritten. */
  PreQuarantineGroups: 'aidops:pre-quarantine-groups',
  QuarantinedAt: 'aidops:quarantined-at',
  /** The tombstone execution name (incident id) that isolated the instance last. */
  IncidentId: 'aidops:incident-id',
  /** s3://bucket/key of the evidence packet. */
  EvidencePacket: 'aidops:evidence-packet',
  /** Evidence snapshots: never swept (the sweeper must skip snapshots carrying it). */
  LegalHold: 'aidops:legal-hold',
  /** Earlier root volume ids of the instance, so restore recognizes snapshots of a replaced root. */
  RootVolumeLineage: 'aidops:root-volume-lineage',
} as const;
