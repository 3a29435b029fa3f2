import { describe, expect, it } from 'vitest';
import { backOff, bucketOf, reserve } from './gcra';

const bucket = bucketOf(2, 3); // 500 ms between requests, 3 at once
const at = (tatUs: number, nowMs: number, maxWaitMs = 10_000, more = {}) =>
  reserve(tatUs, nowMs * 1000, bucket, { maxWaitUs: maxWaitMs * 1000, ...more });

describe('GCRA', () => {
  it('lets the burst go at once, then one request an interval', () => {
    let tat = 0;
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const slot = at(tat, 1_000);
      tat = slot.tatUs;
      waits.push(slot.waitUs / 1000);
    }
    expect(waits).toEqual([0, 0, 0, 500, 1_000]);
  });

  it('drains: after the burst, time frees slots again', () => {
    let tat = 0;
    for (let i = 0; i < 3; i++) tat = at(tat, 1_000).tatUs;
    expect(at(tat, 1_500).waitUs).toBe(0);
    expect(at(tat, 1_250).waitUs).toBe(250_000);
  });

  it('reserves nothing when the wait is too long, or when asked only for the wait', () => {
    let tat = 0;
    for (let i = 0; i < 3; i++) tat = at(tat, 1_000).tatUs;
    expect(at(tat, 1_000, 400)).toEqual({ reserved: false, waitUs: 500_000, tatUs: tat });
    expect(at(tat, 1_000, 10_000, { dryRun: true })).toEqual({ reserved: false, waitUs: 500_000, tatUs: tat });
    expect(at(tat, 1_000, 0)).toMatchObject({ reserved: false });
  });

  it('estimates the wait behind requests already queued', () => {
    expect(at(0, 1_000, 10_000, { ahead: 4, dryRun: true }).waitUs).toBe(1_000_000);
  });

  it('backs off to a full bucket when Bitrix24 says it is full', () => {
    const tat = backOff(0, 1_000_000, bucket);
    expect(at(tat, 1_000).waitUs).toBe(500_000);
  });

  it('keeps headroom below the burst, at least one request', () => {
    expect(bucketOf(20, 50, 5)).toEqual({ intervalUs: 50_000, burst: 45 });
    expect(bucketOf(2, 1, 1).burst).toBe(1);
  });
});
