// A/B of gateway builds on one body: every build started at once (each its own process on the target CPU,
// idle while another is loaded), then short wrk runs interleaved round by round, in an order reversed every
// round, and the median CPU time per request of each. On this shared VM the speed drifts by 10-20 % over
// minutes: builds measured one after the other (as `make bench` does its targets) differ by that much, while
// builds measured in the same minute, alternately, show a change of a few %. Not part of `make bench`.
//
//   node --import tsx bench/ab.ts <build> <build> … [floor]
//
// A build is the path of a `main.js` built by `make build`, inside a checkout (it reads openapi/ from there),
// optionally followed by `|NAME=value` settings and `|--node-flag`s: `dist/main.js`,
// `/tmp/base/dist/main.js|LOG_LEVEL=info`. `floor` adds bare node:http (bench/floor.ts), `forward-floor` the bare forwarding proxy
// (bench/forward-floor.ts, for the valid body). Another commit's
// build: `git worktree add /tmp/base <commit> && ln -s "$PWD/node_modules" /tmp/base/ && (cd /tmp/base &&
// node scripts/build.mjs)`. Knobs: AB_ROUNDS (8), AB_SECONDS (3 per run, the first 0.5 s unmeasured), AB_BODY
// (rejected or valid), AB_CONNECTIONS (32).
import { wrk } from './load';
import { CPU, killAll, stop } from './processes';
import { bodies, TRANSFER } from './settings';
import { gatewayCommand, type Server, startEmulator, startFloor, startForwardFloor, startGateway } from './targets';

const builds = process.argv.slice(2);
if (builds.length === 0) throw new Error('usage: node --import tsx bench/ab.ts <main.js>[|NAME=value…] … [floor]');
const rounds = Number(process.env.AB_ROUNDS ?? 8);
const seconds = Number(process.env.AB_SECONDS ?? 3);
const body = (process.env.AB_BODY ?? 'rejected') as keyof typeof bodies;
const connections = Number(process.env.AB_CONNECTIONS ?? 32);

const emulator = await startEmulator(CPU.load);
const servers: [string, Server][] = [];
const perRequest = new Map<string, number[]>();
try {
  for (const build of builds) {
    if (build === 'floor') {
      servers.push([build, await startFloor()]);
      continue;
    }
    if (build === 'forward-floor') {
      servers.push([build, await startForwardFloor(emulator)]);
      continue;
    }
    const [path, ...more] = build.split('|');
    gatewayCommand.built = [path!];
    const env = Object.fromEntries(
      more.filter((m) => !m.startsWith('--')).map((m) => m.split('=') as [string, string]),
    );
    const nodeFlags = more.filter((m) => m.startsWith('--'));
    const gateway = await startGateway(emulator, {
      build: 'built',
      mode: 'oauth',
      env: { RATE_LIMIT_SHAPING: 'off', ...env },
      nodeFlags,
      name: `ab-${servers.length}`,
    });
    servers.push([build, gateway]);
  }
  for (const [, server] of servers)
    await wrk(`${server.url}${TRANSFER}`, bodies[body], connections, 2, [server.proc.pid]);
  for (let round = 0; round < rounds; round++) {
    for (const [name, server] of round % 2 ? [...servers].reverse() : servers) {
      const load = await wrk(`${server.url}${TRANSFER}`, bodies[body], connections, seconds, [
        server.proc.pid,
        emulator.proc.pid,
      ]);
      perRequest.set(name, [...(perRequest.get(name) ?? []), (load.targetCpu * 10_000) / load.rps]);
    }
  }
} catch (error) {
  // A build that never became ready is still running: everything this script started goes.
  killAll();
  throw error;
} finally {
  for (const [, server] of servers) await stop(server.proc);
  await stop(emulator.proc);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const first = median(perRequest.get(builds[0]!)!);
console.log(
  `${body} body, ${rounds} rounds of ${seconds} s: CPU µs per request (each round), median, ratio to the first`,
);
for (const [name, values] of perRequest) {
  const line = values.map((value) => value.toFixed(0)).join(' ');
  console.log(`${name}\t${line}\tmedian ${median(values).toFixed(1)}\t${(median(values) / first).toFixed(3)}`);
}
