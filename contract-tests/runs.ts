// How many runs each property makes, and with which seed: FC_RUNS, FC_SEED and FC_PATH (see PROPERTIES.md).
import type { fc } from '@fast-check/vitest';

function fromEnv(name: string, pattern: RegExp): string | undefined {
  const value = process.env[name]?.trim();
  if (value === undefined || value === '') return undefined;
  if (!pattern.test(value)) throw new Error(`${name}=${JSON.stringify(value)} is not valid (expected ${pattern})`);
  return value;
}

/** Runs per property; the default keeps the whole contract suite well under 30 s on two cores. */
export const RUNS = Number(fromEnv('FC_RUNS', /^[1-9][0-9]*$/) ?? 500);
/** A fixed seed replays a run exactly (fast-check prints the seed of a failure): every property of the file takes it. */
export const SEED = fromEnv('FC_SEED', /^-?[0-9]+$/);
/** The counterexample's path, as printed beside the seed: replays only the shrunk failure (use with -t). */
export const PATH = fromEnv('FC_PATH', /^[0-9:]+$/);
/**
 * Without FC_SEED, the file's properties take BASE, BASE + 1, … in the order they are declared: each its
 * own seed, every one known (a property prints its own when it fails).
 */
const BASE = Math.floor(Math.random() * 2 ** 30);
const drawn: number[] = [];

/**
 * How to replay what the file's properties sent, for the message of a check that is not itself a
 * property (the logs', the premises', the matrix coverage's), whose verdict depends on all of them.
 */
export function replayNote(): string {
  const runs = process.env.FC_RUNS ? ` FC_RUNS=${RUNS}` : '';
  if (SEED !== undefined) return `replay with FC_SEED=${SEED}${runs}`;
  return `the properties' seeds were ${drawn.join(', ')} in the order of the file; FC_SEED=<one>${runs} replays that property's requests`;
}

/**
 * Runs per property for `method`: RUNS for the transfer, and 40% of it (at least one) for each sibling,
 * whose parameters are fewer and simpler, so that the file stays well under 30 s.
 */
export function runsFor(method: string): number {
  return method === 'imopenlines.bot.session.transfer' ? RUNS : Math.max(1, Math.round(RUNS * 0.4));
}

/**
 * fast-check's parameters for a property: hand-picked `examples` run first (fast-check counts them in
 * numRuns, and a printed path counts them too), then `runs` random ones. A failure prints the seed and the
 * shrunk path (`seed`, `path` in the error; the seed also in the test's name).
 */
export function runParameters<T>(examples: T[] = [], runs = RUNS): fc.Parameters<T> {
  return {
    numRuns: examples.length + runs,
    examples,
    seed: SEED === undefined ? nextSeed() : Number(SEED),
    ...(PATH !== undefined && { path: PATH }),
  };
}

function nextSeed(): number {
  const seed = BASE + drawn.length;
  drawn.push(seed);
  return seed;
}

/** vitest's timeout for one property: a run takes a few milliseconds, shrinking a failure a few seconds. */
export const PROPERTY_TIMEOUT_MS = 60_000 + RUNS * 50;
