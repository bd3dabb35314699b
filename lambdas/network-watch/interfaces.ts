/**
 * Which session an interface belongs to, as EC2 says: the interface's own
 * `aidops:session-id` tag, else the tag of the instance it is attached to; and
 * the interface's addresses, so only traffic the session itself sent counts.
 * Answers are cached (a session's interfaces do not change owner while it runs;
 * an interface of no session is asked about again sooner).
 */
import { DescribeInstancesCommand, DescribeNetworkInterfacesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { awsCall } from '../shared/aws-errors.ts';
import { SessionId } from '../shared/ids.ts';
import { Tags, tagValue } from '../shared/tags.ts';
import { canonicalIp } from './flow-log.ts';

export interface InterfaceOwner {
  readonly sessionId: string;
  readonly instanceId: string | null;
  /** The instance's `aidops:tier` tag, when it has one (informational: remediation reads the session table). */
  readonly tier: string | null;
  /** The interface's private IPv4 and IPv6 addresses (canonical spelling). */
  readonly addresses: ReadonlySet<string>;
}

/** EC2 filter values per call (the API's limit is 200). */
const CHUNK = 100;

export class InterfaceOwners {
  readonly #ec2: EC2Client;
  readonly #ttlMs: number;
  readonly #missTtlMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { owner: InterfaceOwner | null; until: number }>();

  constructor(ec2: EC2Client, opts: { ttlMs?: number; missTtlMs?: number; now?: () => number } = {}) {
    this.#ec2 = ec2;
    this.#ttlMs = opts.ttlMs ?? 300_000;
    this.#missTtlMs = opts.missTtlMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /** The owner of each interface; null for an interface of no session (or one EC2 no longer knows). */
  async resolve(interfaceIds: readonly string[]): Promise<Map<string, InterfaceOwner | null>> {
    const now = this.#now();
    const out = new Map<string, InterfaceOwner | null>();
    const missing: string[] = [];
    for (const id of new Set(interfaceIds)) {
      const hit = this.#cache.get(id);
      if (hit && hit.until > now) out.set(id, hit.owner);
      else missing.push(id);
    }
    for (let i = 0; i < missing.length; i += CHUNK) {
      const ids = missing.slice(i, i + CHUNK);
      for (const [id, owner] of await this.#lookup(ids)) {
        out.set(id, owner);
        this.#cache.set(id, { owner, until: now + (owner ? this.#ttlMs : this.#missTtlMs) });
      }
    }
    return out;
  }

  async #lookup(ids: readonly string[]): Promise<Map<string, InterfaceOwner | null>> {
    const found = new Map<string, InterfaceOwner | null>(ids.map((id) => [id, null]));
    // A filter, not NetworkInterfaceIds: a deleted interface must not fail the lookup of the others.
    const enis = await awsCall('ec2:DescribeNetworkInterfaces', () =>
      this.#ec2.send(
        new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'network-interface-id', Values: [...ids] }] }),
      ),
    );
    const interfaces = enis.NetworkInterfaces ?? [];
    const instanceIds = [
      ...new Set(interfaces.map((n) => n.Attachment?.InstanceId).filter((x): x is string => Boolean(x))),
    ];
    const instanceTags = new Map<string, { Key?: string; Value?: string }[]>();
    if (instanceIds.length > 0) {
      const d = await awsCall('ec2:DescribeInstances', () =>
        this.#ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: instanceIds }] })),
      );
      for (const r of d.Reservations ?? [])
        for (const inst of r.Instances ?? []) if (inst.InstanceId) instanceTags.set(inst.InstanceId, inst.Tags ?? []);
    }
    for (const n of interfaces) {
      if (!n.NetworkInterfaceId || !found.has(n.NetworkInterfaceId)) continue;
      const instanceId = n.Attachment?.InstanceId ?? null;
      const itags = instanceId ? instanceTags.get(instanceId) : undefined;
      const sessionId = tagValue(n.TagSet, Tags.SessionId) ?? tagValue(itags, Tags.SessionId);
      if (!sessionId || !SessionId.safeParse(sessionId).success) continue;
      const addresses = new Set<string>();
      for (const a of n.PrivateIpAddresses ?? [])
        if (a.PrivateIpAddress) addresses.add(canonicalIp(a.PrivateIpAddress));
      if (n.PrivateIpAddress) addresses.add(canonicalIp(n.PrivateIpAddress));
      for (const a of n.Ipv6Addresses ?? []) if (a.Ipv6Address) addresses.add(canonicalIp(a.Ipv6Address));
      found.set(n.NetworkInterfaceId, {
        sessionId,
        instanceId,
        tier: tagValue(itags, Tags.Tier) ?? tagValue(n.TagSet, Tags.Tier) ?? null,
        addresses,
      });
    }
    return found;
  }
}
