/**
 * Request-path parsing into the apiserver's RequestInfo: API group/version, namespace, resource,
 * name, subresource and the Kubernetes verb (get/list/watch/create/update/patch/delete/deletecollection).
 */

export interface RequestInfo {
  isResourceRequest: boolean;
  path: string;
  verb: string;
  apiPrefix?: 'api' | 'apis';
  group: string;
  version: string;
  namespace?: string;
  resource?: string;
  name?: string;
  subresource?: string;
  /** Path segments after /api(s)/<group>/<version>, when shorter than a resource path (discovery). */
  discovery?: 'root' | 'group' | 'version';
}

export function parseRequest(method: string, url: URL): RequestInfo {
  const path = url.pathname;
  const segs = path
    .split('/')
    .filter((s) => s !== '')
    .map(decodeURIComponent);
  const info: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    group: '',
    version: '',
  };
  const first = segs[0];
  if (first !== 'api' && first !== 'apis') return info;
  info.apiPrefix = first;
  let rest: string[];
  if (first === 'api') {
    if (segs.length === 1) return { ...info, discovery: 'root' };
    info.version = segs[1] as string;
    rest = segs.slice(2);
  } else {
    if (segs.length === 1) return { ...info, discovery: 'root' };
    info.group = segs[1] as string;
    if (segs.length === 2) return { ...info, discovery: 'group' };
    info.version = segs[2] as string;
    rest = segs.slice(3);
  }
  if (rest.length === 0) return { ...info, discovery: 'version' };
  info.isResourceRequest = true;
  // Legacy /watch/ prefix.
  let watchPrefix = false;
  if (rest[0] === 'watch') {
    watchPrefix = true;
    rest = rest.slice(1);
  }
  if (
    rest[0] === 'namespaces' &&
    rest.length >= 3 &&
    !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))
  ) {
    info.namespace = rest[1];
    rest = rest.slice(2);
  } else if (rest[0] === 'namespaces' && rest.length >= 2) {
    // The namespace object itself (and its /status, /finalize).
    info.namespace = undefined;
  }
  info.resource = rest[0];
  info.name = rest[1];
  info.subresource = rest[2];
  if (rest.length > 3) info.subresource = rest.slice(2).join('/');
  const isWatch =
    watchPrefix || url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
  switch (method) {
    case 'GET':
    case 'HEAD':
      info.verb = info.name === undefined ? (isWatch ? 'watch' : 'list') : isWatch ? 'watch' : 'get';
      break;
    case 'POST':
      info.verb = 'create';
      break;
    case 'PUT':
      info.verb = 'update';
      break;
    case 'PATCH':
      info.verb = 'patch';
      break;
    case 'DELETE':
      info.verb = info.name === undefined ? 'deletecollection' : 'delete';
      break;
    default:
      info.verb = method.toLowerCase();
  }
  return info;
}
