// Request and answer bodies read up to a bound: whatever a sender sends, the cloud holds at most this much.

/** The largest request body the cloud's listeners read. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The stream's bytes, or undefined once they pass `maxBytes` (the rest is not read: the stream is
 * cancelled, or destroyed).
 */
export async function readBounded(
  stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | null,
  maxBytes = MAX_BODY_BYTES,
): Promise<Buffer | undefined> {
  if (!stream) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  const iterable: AsyncIterable<Uint8Array> =
    Symbol.asyncIterator in stream ? stream : readerIterable(stream as ReadableStream<Uint8Array>);
  for await (const chunk of iterable) {
    bytes += chunk.byteLength;
    if (bytes > maxBytes) return undefined; // leaving the loop cancels the stream
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Whether a declared Content-Length already passes the bound. */
export function declaredTooLarge(contentLength: string | null | undefined, maxBytes = MAX_BODY_BYTES): boolean {
  return contentLength !== null && contentLength !== undefined && Number(contentLength) > maxBytes;
}

async function* readerIterable(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
