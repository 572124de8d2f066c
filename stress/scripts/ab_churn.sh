#!/bin/bash
# Alternating churn runs of two ringmon builds (docs/benchmarks.md, "SCHED_IDLE off"):
#   stress/scripts/ab_churn.sh ROUNDS A_RINGMON B_RINGMON [more churn args]
# Each round runs `churn --count 300 --concurrency 1 --tty --floor --json` with a daemon of
# A's binary, then of B's, and prints containers/s and the p50s (ms) of create, start and
# create -> running, the floor's exec done, and the median running/floor ratio. Swap A and
# B for a second set, so that neither build always runs first.
set -euo pipefail
S=${S:-target/x86_64-unknown-linux-gnu/release/ringmon-stress}
rounds=$1 a=$2 b=$3
shift 3
echo "build cps create_p50 start_p50 to_running_p50 floor_exec_p50 ratio"
for _ in $(seq "$rounds"); do
    for v in A B; do
        bin=$a
        [ "$v" = B ] && bin=$b
        "$S" churn --count 300 --concurrency 1 --tty --floor --json --ringmon "$bin" "$@" |
            python3 -c "
import json, sys
d = json.load(sys.stdin)
f = (d['create']['p50_ms'], d['start']['p50_ms'], d['to_running']['p50_ms'],
     d['floor']['exec']['p50_ms'], d['floor']['running_ratio_median'])
print('$v', round(d['containers_per_second'], 1), *(round(x, 3) for x in f))"
    done
done
