/**
 * LOCAL STAND-IN for EventBridge schedules whose targets run in-process (moto
 * stores the rules but invokes nothing). `fire(prefix)` fires a rule's targets
 * now; `start()` fires each `rate(…)` rule on its own, SPEEDUP times faster than
 * in AWS (rate(1 hour) every 10 s), and none more often than an hourly one
 * (rate(15 minutes) also every 10 s): a sweep every 2.5 s would only load moto.
 *
 * Left to `fire()` only: cron(…) expressions (no local cron clock), and the
 * refresh jobs that fetch from the internet (AMD KDS, the Sigstore TUF
 * repository): the local runtime stays offline unless a test asks.
 * Firings of one rule never overlap (a timer firing waits for a `fire()` in
 * progress, and the reverse), so a test's firing is deterministic.
 */
import type { LocalSchedule } from './asl/provisioners/types.ts';
import type { Json } from './asl/sfn-local.ts';
import { inBackground } from './emulator/gateway.ts';
import { settle } from './timers.ts';

/** Local schedules run this many times faster than their expression says. */
export const SCHEDULE_SPEEDUP = 360;
const HOUR_MS = 3_600_000;

/** Handlers (by `aidops:entry`) that reach the internet: fired on demand only. */
const INTERNET_JOBS: Readonly<Record<string, string>> = {
  'lambdas/attestation/handlers/refresh-amd.ts': 'fetches AMD KDS',
  'lambdas/plugins/handlers/refresh-trusted-root.ts': 'fetches the Sigstore TUF repository',
};

const UNIT_MS: Readonly<Record<string, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The period of a `rate(n unit)` expression in ms, or undefined for anything else. */
export function ratePeriodMs(expression: string): number | undefined {
  const m = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : undefined;
}

export interface ScheduleDeps {
  /** Fires one target (a Lambda function or a state machine) with the event. */
  readonly fireTarget: (targetArn: string, event: Json) => Promise<Json>;
  /** The handler entry of a target function, if it is one. */
  readonly entryOf: (targetArn: string) => string | undefined;
  readonly speedup?: number;
}

/** How each schedule runs locally (printed by the demo, asserted by tests). */
export interface SchedulePlan {
  readonly rule: string;
  readonly expression: string;
  /** Local period in ms, or undefined when fired on demand only. */
  readonly everyMs?: number;
  readonly onDemandOnly?: string;
}

export class Schedules {
  private readonly busy = new Map<string, Promise<unknown>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopped = true;
  /** The last error of a background firing, by rule (a failed firing is retried at its next tick). */
  readonly lastErrors = new Map<string, Error>();

  private readonly schedules: readonly LocalSchedule[];
  private readonly deps: ScheduleDeps;

  constructor(schedules: readonly LocalSchedule[], deps: ScheduleDeps) {
    this.schedules = schedules;
    this.deps = deps;
  }

  plan(): SchedulePlan[] {
    const speedup = this.deps.speedup ?? SCHEDULE_SPEEDUP;
    return this.schedules.map((s) => {
      const base = { rule: s.ruleLogicalId, expression: s.expression };
      const internet = INTERNET_JOBS[this.deps.entryOf(s.targetArn) ?? ''];
      if (internet) return { ...base, onDemandOnly: `${internet} over the internet` };
      const period = ratePeriodMs(s.expression);
      if (period === undefined) return { ...base, onDemandOnly: 'not a rate() expression' };
      return { ...base, everyMs: Math.max(HOUR_MS, period) / speedup };
    });
  }

  /** Fires the targets of every schedule whose rule's logical id starts with `prefix`, now. */
  async fire(prefix: string): Promise<Json[]> {
    const out: Json[] = [];
    for (const s of this.schedules.filter((x) => x.ruleLogicalId.startsWith(prefix))) out.push(await this.fireOne(s));
    return out;
  }

  /** Starts a timer per schedule that runs on its own. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const plans = this.plan();
    for (const [i, s] of this.schedules.entries()) {
      const every = plans[i]!.everyMs;
      if (every !== undefined) this.arm(s, every);
    }
  }

  private arm(s: LocalSchedule, every: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.stopped) return;
      const p = inBackground(() => this.fireOne(s)).then(
        () => this.lastErrors.delete(s.ruleLogicalId),
        (e: Error) => this.lastErrors.set(s.ruleLogicalId, e),
      );
      this.inFlight.add(p);
      void p.finally(() => {
        this.inFlight.delete(p);
        if (!this.stopped) this.arm(s, every);
      });
    }, every);
    t.unref();
    this.timers.add(t);
  }

  private async fireOne(s: LocalSchedule): Promise<Json> {
    const prior = this.busy.get(s.ruleLogicalId) ?? Promise.resolve();
    const run = prior
      .catch(() => undefined)
      .then(() => {
        const event = s.input
          ? (JSON.parse(s.input) as Json)
          : { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {}, time: new Date().toISOString() };
        return this.deps.fireTarget(s.targetArn, event);
      });
    this.busy.set(s.ruleLogicalId, run);
    return await run;
  }

  /** Stops the timers and waits (bounded) for firings in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await settle([...this.inFlight], 10_000);
  }
}
