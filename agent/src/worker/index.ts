export { type ProbeAttemptInfo, ProbeWorker, type ProbeWorkerOptions } from './probe-worker.js';
export {
  applyResult,
  initialProbeState,
  type ProbeState,
  type ThresholdState,
  type Thresholds,
  thresholdStart,
} from './threshold.js';
