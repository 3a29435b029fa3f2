// Raw HTTP/1.1 over a TCP socket, for requests no HTTP client would send: malformed messages, pipelining,
// slow senders. Answers are parsed by hand, as they arrived on the wire.
import { connect } from 'node:net';
import type { Answer } from './stack';

export interface RawOptions {
  /** Give up (and destroy the socket) after this long. Default 5000 ms. */
  timeoutMs?: number;
  /**
   * End the socket for writing once the bytes are sent. Default false: Node's server aborts a request whose
   * client half-closes before its answer, so requests that want one say `Connection: close` instead.
   */
  halfClose?: boolean;
}

export interface RawResult {
  /** Every byte the server sent, as latin1 text (one character a byte). */
  raw: string;
  /** The answers in the order they arrived (pipelined requests get several). */
  answers: Answer[];
  /** True when the server closed the connection before the timeout. */
  closedByServer: boolean;
  ms: number;
}

/** Sends `chunks` (strings or buffers, with a pause in ms between them when a number is given) to `url`'s host. */
export async function sendRaw(
  url: string,
  chunks: (string | Buffer | number)[],
  options: RawOptions = {},
): Promise<RawResult> {
  const { hostname, port } = new URL(url);
  const started = performance.now();
  const socket = connect(Number(port), hostname.replace(/^\[|\]$/g, ''));
  let raw = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (raw += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)));
  await new Promise((resolve) => socket.once('connect', resolve));
  for (const chunk of chunks) {
    if (typeof chunk === 'number') await new Promise((resolve) => setTimeout(resolve, chunk));
    else if (!socket.destroyed) socket.write(chunk);
  }
  if (options.halfClose && !socket.destroyed) socket.end();
  const timeout = new Promise<boolean>((resolve) =>
    setTimeout(() => resolve(false), options.timeoutMs ?? 5_000).unref(),
  );
  const closedByServer = await Promise.race([closed, timeout]);
  socket.destroy();
  return { raw, answers: parseHttpAnswers(raw), closedByServer, ms: performance.now() - started };
}

/** Raw HTTP/1.1 answers (Content-Length or chunked), one after the other. */
export function parseHttpAnswers(raw: string): Answer[] {
  const answers: Answer[] = [];
  let rest = raw;
  while (rest.startsWith('HTTP/')) {
    const split = rest.indexOf('\r\n\r\n');
    if (split < 0) break;
    const [statusLine, ...lines] = rest.slice(0, split).split('\r\n');
    const headers = new Headers(
      lines.map(
        (line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()] as [string, string],
      ),
    );
    let text = rest.slice(split + 4);
    let body = '';
    if (headers.get('transfer-encoding') === 'chunked') {
      let at = 0;
      for (;;) {
        const end = text.indexOf('\r\n', at);
        if (end < 0) break;
        const size = Number.parseInt(text.slice(at, end), 16);
        if (!size) {
          at = end + 4;
          break;
        }
        body += text.slice(end + 2, end + 2 + size);
        at = end + 2 + size + 2;
      }
      text = text.slice(at);
    } else {
      const length = Number(headers.get('content-length') ?? text.length);
      body = text.slice(0, length);
      text = text.slice(length);
    }
    answers.push({
      status: Number(statusLine?.split(' ')[1] ?? 0),
      headers,
      body: parseBody(Buffer.from(body, 'latin1').toString('utf8')),
    });
    rest = text;
  }
  return answers;
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
