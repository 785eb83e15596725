export { AgentMetrics, type AgentMetricsOptions } from './agent-metrics.js';
export * from './names.js';
