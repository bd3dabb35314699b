/**
 * Local stand-ins for AWS APIs moto lacks, installed into a LocalRuntime:
 *  - SSM OpsItems (served on the gateway; other SSM actions still go to moto),
 *  - ec2:CreateReplaceRootVolumeTask (a replacer the restore handlers pick up).
 * Each is named as a stand-in wherever it shows (timelines, outputs, docs).
 */
import { installRootVolumeReplacer } from '../../lambdas/remediation/root-volume.ts';
import type { LocalRuntime } from '../runtime.ts';
import { OpsItemsStandIn } from './ops-items.ts';
import { LocalReplaceRootVolume } from './replace-root-volume.ts';

export interface InstalledStandIns {
  readonly opsItems: OpsItemsStandIn;
  readonly replaceRootVolume: LocalReplaceRootVolume;
}

const installed = new WeakMap<LocalRuntime, InstalledStandIns>();

export function installStandins(rt: LocalRuntime): InstalledStandIns {
  const had = installed.get(rt);
  if (had) return had;
  const opsItems = new OpsItemsStandIn(rt.moto.endpoint);
  rt.gateway.serve('ssm', opsItems.handler);
  const replaceRootVolume = new LocalReplaceRootVolume();
  installRootVolumeReplacer(replaceRootVolume);
  const s = { opsItems, replaceRootVolume };
  installed.set(rt, s);
  return s;
}
