// Where a V8 .cpuprofile (from `node --cpu-prof`) spent its time: self time by function and by module,
// and total (inclusive) time for the gateway's own functions.

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** `node_modules/zod/…` → `zod`, `src/pipeline/x.ts` → `src/pipeline`, Node internals → `node:internal`. */
export function moduleOf(url: string, root: string): string {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return 'node: (Node.js internals)';
  const path = url.replace(/^file:\/\//, '').replace(`${root}/`, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return pkg[1]!;
  const own = /^(src\/[^/]+|generated|bench)/.exec(path);
  return own ? own[1]! : path;
}

export function summariseProfile(profile: CpuProfile, root: string, top = 20): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  // Self time per node: each sample's time is the delta to the next sample.
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i += 1) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const idle = [...idleIds].reduce((a, id) => a + (self.get(id) ?? 0), 0);
  const busy = total - idle;

  const label = (f: CallFrame) => {
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(`${root}/`, '')}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
  };

  // Node's internals and natives, charged to the nearest frame of a library or of the gateway that
  // called them: "who caused this time".
  const isInternal = (f: CallFrame) => !f.url || f.url.startsWith('node:');
  const selfByCaller = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  const selfByModule = new Map<string, number>();
  const inclusiveOwn = new Map<string, number>();
  for (const [id, time] of self) {
    if (idleIds.has(id)) continue;
    const frame = byId.get(id)!.callFrame;
    selfByFunction.set(label(frame), (selfByFunction.get(label(frame)) ?? 0) + time);
    let at: number | undefined = id;
    while (at !== undefined && isInternal(byId.get(at)!.callFrame)) at = parent.get(at);
    const caller = at === undefined ? frame.functionName || '(root)' : label(byId.get(at)!.callFrame);
    selfByCaller.set(caller, (selfByCaller.get(caller) ?? 0) + time);
    const mod = frame.url ? moduleOf(frame.url, root) : frame.functionName; // (garbage collector), (program)…
    selfByModule.set(mod, (selfByModule.get(mod) ?? 0) + time);
    // Inclusive time of the gateway's own functions (src/, generated/), each counted once per stack.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (!/\/(src|generated)\//.test(f.url) || f.url.includes('node_modules')) continue;
      const key = label(f);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusiveOwn.set(key, (inclusiveOwn.get(key) ?? 0) + time);
    }
  }

  const pct = (t: number) => `${((100 * t) / busy).toFixed(1)} %`;
  const ms = (t: number) => `${(t / 1000).toFixed(0)} ms`;
  const rows = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, t]) => `| ${pct(t)} | ${ms(t)} | \`${k.replace(/\|/g, '\\|')}\` |`)
      .join('\n');

  return [
    `Sampled ${ms(total)}: busy ${ms(busy)}, idle ${ms(idle)} (${((100 * idle) / total).toFixed(1)} %). Percentages are of busy time.`,
    '',
    '**Self time by module**',
    '',
    '| busy | time | module |',
    '|---:|---:|---|',
    rows(selfByModule, 15),
    '',
    `**Self time, top ${top} functions**`,
    '',
    '| busy | time | function |',
    '|---:|---:|---|',
    rows(selfByFunction, top),
    '',
    `**Self time charged to the nearest non-Node frame, top ${top}** (Node internals and natives counted to the library or gateway function that called them)`,
    '',
    '| busy | time | function |',
    '|---:|---:|---|',
    rows(selfByCaller, top),
    '',
    "**Total (inclusive) time of the gateway's own functions**",
    '',
    '| busy | time | function |',
    '|---:|---:|---|',
    rows(inclusiveOwn, 15),
  ].join('\n');
}
