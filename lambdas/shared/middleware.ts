/**
 * The one wrapper every handler uses: middy + Powertools logger, tracer and
 * metrics, and zod input validation that throws the project's ValidationError
 * (a literal `name` that workflows can Catch), so a handler file is a few lines
 * over a pure core.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type * as z from 'zod';
import { AidopsError } from './errors.ts';
import { parseOrThrow } from './validation.ts';

const SERVICE = process.env.POWERTOOLS_SERVICE_NAME ?? 'aidops';

export const logger = new Logger({ serviceName: SERVICE });
export const tracer = new Tracer({ serviceName: SERVICE });
export const metrics = new Metrics({
  serviceName: SERVICE,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'AiDesktopOps',
});

/** The service dimension every operations metric carries, whichever function emits it (dashboards and alarms name it). */
export const OPS_SERVICE = 'aidops';
export type MetricDimensions = Readonly<Record<string, string>>;
/** Where a core emits an operations metric; handlers pass `metric`, tests a recorder. */
export type MetricSink = (
  name: string,
  unit: (typeof MetricUnit)[keyof typeof MetricUnit],
  value: number,
  dimensions?: MetricDimensions,
) => void;

/**
 * One operations metric, flushed at once as its own EMF record with its own dimensions (a single metric: the
 * global `metrics` object would keep per-event dimensions for every later metric). At most 29 dimensions.
 */
export const metric: MetricSink = (name, unit, value, dimensions = {}) => {
  const m = new Metrics({
    serviceName: OPS_SERVICE,
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'AiDesktopOps',
    singleMetric: true,
  });
  for (const [k, v] of Object.entries(dimensions)) m.addDimension(k, v);
  m.addMetric(name, unit, value);
};

export interface HandlerSpec<S extends z.ZodType, R> {
  /** What the input is, for error messages: "snapshot request". */
  readonly inputName: string;
  readonly input: S;
  readonly core: (input: z.output<S>, context: Context) => Promise<R>;
}

export type Handler<R> = (event: unknown, context: Context) => Promise<R>;

/** Builds a middy handler: validate → core, with structured logs, a trace and metrics. */
export function makeHandler<S extends z.ZodType, R>(spec: HandlerSpec<S, R>): Handler<R> {
  const base = async (event: unknown, context: Context): Promise<R> => {
    // Validation sits inside the try, so a rejected input is logged and counted like any other typed error.
    try {
      const input = parseOrThrow(spec.input, event, spec.inputName);
      const out = await spec.core(input, context);
      metrics.addMetric('Succeeded', MetricUnit.Count, 1);
      return out;
    } catch (err) {
      if (err instanceof AidopsError) {
        logger.warn(err.message, { errorName: err.name, details: err.details });
        metrics.addMetric(`Error.${err.name}`, MetricUnit.Count, 1);
      } else {
        logger.error('unexpected error', err as Error);
        metrics.addMetric('Error.Unexpected', MetricUnit.Count, 1);
      }
      throw err;
    }
  };
  const h = middy<unknown, R, Error, Context>(base)
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { clearState: true }))
    .use(logMetrics(metrics));
  return h as unknown as Handler<R>;
}
