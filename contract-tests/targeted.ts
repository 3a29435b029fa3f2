// Requests for the rows of the error matrix that random parameters cannot reach: Bitrix24's own errors
// (the emulator's test values), an upstream that is down, slow or off the contract, a gateway that is
// stopping or whose queue is full. Each returns the gateway's real answer; nothing here decides a row.
import { connect } from 'node:net';
import { testValuesFor } from '../src/emulator';
import { bitrix24Methods } from '../src/operations';
import { closedPort } from '../src/test-support/ports';
import { parseHttpAnswers } from '../src/test-support/raw-http';

export { closedPort };

import type { Stack } from '../src/test-support/stack';
import { type GeneratedRequest, type MethodName, TRANSFER } from './arbitraries';
import type { Answer } from './matrix';

/**
 * What the gateway must answer for each of `method`'s test values in the emulator, from the spec's table:
 * the platform's, which act for every method, and the method's own.
 */
export function testValueAnswersFor(method: MethodName): [chatId: number, status: number, code: string][] {
  const module = bitrix24Methods.find((known) => known.name === method);
  if (!module) throw new Error(`no module for ${method}`);
  // biome-ignore lint/suspicious/useIterableCallbackReturn: the switch covers every kind, so every path returns
  return [...testValuesFor(module)].map(([id, sentinel]) => {
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
  });
}
export const testValueAnswers = testValueAnswersFor(TRANSFER);

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
  return (await requestsDuringShutdown(stack, [request], slow))[0]!;
}

/** The same, for several requests on connections of their own, all held when the gateway begins to stop. */
export async function requestsDuringShutdown(
  stack: Stack,
  requests: GeneratedRequest[],
  slow: Promise<unknown>,
): Promise<Answer[]> {
  const { hostname, port, host } = new URL(stack.gateway.url);
  const connections = await Promise.all(
    requests.map(async (request) => {
      const socket = connect(Number(port), hostname);
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const connection = { request, socket, raw: '', closed: new Promise((resolve) => socket.once('close', resolve)) };
      socket.setEncoding('latin1').on('data', (chunk: string) => (connection.raw += chunk));
      // The request line first, so that the connection is not an idle one that closing drops at once.
      socket.write(`POST ${request.path} HTTP/1.1\r\nHost: ${host}\r\n`);
      return connection;
    }),
  );
  await pause(100);
  const stopping = stack.gateway.close();
  for (const { request, socket } of connections) {
    const body = Buffer.from(request.body);
    socket.write(`Content-Type: ${request.contentType}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    socket.end(body);
  }
  await Promise.race([Promise.all(connections.map((connection) => connection.closed)), pause(5_000)]);
  for (const { socket } of connections) socket.destroy();
  await Promise.allSettled([slow, stopping]);
  return connections.map(({ raw }) => parseHttpAnswers(raw)[0] ?? { status: 0, headers: new Headers(), body: raw });
}
