#!/usr/bin/env python3
# What one `stats` call costs the loop with N pipe containers held (docs/benchmarks.md,
# "What one `stats` costs the loop"): stats_cost.py SOCKET. Prints the median latency of 30
# calls and the daemon's fd count at 0, 1000, 2000 and 3000 held, then deletes them.
import os, sys, time, statistics
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmapi import conn, call
f=conn(sys.argv[1])
def t(n):
    ts=[]
    for i in range(n):
        a=time.perf_counter(); r=call(f,10**6+i,"stats",{}); ts.append((time.perf_counter()-a)*1e3)
    assert r["proc_fds"]==r["ledger_fds"] and r["unaccounted_fds"]==[], r
    return statistics.median(ts), r["proc_fds"]
print("0 held: stats ms, fds", t(30))
ids=[]
for n in (1000,2000,3000):
    while len(ids)<n:
        i=len(ids)
        cid=call(f,i*2+1,"create",{"args":["sleep","1000"],"tty":False})["id"]
        call(f,i*2+2,"start",{"id":cid}); ids.append(cid)
    print(n,"held: stats ms, fds", t(30))
for i,c in enumerate(ids):
    call(f,5*10**6+i,"delete",{"id":c,"force":True})
