// Installs in bulk (`installAll`): one ONAPPINSTALL per portal, `concurrency` in flight at once, as many
// portals installing the application together would send them. What it keeps is counts and the first few
// failures, never the deliveries (each holds a pair of tokens): ten thousand installs cost nothing after.
import type { BulkInstall, CloudPortal, Delivery } from './types';

/** The most events in flight at once. */
export const MAX_CONCURRENCY = 256;
/** Failures kept, in the order they came. */
const KEPT_FAILURES = 10;

export async function installInBulk(
  portals: readonly CloudPortal[],
  install: (portal: CloudPortal) => Promise<Delivery>,
  concurrency: number,
): Promise<BulkInstall> {
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY)
    throw new RangeError(`concurrency: ${concurrency} is not from 1 to ${MAX_CONCURRENCY}`);
  const outcome: BulkInstall = { sent: 0, statuses: {}, failures: [] };
  const count = (key: string) => {
    outcome.statuses[key] = (outcome.statuses[key] ?? 0) + 1;
  };
  let next = 0;
  const worker = async () => {
    while (next < portals.length) {
      const portal = portals[next++]!;
      outcome.sent += 1;
      try {
        const { status, body } = await install(portal);
        count(String(status));
        if (status !== 200 && outcome.failures.length < KEPT_FAILURES)
          outcome.failures.push({ memberId: portal.memberId, status, body });
      } catch (error) {
        // No answer: refused, reset, or past its deadline.
        count('failed');
        if (outcome.failures.length < KEPT_FAILURES)
          outcome.failures.push({ memberId: portal.memberId, status: 0, body: (error as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, portals.length) }, worker));
  return outcome;
}
