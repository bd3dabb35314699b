/**
 * The guests' door behind API Gateway (a private REST API, AWS_IAM on every
 * method, the proxy integration): one handler for every route. Typed refusals
 * are answers (4xx, 503); anything else is thrown, so API Gateway answers 502
 * and the error is counted. Each answer's status is a metric (`Door.<status>`).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { makeHandler, metrics } from '../../../shared/middleware.ts';
import { serveGuestDoor } from '../door.ts';
import { DoorEvent } from '../http.ts';
import { doorDeps } from './deps.ts';

export const handler = makeHandler({
  inputName: 'guest door request',
  input: DoorEvent,
  core: async (event) => {
    const reply = await serveGuestDoor(event, doorDeps());
    metrics.addMetric(`Door.${reply.statusCode}`, MetricUnit.Count, 1);
    return reply;
  },
});
