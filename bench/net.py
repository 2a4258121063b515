#!/usr/bin/env python3
"""Network bench (issue 19): save to and restore from a repository on a server on this
machine's loopback against the same to a local directory, same disk, same run. On loopback the
wire is not the limit, so what is measured is Wraith's use of the protocol (request sizes,
round trips, parallel uploads); the goal is >= 0.8x the local figures.

  bench/net.py --wraith target/release/wraith [--size 1G] [--servers nginx[,samba,ganesha]]
               [--runs 2]

Servers are the tests' own (testkit's nginx with WebDAV, smbd, NFS-Ganesha), started by
`cargo run -p wraith-testkit --example servers`. SMB and NFS are mounted by the kernel
(cifs, nfs4): on a host whose kernel has neither (this CI machine: only ext4 and fuse) those
rows are skipped with the reason. Each operation runs --runs times (best time kept: the first
run of a fresh repository also pays for creating it). Targets are checked untimed with
`wraith verify --against`.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the disk generator and helpers)


def timed(cmd, env=None):
    subprocess.run(["sync"])
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    secs = time.time() - t0
    if p.returncode != 0:
        return None, (p.stderr or p.stdout).strip().splitlines()[-1:]
    return secs, None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wraith", required=True)
    ap.add_argument("--size", type=bench.parse_size, default=1 << 30)
    ap.add_argument("--servers", default="nginx,samba,ganesha")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--work", default=os.path.join(HERE, "work", "net"))
    a = ap.parse_args()
    a.wraith = os.path.abspath(a.wraith)
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    disk = os.path.join(work, f"disk-{bench.fmt_size(a.size)}.img")
    if not (os.path.exists(disk) and os.path.exists(disk + ".json")):
        bench.gen_disk(work, a.size, disk, disk + ".json")
    served = os.path.join(work, "served")
    shutil.rmtree(served, ignore_errors=True)
    os.makedirs(served)
    srv = subprocess.Popen(
        ["cargo", "run", "-q", "--release", "-p", "wraith-testkit", "--example", "servers", "--",
         served, *a.servers.split(",")],
        cwd=os.path.dirname(HERE), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    urls = json.loads(srv.stdout.readline())
    env = dict(os.environ, WRAITH_PASSWORD="wraith")
    target = os.path.join(work, "target.img")
    rows = []
    try:
        where = [("local", os.path.join(work, "local-repo"))] + sorted(urls.items())
        for name, repo in where:
            row = {"repository": name}
            for op in ["save", "restore"]:
                best, why = None, None
                for run in range(a.runs):
                    if op == "save":
                        # A fresh repository each run: every chunk is sent, none deduplicated.
                        if name == "local":
                            shutil.rmtree(repo, ignore_errors=True)
                        else:
                            shutil.rmtree(os.path.join(served, "repo"), ignore_errors=True)
                        secs, why = timed([a.wraith, "save", disk, f"{repo}:net"], env)
                    else:
                        if os.path.exists(target):
                            os.unlink(target)
                        secs, why = timed([a.wraith, "restore", f"{repo}:net", target, "--yes"],
                                          env)
                    if secs is None:
                        break
                    best = secs if best is None else min(best, secs)
                if best is None:
                    row[op] = None
                    row[op + "_why"] = " ".join(why or [])
                    bench.log(f"{name:8} {op:8} skipped: {row[op + '_why']}")
                    continue
                row[op] = round(best, 2)
                bench.log(f"{name:8} {op:8} {best:6.2f} s")
                if op == "restore":
                    bench.run([a.wraith, "verify", f"{repo}:net", "--against", target], env=env)
            rows.append(row)
    finally:
        srv.stdin.close()
        srv.wait(30)
    local = rows[0]
    print(f"\n{'repository':10} {'save s':>8} {'restore s':>10} {'save x':>8} {'restore x':>10}")
    for r in rows:
        def ratio(op):
            if r.get(op) is None or not local.get(op):
                return "-"
            return f"{local[op] / r[op]:.2f}"
        print(f"{r['repository']:10} {str(r.get('save') or '-'):>8} "
              f"{str(r.get('restore') or '-'):>10} {ratio('save'):>8} {ratio('restore'):>10}")
    print("x: local time / this time (goal >= 0.8: a loopback server costs at most 25 % more)")
    for r in rows:
        for op in ["save", "restore"]:
            if r.get(op + "_why"):
                print(f"{r['repository']} {op}: {r[op + '_why']}")
    out = os.path.join(HERE, "results", time.strftime("net-%Y%m%dT%H%M%S.json"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"size": a.size, "rows": rows}, f, indent=1)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
