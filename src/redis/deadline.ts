// The gateway's own deadline around a Redis command: node-redis drops a command's timeout once the command
// is written to the socket, so a stalled server (SIGSTOP, a full disk, a long script) would hold the request
// for the whole stall. The timer is unref'd and cleared, so it neither keeps the process up nor lingers.

/** A Redis command not answered within its deadline. */
export class RedisDeadlineError extends Error {
  constructor(ms: number) {
    super(`Redis did not answer within ${ms} ms`);
    this.name = 'RedisDeadlineError';
  }
}

/** `work`, or a RedisDeadlineError after `ms`, whichever comes first. */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisDeadlineError(ms)), ms);
    timer.unref();
  });
  // The command may still fail after its deadline: that failure is nobody's to handle.
  work.catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
