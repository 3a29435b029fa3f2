/** The gateway answers for Bitrix24's limits itself, without calling it. */
export class RateLimitRejection extends Error {
  constructor(
    readonly code: 'QUERY_LIMIT_EXCEEDED' | 'OPERATION_TIME_LIMIT',
    readonly reason: 'queue-full' | 'wait-too-long' | 'operating-time' | 'shutting-down',
    /** For the `Retry-After` header. */
    readonly retryAfterSeconds: number,
  ) {
    super(`${code}: ${reason}`);
    this.name = 'RateLimitRejection';
  }
}
