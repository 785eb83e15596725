export { ProbeManager, type ProbeManagerOptions } from './manager.js';
export type {
  LivenessFailure,
  LivenessHandler,
  ManagedWorker,
  WorkerFactory,
  WorkerRequest,
} from './types.js';
export { type ProbeWorkerFactoryOptions, probeWorkerFactory } from './worker-factory.js';
