export * from './budget.js';
export * from './handler.js';
