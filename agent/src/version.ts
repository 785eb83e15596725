import { readFileSync } from 'node:fs';

/** The agent's version, read once from agent/package.json (used in User-Agent and build info). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
