// W3C Trace Context (https://www.w3.org/TR/trace-context/): the gateway is one span of its caller's trace.
// A valid incoming `traceparent` is continued (same trace id, a new span id of the gateway's, its flags);
// anything else starts a new trace, as the recommendation says, never refusing the request.
import { randomFillSync } from 'node:crypto';

export interface TraceContext {
  traceId: string;
  /** The gateway's own span, the parent of its call to Bitrix24. */
  spanId: string;
  /** The caller's span, when the request continued a trace. */
  parentSpanId?: string;
  /** What goes to Bitrix24. */
  headers: { traceparent: string; tracestate?: string };
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** tracestate: at most 32 list members of printable ASCII, 512 characters in all. */
const TRACESTATE = /^[\x20-\x7e]{1,512}$/;

/** The trace a request belongs to, from its `traceparent` and `tracestate` headers (either may be absent). */
export function traceContext(traceparent: string | undefined, tracestate: string | undefined): TraceContext {
  const spanId = randomHex(8);
  const parent = parse(traceparent);
  if (!parent) {
    const traceId = randomHex(16);
    return { traceId, spanId, headers: { traceparent: `00-${traceId}-${spanId}-00` } };
  }
  const state =
    tracestate !== undefined && TRACESTATE.test(tracestate) && tracestate.split(',').length <= 32
      ? tracestate
      : undefined;
  return {
    traceId: parent.traceId,
    spanId,
    parentSpanId: parent.spanId,
    headers: {
      traceparent: `00-${parent.traceId}-${spanId}-${parent.flags}`,
      ...(state !== undefined && { tracestate: state }),
    },
  };
}

function parse(header: string | undefined): { traceId: string; spanId: string; flags: string } | undefined {
  const match = header === undefined ? null : TRACEPARENT.exec(header.trim());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  // Version 00 has nothing after the flags; a later version may, and is read as 00. Version ff is invalid.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, flags };
}

/**
 * Random bytes for ids, from a pool filled 4 KB at a time (one call into the CSPRNG per ~170 requests instead
 * of two per request), as hex. All-zero ids are invalid (W3C): one is drawn again (odds 2^-64).
 */
const pool = Buffer.alloc(4_096);
let used = pool.length;

export function randomHex(bytes: 8 | 16): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
  return hex === ZERO_SPAN || hex === ZERO_TRACE ? randomHex(bytes) : hex;
}
