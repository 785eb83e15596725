import type { PortSet } from './behaviour.js';
import type { RecordedRequest, VmBehaviour } from './types.js';

/** IPC messages between the simulator (parent) and a netns VM's process (child). */
export type ParentMessage =
  | { t: 'init'; seq: number; ports: PortSet; hosts: string[]; tls?: { key: string; cert: string } }
  | { t: 'set'; seq: number; behaviour: VmBehaviour }
  | { t: 'sync'; seq: number }
  | { t: 'stop'; seq: number };

export type ChildMessage =
  | { t: 'ready' }
  | { t: 'ack'; seq: number; error?: { code: string; message: string } }
  | { t: 'req'; rec: RecordedRequest };
