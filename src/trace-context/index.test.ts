import { describe, expect, it } from 'vitest';
import { traceContext } from '.';

const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('traceContext', () => {
  it("continues a valid trace: same trace id and flags, the gateway's own span as the parent of its call", () => {
    const trace = traceContext(incoming, 'rojo=00f067aa0ba902b7');
    expect(trace).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7' });
    expect(trace.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(trace.spanId).not.toBe('00f067aa0ba902b7');
    expect(trace.headers).toEqual({
      traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${trace.spanId}-01`,
      tracestate: 'rojo=00f067aa0ba902b7',
    });
  });

  it.each([
    undefined,
    '',
    'garbage',
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
    `${incoming}-extra`,
    '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01',
  ])('starts a new trace for %j, and passes no tracestate', (header) => {
    const trace = traceContext(header, 'rojo=1');
    expect(trace.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(trace.traceId).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(trace.parentSpanId).toBeUndefined();
    expect(trace.headers).toEqual({ traceparent: `00-${trace.traceId}-${trace.spanId}-00` });
  });

  it('reads a later version as 00, fields after the flags ignored', () => {
    expect(traceContext(`01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more`, undefined).traceId).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
  });

  it('drops a tracestate that is not printable ASCII or too long', () => {
    expect(traceContext(incoming, 'a=\u0001').headers.tracestate).toBeUndefined();
    expect(traceContext(incoming, `a=${'x'.repeat(600)}`).headers.tracestate).toBeUndefined();
  });
});

describe('ids from the random pool', () => {
  it('are fresh, well-formed and never all zero, across many refills of the pool', () => {
    const spans = new Set<string>();
    const traces = new Set<string>();
    for (let i = 0; i < 5_000; i += 1) {
      const trace = traceContext(undefined, undefined);
      expect(trace.traceId).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
      expect(trace.spanId).toMatch(/^(?!0{16})[0-9a-f]{16}$/);
      spans.add(trace.spanId);
      traces.add(trace.traceId);
    }
    expect([spans.size, traces.size]).toEqual([5_000, 5_000]);
  });
});
