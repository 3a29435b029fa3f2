export { type Cloud, type CloudOptions, type CloudPortal, MAX_PORTALS, startCloud } from './cloud';
export { createEmulator } from './emulator';
export { type Sentinel, type Stage, sentinels } from './sentinels';
export { startEmulator } from './server';
export { testValuesFor } from './test-values';
export type { Emulator, EmulatorOptions, EmulatorStats, ReceivedCall, RunningEmulator, StartOptions } from './types';
