#!/usr/bin/env bash
# Runs the property suites (contract-tests/*.test.ts: the properties, the hostile bodies, the generators'
# own checks) once per seed, FC_SEED=FIRST..LAST, one run at a time, and prints one line per seed; every
# failing run's output is kept in reports/seeds/<seed>.log. Usage: scripts/property-seeds.sh FIRST LAST [FC_RUNS]
# SEEDS_ONLY=<vitest -t pattern> runs only those tests (the campaign of contract-tests/README.md leaves out
# the targeted requests and the matrix coverage, which no draw decides, to fit more seeds in the time).
set -uo pipefail
first=${1:?first seed}; last=${2:?last seed}; runs=${3:-200}
mkdir -p reports/seeds
# Two loops may run side by side (each seed's log is its own).
passed=0; failed=0
for seed in $(seq "$first" "$last"); do
  log=reports/seeds/$seed.log
  if FC_SEED=$seed FC_RUNS=$runs npx vitest run contract-tests/properties.test.ts contract-tests/hostile.test.ts \
    contract-tests/arbitraries.test.ts ${SEEDS_ONLY:+-t "$SEEDS_ONLY"} >"$log" 2>&1; then
    passed=$((passed + 1)); rm -f "$log"; echo "seed $seed: passed"
  else
    failed=$((failed + 1)); echo "seed $seed: FAILED (see $log)"
  fi
done
echo "seeds $first to $last, FC_RUNS=$runs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
