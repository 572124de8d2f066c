#!/usr/bin/env python3
# Holds N pipe `sleep` containers in a daemon: hold.py SOCKET N IDS.json (docs/benchmarks.md, "Paired A/B of two builds").
import socket, json, sys
n=int(sys.argv[2]); path=sys.argv[1]
s=socket.socket(socket.AF_UNIX); s.connect(path); f=s.makefile('rwb')
ids=[]
def call(i, method, params):
    f.write((json.dumps({"v":1,"id":i,"method":method,"params":params})+"\n").encode()); f.flush()
    while True:
        m=json.loads(f.readline())
        if m.get("id")==i and "event" not in m: return m
for i in range(n):
    r=call(i*2+1,"create",{"args":["sleep","1000"],"tty":False})
    cid=r["result"]["id"]; call(i*2+2,"start",{"id":cid}); ids.append(cid)
open(sys.argv[3],"w").write(json.dumps(ids))
