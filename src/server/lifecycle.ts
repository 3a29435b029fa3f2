import type { HttpBindings } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';

/** What graceful shutdown needs to know. */
export class Lifecycle {
  inFlight = 0;
  shuttingDown = false;
  /** Called after each answer is written while stopping (the server closes the connections now idle). */
  onAnswerWritten: () => void = () => undefined;
  #idle: (() => void)[] = [];
  /** Answers not yet written on each connection: more than one when a client pipelines. */
  readonly #unwritten = new WeakMap<object, number>();

  /** Resolves when no request is in flight. */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  readonly track: MiddlewareHandler = async (c, next) => {
    const { incoming, outgoing } = (c.env as Partial<HttpBindings> | undefined) ?? {};
    // A pipelined request's answer gets its socket only when its turn comes; the request has it at once.
    const connection: object = incoming?.socket ?? c;
    this.inFlight += 1;
    this.#unwritten.set(connection, (this.#unwritten.get(connection) ?? 0) + 1);
    outgoing?.once('close', () => {
      this.#unwritten.set(connection, (this.#unwritten.get(connection) ?? 1) - 1);
      if (this.shuttingDown) this.onAnswerWritten();
    });
    try {
      await next();
      // A stopping server closes each connection after its last answer; a request pipelined behind this
      // one still gets its own answer (503 GATEWAY_SHUTTING_DOWN), not a closed connection.
      if (this.shuttingDown && this.#unwritten.get(connection) === 1) c.header('Connection', 'close');
    } finally {
      if (!outgoing) this.#unwritten.set(connection, (this.#unwritten.get(connection) ?? 1) - 1);
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  };
}
