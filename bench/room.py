#!/usr/bin/env python3
"""Room bench (issue 18): one image restored onto N machines at once, three ways, same run,
same disk, same receivers on this host's loopback:

  wraith multicast  `wraith serve REPO --multicast IMAGE --clients N` + N x
                    `wraith restore mcast://127.0.0.1:PORT/IMAGE tN.img`
  wraith unicast    `wraith serve REPO` + N x `wraith restore http://127.0.0.1:PORT/:IMAGE tN.img`
  udpcast           `udp-sender --file disk.zst --min-receivers N` + N x
                    `udp-receiver --pipe 'zstd -dc' --file tN.img` (Clonezilla SE's pipeline
                    with a dd image: the same disk, compressed by `zstd -T0 -3`)

For each: wall time from the first receiver's start to the last one's end, and the bytes the
server wrote (its /proc/PID/io `wchar`: every byte it put on a socket, whatever the protocol).
Both senders are capped at the same rate (--rate, Mbit/s). Targets are checked against the
image with `wraith verify --against` (wraith's) or compared with the disk (udpcast's), untimed.

  bench/room.py --wraith target/release/wraith [--size 1G] [--receivers 1,2,4] [--rate 900]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the disk generator and helpers)

MiB = 1 << 20


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wchar(pid):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def wait_http(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def receivers(cmds, work):
    """Starts every receiver at once; returns (seconds from first start to last end, logs)."""
    t0 = time.time()
    procs = []
    for i, c in enumerate(cmds):
        log = open(os.path.join(work, f"recv{i}.log"), "wb")
        procs.append((subprocess.Popen(c, stdout=log, stderr=subprocess.STDOUT), log))
    for p, log in procs:
        p.wait()
        log.close()
        if p.returncode != 0:
            with open(log.name, errors="replace") as f:
                tail = f.read()[-3000:]
            raise SystemExit(f"receiver failed ({p.returncode}): {' '.join(p.args)}\n{tail}")
    return time.time() - t0


def targets(work, n):
    out = []
    for i in range(n):
        t = os.path.join(work, f"t{i}.img")
        if os.path.exists(t):
            os.unlink(t)
        out.append(t)
    return out


def wraith_multicast(a, repo, n, work):
    port = free_port()
    serve = subprocess.Popen(
        [a.wraith, "serve", repo, "--listen", f"127.0.0.1:{port}", "--interface", "lo",
         "--multicast", "room", "--clients", str(n), "--wait", "60", "--rate", str(a.rate)],
        stdout=open(os.path.join(work, "serve.log"), "wb"), stderr=subprocess.STDOUT)
    try:
        wait_http(port)
        ts = targets(work, n)
        secs = receivers([[a.wraith, "restore", f"mcast://127.0.0.1:{port}/room", t, "--yes",
                           "--interface", "lo"] for t in ts], work)
        sent = wchar(serve.pid)
    finally:
        stop(serve)
    return secs, sent, ts


def wraith_unicast(a, repo, n, work):
    port = free_port()
    serve = subprocess.Popen([a.wraith, "serve", repo, "--listen", f"127.0.0.1:{port}"],
                             stdout=open(os.path.join(work, "serve.log"), "wb"),
                             stderr=subprocess.STDOUT)
    try:
        wait_http(port)
        ts = targets(work, n)
        secs = receivers([[a.wraith, "restore", f"http://127.0.0.1:{port}/repo:room", t, "--yes"]
                          for t in ts], work)
        sent = wchar(serve.pid)
    finally:
        stop(serve)
    return secs, sent, ts


def udpcast(a, zst, n, work):
    port = 9000 + 2 * (os.getpid() % 500)
    ts = targets(work, n)
    sender = subprocess.Popen(
        ["udp-sender", "--interface", "lo", "--portbase", str(port), "--file", zst,
         "--min-receivers", str(n), "--max-bitrate", f"{a.rate}m", "--nokbd"],
        stdout=open(os.path.join(work, "udp-sender.log"), "wb"), stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        secs = receivers([["udp-receiver", "--interface", "lo", "--portbase", str(port),
                           "--nokbd", "--pipe", "zstd -dc", "--file", t] for t in ts], work)
        # It exits with its receivers: wait for that without reaping it, so its /proc/PID/io
        # can still be read (a zombie keeps its accounting until reaped).
        os.waitid(os.P_PID, sender.pid, os.WEXITED | os.WNOWAIT)
        sent = wchar(sender.pid)
    finally:
        stop(sender)
    return secs, sent, ts


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wraith", required=True)
    ap.add_argument("--size", type=bench.parse_size, default=1 << 30)
    ap.add_argument("--receivers", default="1,2,4")
    ap.add_argument("--rate", type=int, default=900, help="Mbit/s cap for both senders")
    ap.add_argument("--work", default=os.path.join(HERE, "work", "room"))
    ap.add_argument("--no-udpcast", action="store_true")
    a = ap.parse_args()
    a.wraith = os.path.abspath(a.wraith)
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    disk = os.path.join(work, f"disk-{bench.fmt_size(a.size)}.img")
    meta_path = disk + ".json"
    if not (os.path.exists(disk) and os.path.exists(meta_path)):
        bench.gen_disk(work, a.size, disk, meta_path)
    repo = os.path.join(work, "repo")
    shutil.rmtree(repo, ignore_errors=True)
    bench.run([a.wraith, "save", disk, f"{repo}:room"])
    stored = sum(os.path.getsize(os.path.join(d, f))
                 for d, _, fs in os.walk(os.path.join(repo, "packs")) for f in fs)
    zst = os.path.join(work, "disk.zst")
    if not a.no_udpcast:
        bench.run(["bash", "-c", f"zstd -T0 -3 -q -f -o {zst} {disk}"])
    rows = []
    for n in [int(x) for x in a.receivers.split(",")]:
        for mode in ["wraith multicast", "wraith unicast", "udpcast"]:
            if mode == "udpcast" and a.no_udpcast:
                continue
            subprocess.run(["sync"])
            if mode == "wraith multicast":
                secs, sent, ts = wraith_multicast(a, repo, n, work)
                payload = stored
            elif mode == "wraith unicast":
                secs, sent, ts = wraith_unicast(a, repo, n, work)
                payload = stored
            else:
                secs, sent, ts = udpcast(a, zst, n, work)
                payload = os.path.getsize(zst)
            # Untimed: every target holds the image.
            for t in ts[:1]:
                if mode.startswith("wraith"):
                    bench.run([a.wraith, "verify", f"{repo}:room", "--against", t])
                else:
                    bench.run(["cmp", disk, t])
            row = {"mode": mode, "receivers": n, "seconds": round(secs, 2),
                   "server_bytes": sent, "payload_bytes": payload,
                   "server_per_payload": round(sent / payload, 3) if sent else None}
            rows.append(row)
            bench.log(f"{mode:17} N={n}  {secs:7.2f} s  server "
                      f"{(sent or 0) / MiB:8.1f} MiB  ({row['server_per_payload']}x payload)")
            for t in ts:
                os.unlink(t)
    print(f"\nimage stored {stored / MiB:.1f} MiB, dd|zstd {os.path.getsize(zst) / MiB:.1f} MiB"
          if os.path.exists(zst) else f"\nimage stored {stored / MiB:.1f} MiB")
    print(f"{'mode':18} {'N':>2} {'seconds':>8} {'server MiB':>11} {'x payload':>10}")
    for r in rows:
        print(f"{r['mode']:18} {r['receivers']:>2} {r['seconds']:>8} "
              f"{(r['server_bytes'] or 0) / MiB:>11.1f} {r['server_per_payload'] or '-':>10}")
    by = {(r["mode"], r["receivers"]): r for r in rows}
    ns = sorted({r["receivers"] for r in rows})
    m1, mN = by.get(("wraith multicast", ns[0])), by.get(("wraith multicast", ns[-1]))
    if m1 and mN:
        print(f"multicast: {ns[-1]} receivers take {mN['seconds'] / m1['seconds']:.2f}x the time "
              f"of {ns[0]} (goal <= 1.25)")
    for n in ns:
        m, u = by.get(("wraith multicast", n)), by.get(("udpcast", n))
        if m and u:
            print(f"N={n}: wraith multicast / udpcast time {m['seconds'] / u['seconds']:.2f} "
                  f"(goal <= 1.0)")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", time.strftime("room-%Y%m%dT%H%M%S.json"))
    with open(out, "w") as f:
        json.dump({"size": a.size, "rate_mbps": a.rate, "stored": stored, "rows": rows}, f,
                  indent=1)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
