/**
 * Which policy bundle is active, as the session state reports it: the SSM
 * parameter the policy engine reads (lambdas/policy/source.ts, `ssm` source),
 * its version, and the S3 object it points at (or that the functions decide
 * with the bundle they shipped with). Cached for at most 30 s, like the
 * engine's own re-probe, so a repoint reaches the guests within a minute.
 */
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { awsCall } from '../../shared/aws-errors.ts';

const Pointer = z.union([
  z.strictObject({ bucket: z.string().min(1), key: z.string().min(1), versionId: z.string().min(1).optional() }),
  z.strictObject({ bundled: z.literal(true) }),
]);

export interface ActivePolicy {
  readonly parameter: string;
  /** `PARAMETER@VERSION`, as sessions record it at admission. */
  readonly version: string;
  /** Where the active bundle is: an S3 object, or the bundle shipped with the functions. */
  readonly bundle: z.output<typeof Pointer> | null;
}

const CACHE_MS = 30_000;

export class PolicyPointer {
  readonly #ssm: SSMClient;
  readonly #name: string;
  #cached?: { at: number; value: ActivePolicy };
  constructor(ssm: SSMClient, parameterName: string) {
    this.#ssm = ssm;
    this.#name = parameterName;
  }

  async active(nowMs = Date.now()): Promise<ActivePolicy> {
    if (this.#cached && nowMs - this.#cached.at < CACHE_MS) return this.#cached.value;
    const r = await awsCall(`GetParameter ${this.#name}`, () =>
      this.#ssm.send(new GetParameterCommand({ Name: this.#name })),
    );
    let bundle: ActivePolicy['bundle'] = null;
    try {
      const p = Pointer.safeParse(JSON.parse(r.Parameter?.Value ?? ''));
      if (p.success) bundle = p.data;
    } catch {
      // A value that is not a pointer: reported as unknown (null), as the engine would refuse it.
    }
    const value = { parameter: this.#name, version: `${this.#name}@${r.Parameter?.Version ?? 0}`, bundle };
    this.#cached = { at: nowMs, value };
    return value;
  }
}
