// `make bench`: the built gateway against the emulator (the limit), Stoplight Prism (the peer) and two
// floors, with wrk; its startup and memory against the tsx one; then a burst through its rate limiter, the
// same burst over replicas sharing Redis, what Redis and an Idempotency-Key add to one transfer, and
// application mode (issue 34): the portal-scoped transfer against the webhook one, and a refresh storm over
// replicas sharing Redis. Writes the generated part of bench/results.md (or $BENCH_OUTPUT).
//
//   node --import tsx bench/run.ts              measure, print the table, write bench/results.md
//   node --import tsx bench/run.ts --profile    run the gateway under `node --cpu-prof` instead, and
//                                               print where its time goes (bench/tmp/profile/)
//   node --import tsx bench/run.ts --throughput the gateway and the two floors only, printed (no results.md);
//                                               BENCH_TARGETS=gateway,floor: these only
//   BENCH_ONLY=application,storm node --import tsx bench/run.ts
//                                               these scenarios only, printed (no results.md): any of
//                                               throughput, startup, burst, replicas, idempotency, forms,
//                                               application, storm
//
// Run from the repository root, after `make build` (`make bench` builds first). Every process is separate:
// see bench/targets.ts for what is started and bench/results.md for the method.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { applicationLines, stormLines } from './application-report';
import { formBody } from './form-body';
import { log } from './format';
import { applicationGoalsText } from './goals';
import { machine } from './machine';
import { killAll, placement } from './processes';
import { profile } from './profile';
import { type Report, render, writeResults } from './report';
import { type ApplicationResult, application } from './scenarios/application';
import { burst } from './scenarios/burst';
import { idempotencyCost } from './scenarios/idempotency';
import { refreshStorm, type StormResult } from './scenarios/refresh-storm';
import { replicas } from './scenarios/replicas';
import { startup } from './scenarios/startup';
import { throughput } from './scenarios/throughput';
import { root, settings } from './settings';

const built = () => {
  if (!existsSync(join(root, 'dist/main.js'))) throw new Error('dist/main.js is missing: run `make build` first');
};

async function benchmark(): Promise<void> {
  built();
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
  log('The portal-scoped transfer (application mode) against the webhook one:');
  const applicationResult = await application();
  log(`The refresh storm: ${settings.stormPortals} portals over ${settings.replicas} replicas sharing Redis:`);
  const storm = await refreshStorm();

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
    application: applicationResult,
    storm,
  };
  const generated = render(report);
  log(`\n${generated}\n`);
  writeResults(settings.output, generated);
  log(`Written to ${settings.output}`);
}

/** `BENCH_ONLY`: the scenarios named, in `make bench`'s order, each printing as it goes; issue 34's also their part of the report. */
async function only(names: string[]): Promise<void> {
  const scenarios: Record<string, () => Promise<unknown>> = {
    throughput: () => throughput(),
    startup,
    burst,
    replicas,
    idempotency: idempotencyCost,
    forms: async () => formBody(),
    application,
    storm: refreshStorm,
  };
  const unknown = names.filter((name) => !(name in scenarios));
  if (unknown.length > 0)
    throw new Error(
      `BENCH_ONLY: no scenario ${unknown.join(', ')} (the scenarios: ${Object.keys(scenarios).join(', ')})`,
    );
  built();
  log(
    `Benchmark, ${names.join(', ')} only: ${settings.connections} connections, ${settings.warmup} s warm-up + ${settings.duration} s per run; ${placement}`,
  );
  let applicationResult: ApplicationResult | undefined;
  let storm: StormResult | undefined;
  for (const name of Object.keys(scenarios).filter((n) => names.includes(n))) {
    log(`${name}:`);
    const result = await scenarios[name]!();
    if (name === 'application') applicationResult = result as ApplicationResult;
    if (name === 'storm') storm = result as StormResult;
  }
  const parts = [
    ...(applicationResult ? ['', ...applicationLines(applicationResult)] : []),
    ...(storm ? ['', ...stormLines(storm)] : []),
    ...(applicationResult || storm ? ['', applicationGoalsText(applicationResult, storm)] : []),
  ];
  if (parts.length > 0) log(parts.join('\n'));
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

try {
  await (settings.profile
    ? profile()
    : settings.throughputOnly
      ? throughput(settings.throughputTargets)
      : settings.only.length > 0
        ? only(settings.only)
        : benchmark());
} catch (error) {
  killAll();
  console.error(error);
  process.exit(1);
}
