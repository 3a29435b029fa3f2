// The closing check of `make test`: no process the run started from this checkout is still alive. A process
// counts when its environment carries TEST_CHECKOUT=<the checkout> (`make test` exports it, every process
// of the run inherits it, and src/test-support/processes.ts passes it on to a child given an environment of
// its own), or when it started after the outermost `make` above this script did, its working directory or
// its command line points into the checkout (one started with a bare environment some other way), and it
// is orphaned (adopted by init or a subreaper) or its parent counts.
// This script, make and their ancestors are left out. Each one found is printed and killed, and the check
// fails: a test must stop what it starts.
//
//   node scripts/leftover-processes.mjs [checkout]      (default: the current directory)
//
// Run by hand, with no make above it, it looks at every process, whenever started.
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';

const checkout = realpathSync(process.argv[2] ?? process.cwd());
const inside = (path) => path === checkout || path.startsWith(`${checkout}/`);

/** /proc/<pid>/stat: the fields after the command name, which may hold spaces and parentheses. */
function stat(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  return {
    name: text.slice(text.indexOf('(') + 1, close),
    state: fields[0],
    parent: Number(fields[1]),
    started: Number(fields[19]), // clock ticks after boot
  };
}

// This script and its ancestors; the run began when the outermost make among them started.
const ancestors = new Set();
let since = 0;
for (let pid = process.pid; pid > 1; ) {
  ancestors.add(pid);
  const { name, parent, started } = stat(pid);
  if (name === 'make') since = started;
  pid = parent;
}
const pointsInside = (arg) => [arg, ...arg.split('=').slice(1)].some((part) => inside(part.replace(/^file:\/\//, '')));

const found = [];
// Matched by cwd or command line only: counted when orphaned (its parent gone: adopted by init or a
// subreaper) or when its parent counts, so that a watcher someone runs in the checkout meanwhile, whose
// parent lives, is not taken for the run's.
const candidates = new Map();
const parents = new Map();
for (const entry of readdirSync('/proc')) {
  if (!/^\d+$/.test(entry)) continue;
  const pid = Number(entry);
  if (ancestors.has(pid)) continue;
  try {
    const { state, started, parent } = stat(pid);
    parents.set(pid, parent);
    if (state === 'Z') continue; // dead already
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    if (command.length === 0) continue; // a kernel thread
    const environment = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    let cwd = '';
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // Not readable: the other marks still count.
    }
    const marked = environment.includes(`TEST_CHECKOUT=${checkout}`);
    // One that was running before this run began is not the run's (a `make start` in another terminal).
    const why = [
      marked && 'TEST_CHECKOUT',
      started >= since && inside(cwd) && `cwd ${cwd}`,
      started >= since && command.some(pointsInside) && 'command line',
    ].filter(Boolean);
    const match = { pid, command: command.join(' '), why: why.join(', ') };
    if (marked) found.push(match);
    else if (why.length > 0) candidates.set(pid, match);
  } catch {
    // Gone meanwhile.
  }
}
const adopter = (pid) => pid === 1 || /^(systemd|init|tini|dumb-init)$/.test(safeName(pid));
function safeName(pid) {
  try {
    return stat(pid).name;
  } catch {
    return '';
  }
}
const counted = new Set(found.map(({ pid }) => pid));
for (let added = true; added; ) {
  added = false;
  for (const [pid, candidate] of candidates) {
    const parent = parents.get(pid);
    if (adopter(parent) || counted.has(parent)) {
      found.push({ ...candidate, why: `${candidate.why}, orphaned` });
      counted.add(pid);
      candidates.delete(pid);
      added = true;
    }
  }
}

if (found.length === 0) {
  console.log('leftover processes: none');
  process.exit(0);
}
console.log(`leftover processes: ${found.length} still running after the tests (killed now):`);
for (const { pid, command, why } of found) {
  console.log(`  ${pid} ${command.length > 200 ? `${command.slice(0, 200)}…` : command}   [${why}]`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone meanwhile.
  }
}
console.log('A test must stop what it starts: start processes with src/test-support/processes.ts.');
process.exit(1);
