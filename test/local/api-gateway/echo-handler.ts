/**
 * The API Gateway stand-in's test handler: answers with the proxy event it was
 * given (so tests read what API Gateway built), throws on /boom (a 502),
 * answers malformed on /malformed (a 502) and binary on /binary.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult | string> => {
  if (event.path === '/boom') throw new Error('the handler failed');
  if (event.path === '/malformed') return 'not a proxy response';
  if (event.path === '/binary')
    return {
      statusCode: 200,
      headers: { 'Content-Type': 'application/octet-stream' },
      body: Buffer.from([0, 1, 2, 254, 255]).toString('base64'),
      isBase64Encoded: true,
    };
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json', 'X-Echo': 'single', 'X-Both': 'from-headers' },
    multiValueHeaders: { 'X-Both': ['m1', 'm2'] },
    body: JSON.stringify({ event, mark: process.env.ECHO_MARK }),
  };
};
