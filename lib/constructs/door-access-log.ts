/**
 * The access-log line both doors (guests', people's) write for every request:
 * who called (the signer's ARN), what, the outcome and the trace, as one JSON
 * object, so a SOC query reads both doors the same way.
 */
import * as apigw from 'aws-cdk-lib/aws-apigateway';

/** `extra`: fields one door adds (e.g. the guests' door's VPC endpoint id). */
export function doorAccessLogFormat(extra: Readonly<Record<string, string>> = {}): apigw.AccessLogFormat {
  return apigw.AccessLogFormat.custom(
    JSON.stringify({
      requestId: apigw.AccessLogField.contextRequestId(),
      extendedRequestId: apigw.AccessLogField.contextExtendedRequestId(),
      time: apigw.AccessLogField.contextRequestTime(),
      method: apigw.AccessLogField.contextHttpMethod(),
      resource: apigw.AccessLogField.contextResourcePath(),
      status: apigw.AccessLogField.contextStatus(),
      responseLength: apigw.AccessLogField.contextResponseLength(),
      callerArn: apigw.AccessLogField.contextIdentityUserArn(),
      caller: apigw.AccessLogField.contextIdentityCaller(),
      ...extra,
      sourceIp: apigw.AccessLogField.contextIdentitySourceIp(),
      userAgent: apigw.AccessLogField.contextIdentityUserAgent(),
      integrationLatency: apigw.AccessLogField.contextIntegrationLatency(),
      error: apigw.AccessLogField.contextErrorMessage(),
      errorType: apigw.AccessLogField.contextErrorResponseType(),
      xrayTraceId: apigw.AccessLogField.contextXrayTraceId(),
    }),
  );
}
