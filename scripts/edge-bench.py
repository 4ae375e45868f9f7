#!/usr/bin/env python3
"""Measures the HTTP edge of the embedded default (SQLite store, local
queue) on a real `ishara serve` process:

- how long single reports wait while a 1 MiB NDJSON batch is being taken;
- how long a batch of 70,000 identical lines takes, and how long the
  worker takes to drain them from the local queue;
- the service's resident memory (VmRSS): at start, once warm (after the
  1 MiB batch is enriched), at its peak, and after the large batch has
  drained, so that "after" compares with "warm", not with a cold start.

    python3 scripts/edge-bench.py [path/to/ishara]

The binary defaults to target/release/ishara, else target/debug/ishara.
Figures of a debug build compare only with figures of a debug build.
"""

import json
import os
import sqlite3
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TOKEN = "bench-admin-token-0123456789"


def binary():
    if len(sys.argv) > 1:
        return sys.argv[1]
    for profile in ("release", "debug"):
        path = os.path.join("target", profile, "ishara")
        if os.path.exists(path):
            return path
    sys.exit("no ishara binary: cargo build --release first")


def rss_mib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def anon_mib(pid):
    """Heap and stacks: what the allocator holds, without mapped files."""
    return rss_mib(pid, "RssAnon")


def start(path, data_dir):
    env = dict(
        os.environ,
        ISHARA_DATA_DIR=data_dir,
        ISHARA_HTTP__LISTEN="127.0.0.1:0",
        ISHARA_API__TOKEN=TOKEN,
        ISHARA_RULES_DIR=os.path.join(data_dir, "rules"),
        ISHARA_LOG="warn",
    )
    os.makedirs(env["ISHARA_RULES_DIR"])
    proc = subprocess.Popen(
        [path, "serve"], env=env, stdout=subprocess.PIPE, text=True
    )
    for line in proc.stdout:
        for word in line.split():
            if word.startswith("http://"):
                port = int(word.rstrip("/").rsplit(":", 1)[1])
                threading.Thread(target=proc.stdout.read, daemon=True).start()
                return proc, port
    sys.exit("ishara exited before listening")


def post(port, content_type, body, timeout=300):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/reports",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def raw_post(port, body):
    """Sends a whole NDJSON request; returns the socket to read it from."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/x-ndjson\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def read_all(sock):
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def status_and_json(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def queued(data_dir):
    """Reports still waiting in the local queue (ready or in flight)."""
    with sqlite3.connect(f"file:{data_dir}/queue.sqlite?mode=ro", uri=True, timeout=30) as db:
        return db.execute("SELECT count(*) FROM queue").fetchone()[0]


def wait_drained(data_dir, limit=300):
    started = time.monotonic()
    while queued(data_dir) and time.monotonic() - started < limit:
        time.sleep(0.2)
    return time.monotonic() - started


def one_mib_batch(port):
    lines = []
    size = 0
    while size < 1024 * 1024 - 200:
        line = f'{{"id":"big-{len(lines)}","text":"Flood water rising at the bridge, report {len(lines)}"}}\n'
        lines.append(line)
        size += len(line)
    body = "".join(lines).encode()
    started = time.monotonic()
    sock = raw_post(port, body)
    sent = time.monotonic()
    latencies = []
    done = threading.Event()
    answer = {}

    def take():
        answer["raw"] = read_all(sock)
        answer["at"] = time.monotonic()
        done.set()

    threading.Thread(target=take).start()
    n = 0
    while not done.is_set():
        t = time.monotonic()
        status, _ = post(port, "application/json", json.dumps({"id": f"single-{n}", "text": "Cholera in Dadaab"}).encode())
        latencies.append(time.monotonic() - t)
        assert status == 202, status
        n += 1
    status, reply = status_and_json(answer["raw"])
    print(f"1 MiB batch: {len(lines)} lines, {status}, accepted {reply['accepted']}, "
          f"answered {answer['at'] - started:.2f} s after it was sent ({sent - started:.2f} s to send)")
    print(f"  single reports during it: {len(latencies)}, "
          f"max {max(latencies) * 1000:.0f} ms, median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms")


def identical_lines(port, pid, count=70_000):
    body = b'{"text":"x"}\n' * count
    peak = [rss_mib(pid)]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(pid))
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    started = time.monotonic()
    status, reply = status_and_json(read_all(raw_post(port, body)))
    took = time.monotonic() - started
    print(f"{count:,} identical lines: {status}, accepted {reply['accepted']}, {took:.2f} s")
    return done, peak


def main():
    path = binary()
    with tempfile.TemporaryDirectory() as data_dir:
        proc, port = start(path, data_dir)
        try:
            time.sleep(2)
            pid = proc.pid
            print(f"binary {path}, pid {pid}")
            print(f"RSS at start: {rss_mib(pid):.0f} MiB")
            one_mib_batch(port)
            wait_drained(data_dir)
            time.sleep(2)
            warm, warm_anon = rss_mib(pid), anon_mib(pid)
            print(f"RSS warm (the 1 MiB batch enriched and stored): {warm:.0f} MiB, "
                  f"anonymous {warm_anon:.0f} MiB")
            # Twice by default (ROUNDS=n for more): later rounds show whether what stays is a
            # working size or a leak that grows with every batch.
            for round in range(1, int(os.environ.get("ROUNDS", "2")) + 1):
                print(f"round {round}")
                done, peak = identical_lines(port, pid)
                print(f"  drained by the worker {wait_drained(data_dir):.1f} s later")
                done.set()
                print(f"  RSS peak during the 70,000 lines: {peak[0]:.0f} MiB")
                waited = 0
                for wait in (1, 5, 20):
                    time.sleep(wait - waited)
                    waited = wait
                    print(f"  RSS {wait} s after draining: {rss_mib(pid):.0f} MiB "
                          f"({rss_mib(pid) - warm:+.0f} MiB over warm), "
                          f"anonymous {anon_mib(pid):.0f} MiB ({anon_mib(pid) - warm_anon:+.0f})")
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
