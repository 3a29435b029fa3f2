export { createEmulator } from './emulator';
export { startEmulator } from './server';
export { sentinels, type Sentinel, type Stage } from './sentinels';
export type { Emulator, EmulatorOptions, EmulatorStats, ReceivedCall, RunningEmulator, StartOptions } from './types';
