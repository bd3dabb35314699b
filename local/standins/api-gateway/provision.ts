/**
 * Local ids for the REST API resources (nothing is made in moto: the stand-in
 * serves the API from the template), so that Ref and Fn::GetAtt on them
 * resolve: RestApi (id, RootResourceId), Resource, Deployment, Stage (its
 * name), Method. Ids look like API Gateway's (lower-case letters and digits).
 */
import { randomBytes } from 'node:crypto';
import type { ProvisionerTable } from '../../asl/provisioners/types.ts';

function apiGatewayId(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
}

export const apiGatewayProvisioners: ProvisionerTable = {
  async 'AWS::ApiGateway::RestApi'({ type }) {
    const id = apiGatewayId(10);
    return { type, ref: id, attrs: { RestApiId: id, RootResourceId: apiGatewayId(10) } };
  },
  async 'AWS::ApiGateway::Resource'({ type }) {
    const id = apiGatewayId(6);
    return { type, ref: id, attrs: { ResourceId: id } };
  },
  async 'AWS::ApiGateway::Method'({ id, type }) {
    return { type, ref: id, attrs: {} };
  },
  async 'AWS::ApiGateway::Deployment'({ type }) {
    const id = apiGatewayId(6);
    return { type, ref: id, attrs: { DeploymentId: id } };
  },
  async 'AWS::ApiGateway::Stage'({ type, p }) {
    return { type, ref: String(p.StageName), attrs: {} };
  },
};
