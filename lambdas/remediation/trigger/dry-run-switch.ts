import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { awsCall } from '../../shared/aws-errors.ts';

/** Caches the dry-run switch briefly: the trigger path should not pay an SSM read per event. */
export class DryRunSwitch {
  private cached: { value: boolean; at: number } | undefined;
  private readonly ssm: SSMClient;
  private readonly name: string;
  private readonly ttlMs: number;
  constructor(ssm: SSMClient, name: string, ttlMs = 15_000) {
    this.ssm = ssm;
    this.name = name;
    this.ttlMs = ttlMs;
  }
  async get(now = Date.now()): Promise<boolean> {
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached.value;
    const out = await awsCall('ssm:GetParameter', () => this.ssm.send(new GetParameterCommand({ Name: this.name })));
    // Anything but an explicit "false" keeps the automatic path safe (dry run).
    const value = (out.Parameter?.Value ?? 'true').trim().toLowerCase() !== 'false';
    this.cached = { value, at: now };
    return value;
  }
}
