#!/usr/bin/env python3
"""Room bench (issue 18): one image restored onto N machines at once, three ways, same run,
same disk, same receivers on this host's loopback:

  wraith multicast  `wraith serve REPO --multicast IMAGE --clients N` + N x
                    `wraith restore mcast://127.0.0.1:PORT/IMAGE tN.img`
  wraith unicast    `wraith serve REPO` + N x `wraith restore http://127.0.0.1:PORT/:IMAGE tN.img`
  udpcast           `udp-sender --file disk.zst --min-receivers N` + N x
                    `udp-receiver --pipe 'zstd -dc' --file tN.img` (Clonezilla SE's pipeline
                    with a dd image: the same disk, compressed by `zstd -T0 -3`)

Each receiver is a machine of its own: a network namespace joined to the server's namespace by
a veth pair on a Linux bridge (multicast snooping on, as a switch), so udpcast's receivers,
which cannot share a host's port, run side by side too (root needed).
For each: wall time from the first receiver's start to the last one's end, and the bytes the
server put on the LAN (its bridge's tx_bytes: every byte, headers included, whatever the
protocol: multicast, repairs, HTTP fill-in, control).
Both senders are capped at the same rate (--rate, Mbit/s). Targets are checked against the
image with `wraith verify --against` (wraith's) or compared with the disk (udpcast's), untimed.

  bench/room.py --wraith target/release/wraith [--size 1G] [--receivers 1,2,4] [--rate 900]
                [--link 1000]

The server's uplink is shaped to --link Mbit/s (tc tbf on its bridge), as a server's port on
a gigabit switch: without it a veth pair carries several GB/s and N unicast restores would
cost nothing extra, which no room's network gives.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the disk generator and helpers)

MiB = 1 << 20


SRV = "wr-room-srv"
SRV_IP = "10.88.0.1"


def ns(name, *cmd):
    return ["ip", "netns", "exec", name, *cmd]


def lan_up(n, link_mbps):
    """The server's namespace with bridge br0 and n machines' namespaces, one veth each; the
    server's uplink (br0's egress) shaped to `link_mbps`, as a server's port on a switch."""
    lan_down()
    sh = lambda *c: bench.run(list(c))  # noqa: E731
    sh("ip", "netns", "add", SRV)
    sh("ip", "-n", SRV, "link", "set", "lo", "up")
    sh("ip", "-n", SRV, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", SRV, "addr", "add", f"{SRV_IP}/24", "dev", "br0")
    sh("ip", "-n", SRV, "link", "set", "br0", "up")
    sh("ip", "-n", SRV, "route", "add", "224.0.0.0/4", "dev", "br0")
    if link_mbps:
        sh(*ns(SRV, "tc", "qdisc", "add", "dev", "br0", "root", "tbf", "rate",
               f"{link_mbps}mbit", "burst", "512kb", "latency", "100ms"))
    for i in range(n):
        c = f"wr-room-c{i}"
        sh("ip", "netns", "add", c)
        sh("ip", "-n", c, "link", "set", "lo", "up")
        sh("ip", "-n", c, "link", "add", f"vc{i}", "type", "veth", "peer", "name", f"vb{i}",
           "netns", SRV)
        sh("ip", "-n", c, "addr", "add", f"10.88.0.{10 + i}/24", "dev", f"vc{i}")
        sh("ip", "-n", c, "link", "set", f"vc{i}", "up")
        sh("ip", "-n", c, "route", "add", "224.0.0.0/4", "dev", f"vc{i}")
        sh("ip", "-n", SRV, "link", "set", f"vb{i}", "master", "br0", "up")


def lan_down():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith("wr-room-"):
            subprocess.run(["ip", "netns", "del", name])


def lan_bytes():
    out = subprocess.run(ns(SRV, "cat", "/sys/class/net/br0/statistics/tx_bytes"),
                         capture_output=True, text=True).stdout
    return int(out.strip() or 0)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def receivers(cmds, work, tag):
    """Starts every receiver at once; returns seconds from the first start to the last end.
    Their output is kept in work/TAG-recvI.log."""
    t0 = time.time()
    procs = []
    for i, c in enumerate(cmds):
        log = open(os.path.join(work, f"{tag}-recv{i}.log"), "wb")
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
    port = 8080
    serve = subprocess.Popen(
        ns(SRV, a.wraith, "serve", repo, "--listen", f"{SRV_IP}:{port}", "--interface", "br0",
           "--multicast", "room", "--clients", str(n), "--wait", "60", "--rate", str(a.rate)),
        stdout=open(os.path.join(work, f"mcast{n}-serve.log"), "wb"), stderr=subprocess.STDOUT)
    try:
        time.sleep(1)
        ts = targets(work, n)
        before = lan_bytes()
        secs = receivers([ns(f"wr-room-c{i}", a.wraith, "restore", f"mcast://{SRV_IP}/room", t,
                             "--yes", "--interface", f"vc{i}") for i, t in enumerate(ts)], work,
                         f"mcast{n}")
        sent = lan_bytes() - before
    finally:
        stop(serve)
    return secs, sent, ts


def wraith_unicast(a, repo, n, work):
    port = 8080
    serve = subprocess.Popen(ns(SRV, a.wraith, "serve", repo, "--listen", f"{SRV_IP}:{port}"),
                             stdout=open(os.path.join(work, f"http{n}-serve.log"), "wb"),
                             stderr=subprocess.STDOUT)
    try:
        time.sleep(1)
        ts = targets(work, n)
        before = lan_bytes()
        secs = receivers([ns(f"wr-room-c{i}", a.wraith, "restore",
                             f"http://{SRV_IP}:{port}/repo:room", t, "--yes")
                          for i, t in enumerate(ts)], work, f"http{n}")
        sent = lan_bytes() - before
    finally:
        stop(serve)
    return secs, sent, ts


def udpcast(a, zst, n, work):
    ts = targets(work, n)
    before = lan_bytes()
    sender = subprocess.Popen(
        ns(SRV, "udp-sender", "--interface", "br0", "--file", zst, "--min-receivers", str(n),
           "--max-bitrate", f"{a.rate}m", "--nokbd"),
        stdout=open(os.path.join(work, f"udpcast{n}-sender.log"), "wb"), stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        secs = receivers([ns(f"wr-room-c{i}", "udp-receiver", "--interface", f"vc{i}",
                             "--nokbd", "--pipe", "zstd -dc", "--file", t,
                             # The hello straight to the sender: its default (224.0.0.1)
                             # does not reach it across the bridge here.
                             "--mcast-rdv-address", SRV_IP)
                          for i, t in enumerate(ts)], work, f"udpcast{n}")
        sender.wait(60)
        sent = lan_bytes() - before
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
    ap.add_argument("--link", type=int, default=1000,
                    help="the server's link in Mbit/s (0: unshaped veth)")
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
    counts = [int(x) for x in a.receivers.split(",")]
    lan_up(max(counts), a.link)
    for n in counts:
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
    lan_down()
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", time.strftime("room-%Y%m%dT%H%M%S.json"))
    with open(out, "w") as f:
        json.dump({"size": a.size, "rate_mbps": a.rate, "stored": stored, "rows": rows}, f,
                  indent=1)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
