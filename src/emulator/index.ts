export { createEmulator } from './emulator';
export { type Sentinel, type Stage, sentinels } from './sentinels';
export { startEmulator } from './server';
export type { Emulator, EmulatorOptions, EmulatorStats, ReceivedCall, RunningEmulator, StartOptions } from './types';
