export type { RedisCommands } from './backend';
export { causeOf, causeWords, type RedisCause } from './causes';
export { RedisConnection, type RedisConnectionOptions, type RedisReadiness, RedisUnavailableError } from './connection';
export { RedisDeadlineError, withDeadline } from './deadline';
export { redisClientOptions, redisClusterOptions } from './options';
