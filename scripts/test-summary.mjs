// The closing line of `make test`: the tests every runner of the run counted, added up, as one
// "N passed, N failed, N skipped" line (CI reads a run's last lines for it). Each runner wrote its report
// into reports/ during this run; a report that is missing, or a run that counted no test, fails.
import { readFileSync } from 'node:fs';

/** vitest's json reporter. */
function vitest(path) {
  const report = JSON.parse(readFileSync(path, 'utf8'));
  return {
    passed: report.numPassedTests,
    failed: report.numFailedTests,
    skipped: report.numPendingTests + report.numTodoTests,
  };
}

/** A JUnit XML report (Schemathesis): the counts of its <testsuites> element. */
function junit(path) {
  const xml = readFileSync(path, 'utf8');
  const suites = /<testsuites\b([^>]*)>/.exec(xml);
  if (!suites) throw new Error(`${path}: no <testsuites> element`);
  const count = (name) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(suites[1])?.[1] ?? Number.NaN);
  const failed = count('failures') + count('errors');
  const skipped = count('skipped');
  return { passed: count('tests') - failed - skipped, failed, skipped };
}

const reports = [
  ['unit (vitest)', vitest, 'reports/unit/vitest.json'],
  ['contract (Schemathesis)', junit, 'reports/contract/junit.xml'],
  ['contract self-test (vitest)', vitest, 'reports/contract/selftest.json'],
  ['browser (vitest)', vitest, 'reports/browser/vitest.json'],
];

const total = { passed: 0, failed: 0, skipped: 0 };
let problems = 0;
for (const [name, read, path] of reports) {
  try {
    const counts = read(path);
    if (![counts.passed, counts.failed, counts.skipped].every(Number.isInteger)) throw new Error('unreadable counts');
    console.log(`  ${name}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped (${path})`);
    for (const key of Object.keys(total)) total[key] += counts[key];
  } catch (error) {
    console.log(`  ${name}: no report at ${path} (${error.message})`);
    problems++;
  }
}
if (total.passed === 0) problems++;
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(problems > 0 || total.failed > 0 ? 1 : 0);
