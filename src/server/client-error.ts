import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { type ErrorCode, gatewayError } from '../error-matrix';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { SECURITY_HEADERS } from './answer-headers';

export interface ClientErrorOptions {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Node's limit on a request's header section, bytes. */
  maxHeaderBytes: number;
  logger: Logger;
  metrics?: Metrics;
}

/**
 * The server's `clientError` handler: what Node's HTTP parser refuses (a malformed message, headers too
 * large, a request too slow) gets the documented answer in Bitrix24's envelope, with an X-Request-Id,
 * instead of Node's bare `400 Bad Request`. The connection is closed after it; a client that is gone
 * (reset, or closed mid-request) just has its socket destroyed.
 */
export function clientErrorHandler(
  options: ClientErrorOptions,
): (error: Error & { code?: string; reason?: string }, socket: Socket) => void {
  return (error, socket) => {
    const answer = answerFor(error, options);
    // An answer already begun cannot be replaced: the connection is all that can go.
    const begun = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (!answer || !socket.writable || begun) {
      socket.destroy();
      return;
    }
    const { status, code, requestId } = writeError(socket, answer.code, answer.description);
    options.metrics?.countRequest({ operation: 'http-parser', status, code, team: '-' });
    options.logger.info({ reqId: requestId, route: 'http-parser', status, code, parser: error.code }, 'request');
  };
}

/**
 * `CONNECT host:port` (a proxy's method; Node hands it to a listener of its own, or drops the connection):
 * 405, as for any method a path does not serve.
 */
export function connectHandler(
  options: Pick<ClientErrorOptions, 'metrics'> & { logger?: Logger },
): (request: unknown, socket: Socket) => void {
  return (_request, socket) => {
    const { status, code, requestId } = writeError(
      socket,
      'METHOD_NOT_ALLOWED',
      'Method CONNECT is not allowed: this gateway is not a proxy',
      {
        Allow: 'GET, HEAD, POST',
      },
    );
    options.metrics?.countRequest({ operation: 'http-parser', status, code, team: '-' });
    options.logger?.info({ reqId: requestId, method: 'CONNECT', route: 'http-parser', status, code }, 'request');
  };
}

/**
 * The security headers every answer of the app carries (answer-headers.ts's one list), as header lines for an
 * answer written straight to the socket, which Node's response class never sees.
 */
const securityLines = Object.entries(SECURITY_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');

/** Writes one error answer in Bitrix24's envelope straight to the socket, then closes it. */
function writeError(socket: Socket, errorCode: ErrorCode, description: string, headers: Record<string, string> = {}) {
  const { status, body } = gatewayError(errorCode, description);
  const payload = JSON.stringify(body);
  const requestId = randomUUID();
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(payload)}\r\n` +
      `X-Request-Id: ${requestId}\r\n` +
      securityLines +
      `Date: ${new Date().toUTCString()}\r\n` +
      extra +
      'Connection: close\r\n\r\n' +
      payload,
  );
  // Whatever a route's handler still writes for a request it had begun goes nowhere.
  socket.destroySoon();
  return { status, code: body.error, requestId };
}

function answerFor(
  error: Error & { code?: string; reason?: string },
  options: ClientErrorOptions,
): { code: ErrorCode; description: string } | undefined {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        code: 'REQUEST_TIMEOUT',
        description: `The request did not arrive in time: headers within ${options.headersTimeoutMs} ms, the whole request within ${options.requestTimeoutMs} ms`,
      };
    case 'HPE_HEADER_OVERFLOW':
      return {
        code: 'HEADERS_TOO_LARGE',
        description: `The request's headers are larger than ${options.maxHeaderBytes} bytes`,
      };
    // The client reset the connection, or closed it before its request was whole: nobody to answer.
    case 'ECONNRESET':
    case 'HPE_INVALID_EOF_STATE':
      return undefined;
    default:
      // llhttp's reasons are fixed texts ("Duplicate Content-Length"), never the request's bytes.
      return {
        code: 'INVALID_HTTP_REQUEST',
        description: `The request is not valid HTTP/1.1${error.reason ? `: ${error.reason}` : ''}`,
      };
  }
}
