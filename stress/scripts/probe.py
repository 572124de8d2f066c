#!/usr/bin/env python3
# Paired create -> running probes of two daemons: probe.py A.sock B.sock PAIRS (docs/benchmarks.md, "Paired A/B of two builds").
import sys, time, statistics
from rmapi import conn, call
a=conn(sys.argv[1]); b=conn(sys.argv[2]); n=int(sys.argv[3])
seq=[0]
def probe(f):
    seq[0]+=3
    t=time.perf_counter()
    cid=call(f, seq[0], "create", {"args":["sleep","1000"],"tty":True})["id"]
    call(f, seq[0]+1, "start", {"id":cid})
    d=time.perf_counter()-t
    call(f, seq[0]+2, "delete", {"id":cid,"force":True})
    return d
ra=[];rb=[];ratio=[]
for i in range(n):
    if i%2: x=probe(a); y=probe(b)
    else: y=probe(b); x=probe(a)
    ra.append(x); rb.append(y); ratio.append(y/x)
print(f"A p50 {statistics.median(ra)*1000:.3f} ms  B p50 {statistics.median(rb)*1000:.3f} ms  B/A median of pairs {statistics.median(ratio):.3f}")
