#!/usr/bin/env python3
# One big pipe log deleted while a second client pings: stall.py SOCKET MIB (docs/benchmarks.md, "The loop while a container with a big log is deleted").
import sys, time, threading
from rmapi import conn, call
path=sys.argv[1]; mib=int(sys.argv[2])
f=conn(path)
cid=call(f,1,"create",{"args":["sh","-c",f"yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -c {mib*1048576}"],"tty":False})["id"]
call(f,2,"start",{"id":cid}); call(f,3,"wait",{"id":cid})
g=conn(path); worst=[0.0]; stop=[False]; n=[0]
def pinger():
    i=100
    while not stop[0]:
        i+=1; t=time.perf_counter(); call(g,i,"version",{}); d=time.perf_counter()-t
        worst[0]=max(worst[0],d); n[0]+=1
th=threading.Thread(target=pinger); th.start(); time.sleep(0.2)
w0=worst[0]; worst[0]=0
t=time.perf_counter(); call(f,4,"delete",{"id":cid}); dd=time.perf_counter()-t
time.sleep(0.1); stop[0]=True; th.join()
print(f"log {mib} MiB: delete answered in {dd*1000:.1f} ms; worst version latency before {w0*1000:.2f} ms, around the delete {worst[0]*1000:.2f} ms")
