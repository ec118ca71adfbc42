#!/usr/bin/env python3
"""Time from spawning a server to its first 200 on GET /health, polled in-process (a curl process
per poll costs more than the startup itself). Prints the median of RUNS starts, in ms.

    python3 bench/startup.py BINARY [VAR=value ...]
"""
import os
import socket
import statistics
import subprocess
import sys
import time

RUNS = int(os.environ.get("STARTUP_RUNS", "15"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def once(binary, env):
    port = free_port()
    env = dict(env, BIND_ADDRESS="127.0.0.1:%d" % port)
    t0 = time.perf_counter()
    p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < 30:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                    c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    if b" 200 " in c.recv(64):
                        return (time.perf_counter() - t0) * 1000
            except OSError:
                if p.poll() is not None:
                    sys.exit("%s exited before answering GET /health" % binary)
                time.sleep(0.0002)
        sys.exit("%s did not answer within 30 s" % binary)
    finally:
        p.kill()
        p.wait()


def main():
    binary = sys.argv[1]
    env = {"PATH": os.environ.get("PATH", "")}
    env.update(a.split("=", 1) for a in sys.argv[2:])
    print("%.1f" % statistics.median(once(binary, env) for _ in range(RUNS)))


if __name__ == "__main__":
    main()
