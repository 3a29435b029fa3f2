// Callers' keys rotated without a restart, from GATEWAY_API_KEYS_FILE: on SIGHUP at once, and on a change
// of the file once it is complete. A deploy script that truncates the file and writes it again slowly
// leaves it half-written for a while, and half a file can parse (a line short): such a set must never
// replace the one in force. So a change is taken only once three looks a poll apart found the same content
// and stat: the file stayed unchanged for two polls (4 s), and a writer's pause shorter than that never
// lets a partial file in (two reads one poll apart would not do: the first may come just after the
// truncation). Rename-based updates (a new file moved over the old, Kubernetes' secret volumes) are whole
// at once, and settle the same way.
import { statSync } from 'node:fs';
import { ConfigError } from '../config';
import type { Logger } from '../logger';

export type Trigger = 'SIGHUP' | 'file changed';

export interface KeyRotationOptions {
  file: string;
  /** The keys in force now (their teams are what a new set must keep, or say it drops). */
  current: Map<string, string>;
  /** The file's content now; throws ConfigError when it cannot be read. */
  read: () => string;
  /** The keys of a content, checked; throws ConfigError when they cannot be used. */
  parse: (content: string) => Map<string, string>;
  /** Puts a new set in force. */
  replace: (keys: Map<string, string>) => void;
  logger: Logger;
  /** How often the file is looked at; 2 s. */
  pollMs?: number;
}

export interface KeyRotation {
  /** Reads the file now and swaps the set (SIGHUP: the operator says the file is complete). */
  reload(trigger: Trigger): void;
  stop(): void;
}

/** What one look at the file found: its stat and content, or why it could not be read. */
type Observation = { content: string; stat: string } | { problems: string[] };

export function watchKeysFile(options: KeyRotationOptions): KeyRotation {
  const { file, logger, pollMs = 2_000 } = options;
  let teams = teamsOf(options.current);
  // The file's stat is taken before its content is read, synchronously: a change after this stat is seen
  // by the poll below, one before it by the read (fs.watchFile took its first stat later, asynchronously,
  // and a change made in between was its baseline, never seen).
  let watched = statOf(file);
  // The content of the set in force. The file as it is now holds it only if its keys are those in force:
  // it may have changed since the configuration read it, before the watch began (which would not see it).
  let inForce: string | undefined;
  let changedBeforeWatch = false;
  try {
    const now = options.read();
    if (sameKeys(options.parse(now), options.current)) inForce = now;
    else changedBeforeWatch = true;
  } catch {
    changedBeforeWatch = true;
  }
  let settling: NodeJS.Timeout | undefined;

  const notReloaded = (trigger: Trigger, problems: string[]) =>
    logger.warn({ trigger, problems }, 'API keys not reloaded: the current ones stay');

  const swap = (content: string, trigger: Trigger) => {
    if (content === inForce) {
      if (trigger === 'SIGHUP') logger.info({ trigger, teams }, 'API keys unchanged: the file holds the set in force');
      return;
    }
    let keys: Map<string, string>;
    try {
      keys = options.parse(content);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return notReloaded(trigger, error.problems);
    }
    const next = teamsOf(keys);
    const dropped = teams.filter((team) => !next.includes(team));
    options.replace(keys);
    inForce = content;
    teams = next;
    if (dropped.length === 0) logger.info({ trigger, teams: next }, 'API keys reloaded');
    else
      logger.warn(
        { trigger, teams: next, dropped },
        `API keys reloaded without team(s) the previous set had: ${dropped.join(', ')} (their keys no longer work)`,
      );
  };

  const observe = (): Observation => {
    try {
      const stat = statSync(file);
      return { content: options.read(), stat: `${stat.ino}:${stat.size}:${stat.mtimeMs}` };
    } catch (error) {
      return {
        problems:
          error instanceof ConfigError
            ? error.problems
            : [`GATEWAY_API_KEYS_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`],
      };
    }
  };
  const sameAs = (a: Observation, b: Observation) =>
    'content' in a && 'content' in b
      ? a.content === b.content && a.stat === b.stat
      : 'problems' in a && 'problems' in b && a.problems.join() === b.problems.join();

  /** Looks at the file every poll until it was found the same on three looks in a row, then swaps it in. */
  const settle = () => {
    if (settling) return;
    let last = observe();
    let unchanged = 0;
    const poll = () => {
      const seen = observe();
      unchanged = sameAs(seen, last) ? unchanged + 1 : 0;
      last = seen;
      if (unchanged < 2) {
        settling = setTimeout(poll, pollMs).unref();
        return;
      }
      settling = undefined;
      if ('content' in seen) swap(seen.content, 'file changed');
      else notReloaded('file changed', seen.problems);
    };
    settling = setTimeout(poll, pollMs).unref();
  };

  const watch = setInterval(() => {
    const now = statOf(file);
    if (now === watched) return;
    watched = now;
    settle();
  }, pollMs).unref();
  if (changedBeforeWatch) settle();

  return {
    reload: (trigger) => {
      let content: string;
      try {
        content = options.read();
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        return notReloaded(trigger, error.problems);
      }
      swap(content, trigger);
    },
    stop: () => {
      clearInterval(watch);
      clearTimeout(settling);
    },
  };
}

/** The file's identity and size and time of change, or why it could not be stat'ed. */
function statOf(file: string): string {
  try {
    const { mtimeMs, size, ino } = statSync(file);
    return `${ino}:${size}:${mtimeMs}`;
  } catch (error) {
    return `missing:${(error as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

function teamsOf(keys: Map<string, string>): string[] {
  return [...new Set(keys.values())].sort();
}

function sameKeys(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([key, team]) => b.get(key) === team);
}
