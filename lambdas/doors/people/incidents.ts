/**
 * The responder's routes: start a tombstone or a restore (the requester is the
 * caller's principal ARN, recorded in the execution's input, its packet and its
 * audit events), and read an execution's status and report.
 */
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import * as z from 'zod';
import type { AuditSink } from '../../sessions/audit.ts';
import { decisionEvent } from '../../sessions/audit.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { InstanceId, SessionId } from '../../shared/ids.ts';
import { parseOrThrow } from '../../shared/validation.ts';
import { executionOf } from './stores.ts';

export interface IncidentDeps {
  readonly sfn: SFNClient;
  readonly tombstoneMachineArn: string;
  readonly restoreMachineArn: string;
  readonly audit: AuditSink;
  readonly now: () => Date;
}

const subject = { sessionId: SessionId.optional(), instanceId: InstanceId.optional() };
const named = (r: { sessionId?: string; instanceId?: string }) =>
  r.sessionId !== undefined || r.instanceId !== undefined;
const NAME_ONE = { message: 'name a sessionId or an instanceId', path: ['sessionId'] };

export const TombstoneBody = z
  .strictObject({
    ...subject,
    reason: z.string().trim().min(1).max(512),
    source: z.string().trim().min(1).max(256).optional(),
    dryRun: z.boolean().optional(),
    isolateSubnet: z.boolean().optional(),
    freeze: z.enum(['auto', 'stop', 'none']).optional(),
  })
  .refine(named, NAME_ONE);

export const RestoreBody = z
  .strictObject({
    ...subject,
    snapshotId: z
      .string()
      .regex(/^snap-[0-9a-f]{8,17}$/)
      .optional(),
    before: z.iso.datetime({ offset: true }).optional(),
    reason: z.string().trim().min(1).max(512).optional(),
  })
  .refine(named, NAME_ONE);

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');

async function start(
  deps: IncidentDeps,
  kind: 'tombstone' | 'restore',
  machineArn: string,
  name: string,
  input: Record<string, unknown> & { sessionId?: string },
  by: string,
) {
  const out = await awsCall('states:StartExecution', () =>
    deps.sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, name, input: JSON.stringify(input) })),
  );
  await deps.audit([
    decisionEvent(
      { sessionId: input.sessionId ?? null, user: by },
      input,
      `incident:${kind}`,
      `execution/${name}`,
      'allow',
      [`${kind} started by ${by}`],
    ),
  ]);
  return { executionArn: out.executionArn ?? executionOf(machineArn, name), name, input };
}

export async function startTombstone(deps: IncidentDeps, raw: z.output<typeof TombstoneBody>, by: string) {
  const b = parseOrThrow(TombstoneBody, raw, 'tombstone request');
  const subjectId = b.sessionId ?? b.instanceId ?? '';
  const name = `${b.dryRun ? 'dry-' : ''}manual-${subjectId}-${stamp(deps.now())}`.slice(0, 80);
  const input = { ...b, source: b.source ?? `manual:${by}`.slice(0, 256), requestedBy: by };
  return await start(deps, 'tombstone', deps.tombstoneMachineArn, name, input, by);
}

export async function startRestore(deps: IncidentDeps, raw: z.output<typeof RestoreBody>, by: string) {
  const b = parseOrThrow(RestoreBody, raw, 'restore request');
  const name = `restore-${b.sessionId ?? b.instanceId}-${stamp(deps.now())}`.slice(0, 80);
  const input = { ...b, ...(b.before ? { before: new Date(b.before).toISOString() } : {}), requestedBy: by };
  return await start(deps, 'restore', deps.restoreMachineArn, name, input, by);
}

const ExecutionRef = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'an execution name: 1-80 letters, digits, "-" or "_"');

/** A restore's or tombstone's state, current step and output (packet, OpsItem, snapshots, outcome). */
export async function incidentStatus(deps: IncidentDeps, rawName: string) {
  const name = parseOrThrow(ExecutionRef, rawName, 'execution');
  for (const machine of [deps.restoreMachineArn, deps.tombstoneMachineArn]) {
    const arn = executionOf(machine, name);
    const d = await awsCall('states:DescribeExecution', () =>
      deps.sfn.send(new DescribeExecutionCommand({ executionArn: arn })),
    ).catch((e: unknown) => {
      if (e instanceof ExecutionDoesNotExist || (e as Error).name === 'ExecutionDoesNotExist') return undefined;
      throw e;
    });
    if (!d) continue;
    const h = await awsCall('states:GetExecutionHistory', () =>
      deps.sfn.send(new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 1000, reverseOrder: true })),
    );
    const entered = (h.events ?? []).find((e) => String(e.type).endsWith('StateEntered'));
    return {
      executionArn: arn,
      status: d.status,
      currentStep: entered?.stateEnteredEventDetails?.name ?? '-',
      error: d.error ?? null,
      cause: d.cause ?? null,
      output: d.output ? (JSON.parse(d.output) as unknown) : null,
    };
  }
  throw new NotFoundError(`no restore or tombstone execution named ${name}`);
}
