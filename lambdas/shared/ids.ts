import * as z from 'zod';

/** Session ids double as EC2 ClientTokens and execution names: ≤ 64 safe characters. */
export const SessionId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$/, 'session id: 3-64 letters, digits, "-" or "_"');
export const InstanceId = z.string().regex(/^i-[0-9a-f]{8,17}$/, 'instance id: i- followed by 8-17 hex digits');
export const SnapshotId = z.string().regex(/^snap-[0-9a-f]{8,17}$/, 'snapshot id: snap- followed by 8-17 hex digits');
export const IsoTime = z.iso.datetime({ offset: true });
