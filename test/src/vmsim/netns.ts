import { VmSimError } from './errors.js';
import type { VmSimulator } from './types.js';

export const NetnsSimulator = {
  async start(): Promise<VmSimulator> {
    throw new VmSimError('ERR_UNSUPPORTED_IN_MODE', 'netns mode is not built yet');
  },
};
