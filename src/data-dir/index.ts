// The gateway's data folder (GATEWAY_DATA_DIR): one embedded SQLite database (better-sqlite3) for what must
// survive a restart in a gateway without Redis: idempotency keys now, the portals' OAuth tokens next. The
// folder is the process's alone: mode 0700, and SQLite's exclusive lock on the database, held from the
// open to the exit, refuses a second process (the operating system lets it go when the process dies, even
// by kill -9). Each capability keeps its own tables and their migrations in its own folder (`migrate`).
//
// Durability: every transaction is written and fsynced before it returns (WAL, synchronous=FULL), so a claim
// committed before its call is sent is there after kill -9, and after a host crash too, as far as the disk
// honours its flushes.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { DataDirError } from './error';

export type Sqlite = Database.Database;

export { DataDirError };

export interface DataDir {
  /** The folder's absolute path. */
  readonly path: string;
  readonly database: Sqlite;
  /**
   * Brings a capability's tables to its latest version: `steps[i]` takes version i to i + 1 (SQL run in one
   * transaction with the version's update). A database from a newer gateway (more steps done than known) is
   * refused rather than misread.
   */
  migrate(capability: string, steps: readonly string[]): void;
  /** Bytes the database's pages in use hold (its file less the free pages), for the stores' bounds. */
  usedBytes(): number;
  close(): void;
}

const FILE = 'gateway.sqlite';
/** The pages SQLite keeps in memory (KiB, negative by SQLite's convention): the store's memory whatever it holds. */
const CACHE_KIB = 8_192;

/** Opens (creating it if need be) and locks the data folder; throws DataDirError when it cannot be used. */
export function openDataDir(path: string): DataDir {
  const variable = 'GATEWAY_DATA_DIR';
  prepareFolder(path, variable);
  const file = join(path, FILE);
  let database: Sqlite;
  try {
    // The file is created 0600 before SQLite opens it (its journal takes the same mode).
    closeSync(openSync(file, 'a', 0o600));
    database = new Database(file, { timeout: 0, ...nativeBinding() });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM')
      throw new DataDirError(`${variable}: ${path} is read-only; the gateway must be able to write there (${code})`);
    throw new DataDirError(`${variable}: cannot open the database in ${path}: ${reason(error)}`);
  }
  try {
    // Exclusive before WAL: the lock is held until close, and the WAL needs no shared-memory file.
    database.pragma('locking_mode = EXCLUSIVE');
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = FULL');
    database.pragma(`cache_size = -${CACHE_KIB}`);
    database.pragma('mmap_size = 0');
    // Takes the exclusive lock now: a second process finds the database locked at once (timeout 0).
    database.exec(
      'BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS schema_versions (capability TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT; COMMIT',
    );
  } catch (error) {
    database.close();
    const code = (error as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
      throw new DataDirError(`${variable}: ${path} is in use by another gateway process (its database is locked)`);
    if (code.startsWith('SQLITE_READONLY'))
      throw new DataDirError(`${variable}: ${path} is read-only; the gateway must be able to write there`);
    throw new DataDirError(`${variable}: cannot use the database in ${path}: ${reason(error)}`);
  }
  const pageSize = Number(database.pragma('page_size', { simple: true }));
  const pageCount = database.prepare('PRAGMA page_count').pluck();
  const freePages = database.prepare('PRAGMA freelist_count').pluck();
  return {
    path,
    database,
    migrate: (capability, steps) => migrate(database, capability, steps),
    usedBytes: () => (Number(pageCount.get()) - Number(freePages.get())) * pageSize,
    close: () => {
      if (database.open) database.close();
    },
  };
}

function prepareFolder(path: string, variable: string): void {
  try {
    if (!existsSync(path)) mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new DataDirError(`${variable}: ${path} does not exist and cannot be created: ${reason(error)}`);
  }
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch (error) {
    throw new DataDirError(`${variable}: cannot read ${path}: ${reason(error)}`);
  }
  if (!stat.isDirectory()) throw new DataDirError(`${variable}: ${path} is not a folder`);
  // Only this process's user may read the keys (and, later, tokens) kept there.
  if ((stat.mode & 0o077) !== 0) {
    try {
      chmodSync(path, 0o700);
    } catch (error) {
      throw new DataDirError(`${variable}: ${path} is open to other users and cannot be made 0700: ${reason(error)}`);
    }
  }
}

function migrate(database: Sqlite, capability: string, steps: readonly string[]): void {
  const done = Number(
    database.prepare('SELECT version FROM schema_versions WHERE capability = ?').pluck().get(capability) ?? 0,
  );
  if (done > steps.length)
    throw new DataDirError(
      `GATEWAY_DATA_DIR: the ${capability} tables were written by a newer gateway (version ${done}; this one knows ${steps.length})`,
    );
  for (let version = done; version < steps.length; version++)
    database.transaction(() => {
      database.exec(steps[version]!);
      database
        .prepare(
          'INSERT INTO schema_versions (capability, version) VALUES (?, ?) ON CONFLICT (capability) DO UPDATE SET version = excluded.version',
        )
        .run(capability, version + 1);
    })();
}

/**
 * The built gateway (dist/, the Docker image) has no node_modules: the build copies better-sqlite3's native
 * module to dist/native/, and it is loaded from there. From the sources (tsx, tests),
 * better-sqlite3 finds its own.
 */
function nativeBinding(): { nativeBinding?: string } {
  // This code is in a chunk of its own in the build (dist/chunks/), loaded only without Redis.
  const built = fileURLToPath(new URL('../native/better_sqlite3.node', import.meta.url));
  return import.meta.url.includes('/dist/chunks/') && existsSync(built) ? { nativeBinding: built } : {};
}

function reason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}
