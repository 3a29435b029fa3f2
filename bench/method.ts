// The "Method" part of bench/results.md: how each target is started, placed and loaded, and what each
// column means. Written from the settings in force, so that it always says what the run did.
import { placement } from './processes';
import { IDLE_MS, SETTLE_MS } from './scenarios/startup';
import { bodies, settings, TRANSFER, webhookBody } from './settings';
import { PRISM_LOG_LEVEL } from './targets';

export function method(): string[] {
  return [
    '- Each target is its own process, all on loopback; all but the first floor are, or forward to, the same emulator, started fresh for each with its rate and operating-time limits off (`bench/emulator.ts` calls `startEmulator`):',
    '  - **direct**: the emulator itself, the limit;',
    "  - **gateway**: the build, `node dist/main.js` (what production and the Docker image run; `make bench` runs `make build` first), configured by its environment only: `BITRIX24_PORTAL_URL=<emulator>` (OAuth mode, so that every target takes the same body), `GATEWAY_API_KEYS`, `RATE_LIMIT_SHAPING=off` (the emulator's limits are off, so the limiter lets every request through at once; the burst below runs with shaping on), otherwise defaults (`UPSTREAM_CONNECTIONS=16`, `LOG_LEVEL=info`: one access-log line per request, to a file);",
    `  - **Prism**: \`prism proxy openapi/openapi.yaml <emulator> --errors -v ${PRISM_LOG_LEVEL}\` (one process, no logging: what favours Prism most; the gateway logs a line per request);`,
    "  - **bare node:http (floor)**: `bench/floor.ts`, a `node:http` server that reads and parses the body and answers the gateway's 400, nothing else: what one Node process here can answer at all, for the rejected body only;",
    "  - **bare forwarding proxy (floor)**: `bench/forward-floor.ts`, `node:http` in and an `undici` `Pool` out to the emulator (16 keep-alive connections, like the gateway), no validation, no logging: each body goes to the emulator's OAuth path as it came, and its status and body come back. What one Node process here can forward at all, for the valid body only.",
    `- Placement: ${placement}.`,
    `- Load: \`wrk -t1 -c${settings.connections}\` with \`bench/post.lua\`, ${settings.warmup} s warm-up, then ${settings.duration} s measured; the 1-connection rows run ${settings.unloadedDuration} s. The same path (\`${TRANSFER}\`), headers (\`Authorization: Bearer …\`, which the spec requires and Prism checks) and bodies for all:`,
    `  - valid: \`${bodies.valid}\``,
    `  - rejected: \`${bodies.rejected}\`. The emulator, like Bitrix24, reads \`"12abc"\` as 12 and transfers; the gateway answers 400 \`INVALID_PARAMETER\` without calling upstream; Prism answers its own 422.`,
    '- Checks: each body is sent once before its run and the answer shown ("answer"); "errors" counts answers of another status class during the run, plus socket errors and timeouts; "upstream calls" is the emulator\'s own count during the run.',
    '- CPU, from `/proc/<pid>/stat` over the middle of each run, in % of one CPU: "target CPU" is the measured process (100 % = its core saturated); "CPU µs/req" is its CPU time per request, which holds even when the machine is shared; "other CPU" is every process that is not part of the benchmark.',
    "- Memory: `VmRSS` before a target's runs and after them, and `VmHWM` (the peak), from `/proc/<pid>/status`.",
    `- Startup: the gateway built (\`node dist/main.js\`) and from the sources (\`node --import tsx src/main.ts\`) in webhook mode (\`BITRIX24_WEBHOOK_URL=<emulator>/rest/1/emulatorsecret/\`, \`BITRIX24_CLIENT_ID\`, \`GATEWAY_API_KEYS\`; no embedded emulator), on the target CPU: ${settings.starts} starts of each, alternately, after one unmeasured start of each. "Ready" is from the spawn to the first 200 of \`/healthz\`, polled every 5 ms; "CPU to ready" is the process's user + system time then (all its threads); "RSS ${IDLE_MS / 1000} s after ready" is \`VmRSS\` then; medians, with the range. Then each is started once more, left idle ${SETTLE_MS / 1000} s ("settled": V8 gives back the room its heap grew to during the start only when its memory reducer runs, 13–32 s after the start in runs here), and loaded like the throughput runs with a valid body for webhook mode (\`${webhookBody}\`, ${settings.warmup} s + ${settings.duration} s at ${settings.connections} connections, shaping off), and its \`VmRSS\` and \`VmHWM\` read after.`,
  ];
}
