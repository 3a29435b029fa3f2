import type { Server, Socket } from 'node:net';
import type { Logger } from '../logger';

export interface WriteDeadlineOptions {
  /** How long an answer's bytes may wait for a caller that takes none of them. */
  timeoutMs: number;
  logger: Logger;
  /** The event that gives the sockets the answers are written to: 'secureConnection' for TLS. */
  event?: 'connection' | 'secureConnection';
}

/**
 * The write deadline: a connection whose answers wait in Node's buffer (past its high-water mark, the kernel's
 * own buffers full) while the caller takes none of them for `timeoutMs` is closed. A caller that pipelines
 * requests and never reads would otherwise hold its connection, and the answers it holds in the gateway's
 * memory, forever: Node stops reading its requests while the answers wait, but has no deadline of its own
 * (its timeouts cover requests that arrive slowly, not answers that leave slowly), and `server.timeout`
 * would also cut a connection that is only waiting for Bitrix24. Progress is a chunk of an answer taken by
 * the kernel (Node's buffer shrinking) or the buffer drained; a caller that reads, however slowly, keeps its
 * connection as long as each chunk leaves within the deadline. One timer checks every connection four times
 * a deadline, so a caller is closed between 1 and 1.25 deadlines after it stopped reading.
 */
export function watchWrites(server: Server, options: WriteDeadlineOptions): { stop(): void } {
  const { timeoutMs, logger } = options;
  const watched = new Map<Socket, { since: number; length: number } | undefined>();
  server.on(options.event ?? 'connection', (socket: Socket) => {
    watched.set(socket, undefined);
    socket.on('drain', () => watched.set(socket, undefined));
    socket.once('close', () => watched.delete(socket));
  });
  const check = () => {
    const now = performance.now();
    for (const [socket, waiting] of watched) {
      if (!socket.writableNeedDrain || socket.destroyed) {
        if (waiting) watched.set(socket, undefined);
        continue;
      }
      const length = socket.writableLength;
      if (!waiting || length < waiting.length) {
        watched.set(socket, { since: now, length });
        continue;
      }
      if (now - waiting.since < timeoutMs) continue;
      watched.delete(socket);
      try {
        logger.info(
          { pending: length, stalledMs: Math.round(now - waiting.since), writeTimeoutMs: timeoutMs },
          'Closed a connection whose caller took none of its answers within WRITE_TIMEOUT_MS',
        );
      } catch {
        // A log line is never worth keeping the connection.
      }
      socket.destroy();
    }
  };
  const timer = setInterval(check, Math.max(10, Math.floor(timeoutMs / 4))).unref();
  return { stop: () => clearInterval(timer) };
}
