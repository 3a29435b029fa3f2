// `--profile`: the gateway under `node --cpu-prof`, once per body, and where its time went
// (bench/tmp/profile/summary.md; the .cpuprofile files open in Chrome DevTools). It runs the sources under
// tsx rather than the build, so that each frame names its file in src/; per request the code is the same
// (BENCH_PROFILE_BUILD=built profiles the bundle instead: what production runs, frames named by function).
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmtRps, log } from './format';
import { wrk } from './load';
import { CPU, stop } from './processes';
import { summariseProfile } from './profile-summary';
import { bodies, root, settings, TRANSFER } from './settings';
import { startEmulator, startGateway } from './targets';

export async function profile(): Promise<void> {
  const dir = join(root, 'bench/tmp/profile');
  const summaries: string[] = [];
  for (const kind of ['valid', 'rejected'] as const) {
    const out = join(dir, kind);
    mkdirSync(out, { recursive: true });
    for (const f of readdirSync(out)) if (f.endsWith('.cpuprofile')) rmSync(join(out, f));
    const emulator = await startEmulator(CPU.load);
    try {
      const gateway = await startGateway(emulator, {
        build: process.env.BENCH_PROFILE_BUILD === 'built' ? 'built' : 'tsx',
        mode: 'oauth',
        env: { RATE_LIMIT_SHAPING: 'off' },
        nodeFlags: ['--cpu-prof', '--cpu-prof-dir', out],
        name: `gateway-profile-${kind}`,
      });
      try {
        const url = `${gateway.url}${TRANSFER}`;
        await wrk(url, bodies[kind], settings.connections, settings.warmup);
        const result = await wrk(url, bodies[kind], settings.connections, settings.duration);
        log(`profile ${kind}: ${fmtRps(result.rps)} req/s under the profiler`);
      } finally {
        await stop(gateway.proc);
      }
    } finally {
      await stop(emulator.proc);
    }
    // One profile per thread (tsx's module hooks run in a worker): the main thread is the busiest.
    const file = readdirSync(out)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort((a, b) => statSync(join(out, b)).size - statSync(join(out, a)).size)[0];
    if (!file) throw new Error(`no profile written in ${out}`);
    const summary = summariseProfile(JSON.parse(readFileSync(join(out, file), 'utf8')), root);
    summaries.push(`## ${kind} requests (${join('bench/tmp/profile', kind, file)})\n\n${summary}`);
  }
  const text = summaries.join('\n\n');
  writeFileSync(join(dir, 'summary.md'), `${text}\n`);
  log(`\n${text}\n\nWritten to bench/tmp/profile/summary.md`);
}
