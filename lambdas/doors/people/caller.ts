/**
 * Who is calling the people's door: the IAM principal API Gateway verified
 * (AWS_IAM), from `requestContext.identity.userArn`. For an assumed role that
 * is the role session's ARN (`arn:…:sts::ACCOUNT:assumed-role/ROLE/SESSION`),
 * which names the person who assumed it. Nothing the caller types names them.
 */
import { ForbiddenError } from '../../shared/errors.ts';
import type { DoorEvent } from '../guest/http.ts';

const PRINCIPAL_ARN =
  /^arn:[a-z-]+:(iam|sts)::([0-9]{12}):(user|role|assumed-role|federated-user)\/[A-Za-z0-9+=,.@_/-]{1,400}$/;

/** The caller's principal ARN; ForbiddenError when there is none or it is another account's. */
export function callerArn(event: DoorEvent): string {
  const arn = event.requestContext.identity.userArn ?? '';
  const m = PRINCIPAL_ARN.exec(arn);
  if (!m) throw new ForbiddenError('the people’s door needs a signed request from an IAM principal');
  if (m[2] !== event.requestContext.accountId)
    throw new ForbiddenError(`principal ${arn} is not of this account (${event.requestContext.accountId})`);
  return arn;
}
