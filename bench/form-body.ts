// Issue 31: the gateway's reading of a form body (URLSearchParams, then PHP's key rules: phpFormParams, as
// src/pipeline/validate.ts and judge.ts read every form) on each costly shape at the default body limit,
// against a plain form of the same size (`k1=v&k2=v…`), in the same run and in the same process. Each body
// is read ROUNDS times, the bodies in turn (reversed every round: the machine's speed drifts), and the
// median is kept. The reader's steps per byte (its step meter) say what the tests bound; the ratio says what
// the costliest shape costs against a plain body of its size.
//   node --import tsx bench/form-body.ts    (make bench runs it too)
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { phpFormParams } from '../src/bitrix24-semantics';
import { loadConfig } from '../src/config';
import { formShapes, plainForm } from '../src/test-support/form-shapes';
import { table } from './format';

const ROUNDS = 9;
const WARMUP = 2;

export interface FormShapeRow {
  shape: string;
  bytes: number;
  stepsPerByte: number;
  /** Median milliseconds to read the body. */
  ms: number;
}

export interface FormBodyResult {
  limit: number;
  plain: FormShapeRow;
  /** Every costly shape, the costliest first. */
  shapes: FormShapeRow[];
}

const read = (body: string) => phpFormParams(new URLSearchParams(body));

export function formBody(limit = loadConfig({}).bodyLimitBytes): FormBodyResult {
  // A full collection before each read, so that a read pays for its own garbage, not for the one before it.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const plain = plainForm(limit);
  // The shapes, less the one that is the plain form itself (many distinct keys).
  const costly = Object.entries(formShapes(limit)).filter(([, body]) => body !== plain);
  const bodies: [string, string][] = [['plain k1=v&k2=v…', plain], ...costly];
  const times = new Map<string, number[]>(bodies.map(([name]) => [name, []]));
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (const [name, body] of round % 2 === 0 ? bodies : [...bodies].reverse()) {
      gc();
      const started = performance.now();
      read(body);
      if (round >= WARMUP) times.get(name)!.push(performance.now() - started);
    }
  }
  const rows = bodies.map(([shape, body]): FormShapeRow => {
    const meter = { steps: 0 };
    phpFormParams(new URLSearchParams(body), meter);
    return { shape, bytes: body.length, stepsPerByte: meter.steps / body.length, ms: median(times.get(shape)!) };
  });
  const [plainRow, ...shapes] = rows as [FormShapeRow, ...FormShapeRow[]];
  return { limit, plain: plainRow, shapes: shapes.sort((a, b) => b.ms - a.ms) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The lines of bench/results.md's section. */
export function formBodyLines(result: FormBodyResult): string[] {
  const { plain, shapes, limit } = result;
  const worst = shapes[0]!;
  const row = (r: FormShapeRow) => [
    r.shape,
    String(r.bytes),
    r.stepsPerByte.toFixed(2),
    r.ms.toFixed(1),
    `${(r.ms / plain.ms).toFixed(1)}×`,
  ];
  return [
    `The gateway's reading of a form body (URLSearchParams, then PHP's key rules) at the body limit (${limit} bytes), in process: the median of ${ROUNDS} reads of each body, the bodies in turn. The costliest shape, **${worst.shape}**, took **${(worst.ms / plain.ms).toFixed(1)}×** a plain form of the same size (${worst.ms.toFixed(1)} ms against ${plain.ms.toFixed(1)} ms); before issue 31, 30,000 \`x[]=1\` (180 KB) took 17 s. Steps per byte are the reader's own count, which the tests hold to at most 5 on every shape.`,
    '',
    table(
      ['body', 'bytes', 'steps per byte', 'ms (median)', 'vs plain'],
      [row(plain), ...shapes.map(row)],
      ['l', 'r', 'r', 'r', 'r'],
    ),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(formBodyLines(formBody()).join('\n'));
}
