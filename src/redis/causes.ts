// Why Redis failed, in words an operator can act on, from a fixed set (so that it can be a metric label too,
// and so that no text a server or a socket produced, which might quote a URL, reaches a log).
import { RedisDeadlineError } from './deadline';

export type RedisCause =
  | 'refused'
  | 'timed out'
  | 'authentication failed'
  | 'not permitted'
  | 'TLS mismatch'
  | 'not Redis'
  | 'wrong type at a key'
  | 'out of memory'
  | 'db index out of range'
  | 'host not found'
  | 'connection closed'
  | 'not connected'
  | 'cluster down'
  | 'not a cluster'
  | 'a cluster'
  | 'failed';

/** What each cause means, for the log line. */
export const causeWords: Record<RedisCause, string> = {
  refused: 'connection refused (ECONNREFUSED): nothing listens there',
  'timed out': 'timed out: Redis did not answer within REDIS_COMMAND_TIMEOUT_MS (stalled, overloaded or unreachable)',
  'authentication failed': 'authentication failed (NOAUTH or WRONGPASS): check the password in REDIS_URL',
  'not permitted':
    'not permitted (NOPERM): the ACL user lacks a command or key the gateway needs (EVAL, EVALSHA, GET, SET, INFO)',
  'TLS mismatch':
    'TLS mismatch: rediss:// to a plain server (the TLS handshake gets no answer), or redis:// to a TLS one (the connection is reset or answered in TLS)',
  'not Redis': 'not Redis: the server there does not speak the Redis protocol',
  'wrong type at a key':
    "wrong type at a key (WRONGTYPE): another program uses the gateway's keys; change REDIS_KEY_PREFIX",
  'out of memory': 'out of memory (OOM): Redis is at its maxmemory and refuses writes under noeviction',
  'db index out of range':
    "database index out of range: this Redis has no database of REDIS_URL's /<db> (16 by default, /0 to /15, by its databases setting); use one it has",
  'host not found': 'host not found: the host in REDIS_URL does not resolve',
  'connection closed': 'the connection closed',
  'not connected': 'not connected',
  'cluster down':
    'the Redis Cluster is down (CLUSTERDOWN): a hash slot has no master that answers, or the nodes do not agree yet; it serves again once every slot has one',
  'not a cluster':
    'REDIS_CLUSTER=true, but the Redis at REDIS_URL is not a node of a cluster (cluster support disabled): set REDIS_CLUSTER=false, or name a node of the cluster',
  'a cluster':
    'the Redis at REDIS_URL is a node of a Redis Cluster (MOVED: another node holds the key): set REDIS_CLUSTER=true',
  failed: 'a command failed',
};

/**
 * The cause of a failure of the client or of a command; `tls`: the URL is rediss://; `handshaking`: the
 * socket connected but Redis has not yet answered the client's hello.
 */
export function causeOf(error: unknown, tls: boolean, handshaking = false): RedisCause {
  if (error instanceof RedisDeadlineError) return 'timed out';
  const name = error instanceof Error ? error.constructor.name : '';
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'ECONNREFUSED') return 'refused';
  // Redis's TLS port resets a plain client's connection at its first bytes.
  if (handshaking && !tls && (code === 'ECONNRESET' || code === 'EPIPE')) return 'TLS mismatch';
  if (/^(NOAUTH|WRONGPASS)\b/.test(message)) return 'authentication failed';
  if (/^NOPERM\b/.test(message)) return 'not permitted';
  if (/^WRONGTYPE\b/.test(message)) return 'wrong type at a key';
  if (/^OOM\b/.test(message)) return 'out of memory';
  if (/^CLUSTERDOWN\b/.test(message)) return 'cluster down';
  // CLUSTER SLOTS on a Redis without cluster support, when REDIS_CLUSTER=true asked for a cluster.
  if (/^ERR\b.*\bcluster support disabled\b/i.test(message)) return 'not a cluster';
  // A single client's command for a slot another node of a cluster holds (a cluster client follows MOVED).
  if (/^(MOVED|ASK) \d+ /.test(message)) return 'a cluster';
  // The SELECT of REDIS_URL's /<db>, sent on every connection, refused.
  if (/^ERR\b.*\bDB index is out of range\b/i.test(message)) return 'db index out of range';
  // 0x15 and 0x16 open a TLS alert and a TLS handshake: a TLS server answering a plain client.
  if (/Unknown RESP type (21|22)\b/.test(message)) return 'TLS mismatch';
  // A plain server never answers a TLS ClientHello: the handshake runs into the connect timeout.
  if (tls && (name === 'ConnectionTimeoutError' || /SSL|TLS|EPROTO|wrong version/i.test(`${code} ${message}`)))
    return 'TLS mismatch';
  if (/Unknown RESP type/.test(message)) return 'not Redis';
  if (name === 'ConnectionTimeoutError' || name === 'SocketTimeoutError' || code === 'ETIMEDOUT') return 'timed out';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (name === 'SocketClosedUnexpectedlyError' || code === 'ECONNRESET' || code === 'EPIPE') return 'connection closed';
  if (name === 'ClientOfflineError' || name === 'ClientClosedError') return 'not connected';
  return 'failed';
}

/** Causes that only follow another (a socket closing after a refusal): not worth a log line of their own. */
export const followOnCauses: ReadonlySet<RedisCause> = new Set(['connection closed', 'not connected']);
