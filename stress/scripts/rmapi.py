"""The daemon's line-delimited JSON API for the scripts here (one request, its reply;
events and other replies on the same connection are skipped)."""
import json
import socket


def conn(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s.makefile('rwb')


def call(f, i, method, params):
    """Sends request `i` and returns its result; exits naming the method on an error."""
    f.write((json.dumps({"v": 1, "id": i, "method": method, "params": params}) + "\n").encode())
    f.flush()
    while True:
        m = json.loads(f.readline())
        if m.get("id") == i and "event" not in m:
            if not m.get("ok"):
                raise SystemExit(f"{method}: {m}")
            return m["result"]
