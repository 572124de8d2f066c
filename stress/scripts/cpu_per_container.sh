#!/bin/bash
# CPU per container of a churn, for one ringmon build (docs/benchmarks.md, "The zygote"):
#   C=CONCURRENCY stress/scripts/cpu_per_container.sh RINGMON_BIN
# Starts a daemon of BIN, runs `churn --count 300 --tty` against it, and prints the
# containers/s, the daemon's own CPU (its /proc stat: utime + stime, io-wq workers
# included) and the whole machine's busy CPU (/proc/stat: user, nice, system, irq,
# softirq) per container, in ms. Alternate two builds' runs to compare them.
# DAEMON_ARGS adds daemon flags (e.g. DAEMON_ARGS="--warm-inits 2"); the daemon's state
# (and the containers' logs) go under TMPDIR (default /tmp).
set -euo pipefail
S=${S:-target/x86_64-unknown-linux-gnu/release/ringmon-stress}
bin=$1
root=$(mktemp -d "${TMPDIR:-/tmp}/ringmon-cpu.XXXX")
mkfifo "$root/ready"
"$bin" --socket "$root/s.sock" daemon --root "$root" --cgroup-parent "ringmon-cpu-$$" \
    --background ${DAEMON_ARGS:-} >"$root/ready" 2>/dev/null &
pid=$!
# Readiness is the daemon's "ready <pid>" line.
read -r _ <"$root/ready"
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
own() { awk '{print $14+$15}' "/proc/$pid/stat"; }
d0=$(own) m0=$(busy)
"$S" churn --socket "$root/s.sock" --count 300 --concurrency "${C:-1}" --tty --json >"$root/j"
d1=$(own) m1=$(busy)
tick=$(getconf CLK_TCK)
python3 - "$root/j" "$d0" "$d1" "$m0" "$m1" "$tick" "$(basename "$bin")" <<'PY'
import json, sys
j, d0, d1, m0, m1, tick, name = sys.argv[1:]
d = json.load(open(j))
per = lambda a, b: (int(b) - int(a)) * 1000 / int(tick) / 300
print(name, "cps", round(d["containers_per_second"], 1),
      "daemon_ms", round(per(d0, d1), 3), "machine_ms", round(per(m0, m1), 3))
PY
kill "$pid"
wait "$pid" || true
rm -rf "$root"
