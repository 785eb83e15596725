/** Discovery documents: /api, /apis, /apis/<group>, /api/v1, /apis/<group>/<version>, /version. */
import type { ResourceRegistry, ResourceType } from './resources.js';

export const VERSION_INFO = {
  major: '1',
  minor: '30',
  gitVersion: 'v1.30.0-vmprobe-emulator',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2024-04-17T00:00:00Z',
  goVersion: 'go1.22.2',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export function apiVersions(serverAddress: string) {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupDoc(name: string, versions: string[]) {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(reg: ResourceRegistry) {
  const groups = [...reg.groups()].filter(([g]) => g !== '').sort(([a], [b]) => (a < b ? -1 : 1));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(([g, vs]) => groupDoc(g, vs)) };
}

export function apiGroup(reg: ResourceRegistry, group: string) {
  const vs = reg.groups().get(group);
  return vs && group !== '' ? groupDoc(group, vs) : undefined;
}

export function apiResourceList(reg: ResourceRegistry, group: string, version: string) {
  const rts: ResourceType[] = reg.all().filter((rt) => rt.group === group && rt.versions.includes(version));
  if (rts.length === 0) return undefined;
  const resources: object[] = [];
  for (const rt of rts.sort((a, b) => (a.plural < b.plural ? -1 : 1))) {
    const r: Record<string, unknown> = {
      name: rt.plural,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: rt.verbs,
    };
    if (rt.shortNames.length) r.shortNames = rt.shortNames;
    if (rt.categories.length) r.categories = rt.categories;
    resources.push(r);
    if (rt.statusSubresource)
      resources.push({
        name: `${rt.plural}/status`,
        singularName: '',
        namespaced: rt.namespaced,
        kind: rt.kind,
        verbs: ['get', 'patch', 'update'],
      });
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}
