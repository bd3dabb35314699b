/**
 * The people's door behind API Gateway (a REST API, AWS_IAM on every method, the
 * proxy integration): one handler for every route. Typed refusals are answers
 * (4xx, 503); anything else is thrown (API Gateway answers 502, the error is
 * counted). Each answer's status is a metric (`PeopleDoor.<status>`).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { makeHandler, metrics } from '../../../shared/middleware.ts';
import { DoorEvent } from '../../guest/http.ts';
import { servePeopleDoor } from '../door.ts';
import { peopleDoorDeps } from './deps.ts';

export const handler = makeHandler({
  inputName: 'people door request',
  input: DoorEvent,
  core: async (event) => {
    const reply = await servePeopleDoor(event, peopleDoorDeps());
    metrics.addMetric(`PeopleDoor.${reply.statusCode}`, MetricUnit.Count, 1);
    return reply;
  },
});
