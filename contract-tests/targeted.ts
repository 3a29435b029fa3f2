// Requests for the rows of the error matrix that random parameters cannot reach: Bitrix24's own errors
// (the emulator's test values), an upstream that is down, slow or off the contract, a gateway that is
// stopping or whose queue is full. Each returns the gateway's real answer; nothing here decides a row.
import { connect } from 'node:net';
import { testValuesFor } from '../src/emulator';
import { transfer } from '../src/operations/transfer';
import { closedPort } from '../src/test-support/ports';
import { parseHttpAnswers } from '../src/test-support/raw-http';

export { closedPort };

import type { Stack } from '../src/test-support/stack';
import type { GeneratedRequest } from './arbitraries';
import type { Answer } from './matrix';

/** What the gateway must answer for each of the emulator's test values, from the spec's table. */
// biome-ignore lint/suspicious/useIterableCallbackReturn: the switch covers every kind, so every path returns
export const testValueAnswers: [chatId: number, status: number, code: string][] = [...testValuesFor(transfer)].map(
  ([id, sentinel]) => {
    switch (sentinel.kind) {
      case 'error':
        // An undocumented status and code is not relayed.
        return sentinel.status === 418 ? [id, 502, 'UPSTREAM_BAD_RESPONSE'] : [id, sentinel.status, sentinel.error];
      case 'not-json':
        return [id, 502, 'UPSTREAM_BAD_RESPONSE'];
      case 'hang-up':
        return [id, 502, 'UPSTREAM_UNREACHABLE'];
      case 'slow':
        return [id, 504, 'UPSTREAM_TIMEOUT'];
    }
  },
);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends `request` on a connection the gateway already holds when it begins to stop: the request line goes
 * out first, `stack.gateway.close()` is called while `slow` (a request that reached Bitrix24 and waits for
 * it) keeps the gateway draining, and the rest of the request follows. Resolves with the gateway's answer.
 */
export async function requestDuringShutdown(
  stack: Stack,
  request: GeneratedRequest,
  slow: Promise<unknown>,
): Promise<Answer> {
  const { hostname, port, host } = new URL(stack.gateway.url);
  const socket = connect(Number(port), hostname);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let raw = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (raw += chunk));
  const closed = new Promise((resolve) => socket.once('close', resolve));

  // The request line first, so that the connection is not an idle one that closing drops at once.
  socket.write(`POST ${request.path} HTTP/1.1\r\nHost: ${host}\r\n`);
  await pause(100);
  const stopping = stack.gateway.close();
  const body = Buffer.from(request.body);
  socket.write(`Content-Type: ${request.contentType}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
  socket.end(body);
  await Promise.race([closed, pause(5_000)]);
  socket.destroy();
  await Promise.allSettled([slow, stopping]);
  return parseHttpAnswers(raw)[0] ?? { status: 0, headers: new Headers(), body: raw };
}
