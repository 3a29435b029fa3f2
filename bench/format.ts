// How numbers are written, in the console and in bench/results.md, and a Markdown table.
import { cpuPerRequestUs, type Load } from './load';

export const fmtRps = (rps: number) => Math.round(rps).toLocaleString('en-US');
export const fmtMs = (us: number) => (us / 1000).toFixed(2);
export const fmtMb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
/** The measured process's CPU time per request, µs: what a request costs it, however busy the machine. */
export const fmtUs = (load: Load) => (Number.isFinite(load.targetCpu) ? cpuPerRequestUs(load).toFixed(0) : '—');
export const log = (line: string) => console.log(line);

export function table(header: string[], rows: string[][], align: ('l' | 'r')[] = []): string {
  const sep = header.map((_, i) => (align[i] === 'r' ? '---:' : '---'));
  return [header, sep, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
