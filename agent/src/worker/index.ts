export {
  judgeStall,
  type ProbeAttemptInfo,
  ProbeWorker,
  type ProbeWorkerOptions,
  STALL_GRACE_MS,
} from './probe-worker.js';
export {
  applyResult,
  type ProbeState,
  type ThresholdState,
  type Thresholds,
  thresholdStart,
} from './threshold.js';
