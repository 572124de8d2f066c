#!/usr/bin/env python3
# Holds N pipe `sleep` containers in a daemon: hold.py SOCKET N IDS.json (docs/benchmarks.md, "Paired A/B of two builds").
import json, sys
from rmapi import conn, call
n=int(sys.argv[2]); f=conn(sys.argv[1])
ids=[]
for i in range(n):
    cid=call(f,i*2+1,"create",{"args":["sleep","1000"],"tty":False})["id"]
    call(f,i*2+2,"start",{"id":cid}); ids.append(cid)
open(sys.argv[3],"w").write(json.dumps(ids))
