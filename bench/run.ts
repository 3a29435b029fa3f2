// `make bench`: the built gateway against the emulator (the limit), Stoplight Prism (the peer) and two
// floors, with wrk; its startup and memory against the tsx one; then a burst through its rate limiter, the
// same burst over replicas sharing Redis, and what Redis and an Idempotency-Key add to one transfer.
// Writes the generated part of bench/results.md (or $BENCH_OUTPUT).
//
//   node --import tsx bench/run.ts              measure, print the table, write bench/results.md
//   node --import tsx bench/run.ts --profile    run the gateway under `node --cpu-prof` instead, and
//                                               print where its time goes (bench/tmp/profile/)
//   node --import tsx bench/run.ts --throughput the gateway and the two floors only, printed (no results.md);
//                                               BENCH_TARGETS=gateway,floor: these only
//
// Run from the repository root, after `make build` (`make bench` builds first). Every process is separate:
// see bench/targets.ts for what is started and bench/results.md for the method.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formBody } from './form-body';
import { log } from './format';
import { machine } from './machine';
import { killAll, placement } from './processes';
import { profile } from './profile';
import { type Report, render, writeResults } from './report';
import { burst } from './scenarios/burst';
import { idempotencyCost } from './scenarios/idempotency';
import { replicas } from './scenarios/replicas';
import { startup } from './scenarios/startup';
import { throughput } from './scenarios/throughput';
import { root, settings } from './settings';

async function benchmark(): Promise<void> {
  if (!existsSync(join(root, 'dist/main.js'))) throw new Error('dist/main.js is missing: run `make build` first');
  const startedAt = new Date();
  const machineInfo = machine();
  log(
    `Benchmark: ${settings.connections} connections, ${settings.warmup} s warm-up + ${settings.duration} s per run; ${placement}`,
  );
  const targets = await throughput();
  log('Startup and memory (webhook mode):');
  const starts = await startup();
  log('Burst through the rate limiter:');
  const burstResult = await burst();
  log(`The burst over ${settings.replicas} replicas sharing Redis:`);
  const replicasResult = await replicas();
  log('Unloaded transfers, one at a time: Redis and Idempotency-Key:');
  const keys = await idempotencyCost();
  // Issue 31: the costliest form body's reading against a plain one of the same size (bench/form-body.ts).
  log('Form bodies at the body limit: the costliest shape against a plain one (in process):');
  const forms = formBody();

  const report: Report = {
    startedAt,
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    machine: machineInfo,
    targets,
    startup: starts,
    burst: burstResult,
    replicas: replicasResult,
    idempotency: keys,
    forms,
  };
  const generated = render(report);
  log(`\n${generated}\n`);
  writeResults(settings.output, generated);
  log(`Written to ${settings.output}`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

try {
  await (settings.profile ? profile() : settings.throughputOnly ? throughput(settings.throughputTargets) : benchmark());
} catch (error) {
  killAll();
  console.error(error);
  process.exit(1);
}
