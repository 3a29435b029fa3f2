// Preloaded into the gateway for the throughput runs only:
//
//   node --import tsx --import ./bench/unshaped.ts src/main.ts
//
// The gateway shapes its calls to Bitrix24's rate (2 a second by default), and its configuration cannot
// turn shaping off (RATE_LIMIT_PER_SECOND is at most 1000). The throughput runs are against an emulator
// whose own limits are off, so this lets every request through the gateway's limiter at once, as its fast
// path does when the bucket has room; everything else is src/main.ts as users run it. The burst scenario
// runs without this preload, with the limiter as configured.
import { PortalLimiter } from '../src/rate-limit';

if (typeof PortalLimiter?.prototype?.acquire !== 'function') {
  throw new Error('bench/unshaped.ts: PortalLimiter.prototype.acquire is gone; update this preload to the new limiter');
}
PortalLimiter.prototype.acquire = function acquire(): Promise<number> {
  return Promise.resolve(0);
};
