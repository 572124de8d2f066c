#!/usr/bin/env python3
"""Where a tty create -> running goes, step by step, from a low-overhead perf trace.

Record a churn at concurrency 1 against a daemon of your own, tracing only the syscalls
that carry the hand-offs (sendto 44, recvfrom 45, sendmsg 46, recvmsg 47, execve 59) and
process execs, then feed `perf script` to this file (docs/benchmarks.md, "Where create ->
running goes"):

    F='id == 44 || id == 45 || id == 46 || id == 47 || id == 59'
    perf record -q -o p.data -a -e raw_syscalls:sys_enter --filter "$F" \\
        -e raw_syscalls:sys_exit --filter "$F" -e sched:sched_process_exec -- \\
        ringmon-stress churn --socket S --tty --count 200
    perf script -i p.data -F comm,pid,time,event,trace | python3 critical_path.py

Each container is found through its init (comm "memfd:ringmon"): the job is the last
message it reads before its first send (Ready), Start the first it reads after it; the
messages before the job are the warm init's own (its cgroup join, the root built ahead).
The daemon's and the client's steps are the nearest matching syscalls around those. At
concurrency 1 nothing else interleaves; at higher concurrency the pairing is wrong.
"""
import re
import statistics
import sys

LINE = re.compile(r"\s*(.+?)\s+(\d+)\s+(?:\[\d+\]\s+)?([\d.]+):\s+(\S+):\s+(.*)")
SENDTO, RECVFROM, SENDMSG, RECVMSG, EXECVE = 44, 45, 46, 47, 59


def parse(stream):
    events = []
    for line in stream:
        m = LINE.match(line)
        if not m:
            continue
        comm, pid, t, event, rest = m.groups()
        t = float(t) * 1e3  # ms
        if event.endswith("sys_enter"):
            events.append((t, comm, int(pid), "in", int(rest.split()[1]), None))
        elif event.endswith("sys_exit"):
            nr, ret = re.match(r"NR (\d+) = (-?\d+)", rest).groups()
            events.append((t, comm, int(pid), "out", int(nr), int(ret)))
        elif event.endswith("sched_process_exec"):
            events.append((t, comm, int(pid), "exec", 0, None))
    events.sort()
    return events


def role(comm):
    if comm.startswith("memfd"):
        return "init"
    if comm.startswith("ringmon-stre"):
        return "client"
    if comm == "ringmon":
        return "daemon"
    return comm


STEPS = [
    "client sends create -> daemon reads it",
    "daemon: create -> job sent",
    "job sent -> init reads it",
    "init: job -> Ready sent",
    "Ready sent -> daemon reads it",
    "daemon: Ready -> created reply",
    "created reply -> client reads it",
    "client: created -> start sent",
    "start sent -> daemon reads it",
    "daemon: start -> Start sent",
    "Start sent -> init reads it",
    "init: Start -> execve",
    "execve -> exec done",
    "exec done -> daemon sees EOF",
    "daemon: EOF -> running reply",
    "running reply -> client reads it",
]


def containers(ev):
    by_init = {}
    for i, e in enumerate(ev):
        if role(e[1]) == "init":
            by_init.setdefault(e[2], []).append(i)
    # Its exec of the command carries the command's name.
    for i, e in enumerate(ev):
        if e[3] == "exec" and e[2] in by_init and role(e[1]) != "init":
            by_init[e[2]].append(i)
    for idx in by_init.values():
        idx.sort()

    def back(i, pred):
        while i is not None and i > 0:
            i -= 1
            if pred(ev[i]):
                return i
        return None

    def fwd(i, pred):
        while i is not None and i < len(ev) - 1:
            i += 1
            if pred(ev[i]):
                return i
        return None

    def is_(who, kind, nr, ret=None):
        def pred(e):
            if role(e[1]) != who or e[3] != kind or e[4] != nr:
                return False
            return ret is None or ret(e[5])
        return pred

    for pid, idx in by_init.items():
        own = [i for i in idx if role(ev[i][1]) == "init"]
        sends = [i for i in own if ev[i][3] == "in" and ev[i][4] == SENDMSG]
        if not sends:
            continue
        ready = sends[0]
        reads = [i for i in own if ev[i][3] == "out" and ev[i][4] == RECVMSG and ev[i][5] > 0]
        before = [i for i in reads if i < ready]
        after = [i for i in reads if i > ready]
        born = next((i for i in idx if ev[i][3] == "exec" and role(ev[i][1]) == "init"), None)
        if not before or not after:
            continue
        job, start = before[-1], after[0]
        execve = next((i for i in own if i > start and ev[i][3] == "in" and ev[i][4] == EXECVE), None)
        done = next((i for i in idx if i > execve and ev[i][3] == "exec"), None) if execve else None
        if execve is None or done is None:
            continue
        job_sent = back(job, is_("daemon", "in", SENDMSG))
        create_read = back(job_sent, is_("daemon", "out", RECVFROM, lambda r: r > 0))
        create_sent = back(create_read, is_("client", "in", SENDTO))
        ready_read = fwd(ready, is_("daemon", "out", RECVMSG, lambda r: r > 0))
        created = fwd(ready_read, is_("daemon", "in", SENDTO))
        created_read = fwd(created, is_("client", "out", RECVFROM))
        start_sent = fwd(created_read, is_("client", "in", SENDTO))
        start_read = fwd(start_sent, is_("daemon", "out", RECVFROM, lambda r: r > 0))
        start_fwd = back(start, is_("daemon", "in", SENDMSG))
        eof = fwd(done, is_("daemon", "out", RECVMSG, lambda r: r == 0))
        running = fwd(eof, is_("daemon", "in", SENDTO))
        running_read = fwd(running, is_("client", "out", RECVFROM))
        points = [create_sent, create_read, job_sent, job, ready, ready_read, created,
                  created_read, start_sent, start_read, start_fwd, start, execve, done, eof,
                  running, running_read]
        if None in points:
            continue
        t = [ev[i][0] for i in points]
        warm = [i for i in before[:-1]]
        yield {
            "steps": [t[k + 1] - t[k] for k in range(len(t) - 1)],
            "create_to_created": t[7] - t[0],
            "start_to_running": t[16] - t[8],
            "create_to_running": t[16] - t[0],
            # The warm init's birth: its exec, its last message before the job read.
            "born_to_job_sent": (t[2] - ev[born][0]) if born is not None else None,
            "warm_read_after_job_sent": any(ev[i][0] > t[2] for i in warm),
        }


def main():
    rows = list(containers(parse(sys.stdin)))
    if not rows:
        sys.exit("no container found in the trace (see the usage at the top of this file)")
    print(f"{len(rows)} containers; p50 and mean of each step, in microseconds")
    for k, name in enumerate(STEPS):
        v = [r["steps"][k] * 1000 for r in rows]
        print(f"  {name:38s} p50 {statistics.median(v):8.1f}   mean {statistics.mean(v):8.1f}")
    for key in ["create_to_created", "start_to_running", "create_to_running"]:
        v = [r[key] * 1000 for r in rows]
        print(f"  {key:38s} p50 {statistics.median(v):8.1f}")
    born = [r["born_to_job_sent"] for r in rows if r["born_to_job_sent"] is not None]
    if born:
        print(f"  warm init exec -> its job sent         p50 {statistics.median(born) * 1000:8.1f}")
    late = sum(r["warm_read_after_job_sent"] for r in rows)
    print(f"  creates whose warm init was still reading its own messages (join, root ahead) "
          f"when the job was sent: {late} of {len(rows)}")


if __name__ == "__main__":
    main()
