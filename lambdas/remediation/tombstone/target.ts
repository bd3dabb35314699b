/**
 * The target: the validated request and everything isolation needs, read with
 * one DescribeInstances. The validate step returns it; every later step takes it.
 */
import * as z from 'zod';
import { IsoTime } from '../../shared/ids.ts';
import { ExecutionArn } from '../addresses.ts';
import { TOMBSTONE_MACHINE } from '../names.ts';
import { TombstoneRequest } from './request.ts';

export const Groups = z.record(z.string(), z.array(z.string()));

export const EniState = z.strictObject({
  id: z.string().min(1),
  groups: z.array(z.string()),
  subnetId: z.string().nullable(),
  publicIp: z.string().nullable(),
});
export type EniState = z.output<typeof EniState>;

export const Target = z.strictObject({
  /** The tombstone execution's name. */
  incidentId: z.string().min(1).max(80),
  executionId: ExecutionArn,
  request: TombstoneRequest,
  instanceId: z.string().min(1),
  sessionId: z.string().min(1).nullable(),
  state: z.string(),
  vpcId: z.string().nullable(),
  subnetId: z.string().nullable(),
  availabilityZone: z.string().nullable(),
  enis: z.array(EniState),
  /** Groups before the first isolation of this instance (from its tag if it was isolated before). */
  originalGroups: Groups,
  volumes: z.array(z.strictObject({ id: z.string().min(1), device: z.string(), deleteOnTermination: z.boolean() })),
  rootDevice: z.string().nullable(),
  instanceProfileArn: z.string().nullable(),
  hibernationConfigured: z.boolean(),
  alreadyQuarantined: z.boolean(),
  /** Name of the aidops-snapshot child execution (≤ 80 characters, derived from the incident id). */
  evidenceExecutionName: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/),
  validatedAt: IsoTime,
  /** Instance metadata for the evidence packet (as described before any change). */
  instance: z.record(z.string(), z.unknown()),
});
export type Target = z.output<typeof Target>;

/** What every step after validation takes: the target, and the machine's name for its audit events. */
export const StepFields = {
  target: Target,
  stateMachine: z.string().min(1).max(80).default(TOMBSTONE_MACHINE),
};
