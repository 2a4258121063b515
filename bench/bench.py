#!/usr/bin/env python3
"""Wraith performance bench (issues #7 and #19): wraith against partclone|zstd and dd|zstd,
and against the machine's own limits measured in the same run (zstd -T0 and BLAKE3 over the
disk's used bytes, direct-I/O read and write bandwidth of the bench filesystem).

Called by bench/run.sh (which builds the release binary first); see bench/README.md.
Standard library only. Needs: sfdisk, mkfs.ext4, debugfs, e2fsck, mkfs.vfat, mcopy, mkntfs,
ntfscp, partclone.{fat32,ext4,ntfs}, zstd, b3sum, openssl (fast pseudo-random bytes), dd.
"""

import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time

MiB = 1 << 20
GiB = 1 << 30
HERE = os.path.dirname(os.path.abspath(__file__))
# Bump when the generated disk changes, so cached disks are rebuilt.
GEN_VERSION = 3


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_size(s):
    m = re.fullmatch(r"(\d+)([KMGT]?)i?B?", s.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {s!r} (use e.g. 512M, 2G)")
    mult = {"": 1, "K": 1 << 10, "M": MiB, "G": GiB, "T": 1 << 40}[m.group(2).upper()]
    return int(m.group(1)) * mult


def fmt_size(n):
    if n % GiB == 0:
        return f"{n // GiB}G"
    return f"{n // MiB}M"


def run(cmd, **kw):
    """Runs an untimed helper command; its output is captured and shown only on failure."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    p = subprocess.run(cmd, **kw)
    if p.returncode != 0:
        out = p.stdout.decode(errors="replace") if p.stdout else ""
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(map(str, cmd))}\n{out[-3000:]}")
    return p


# ---------------------------------------------------------------------------------------------
# Data generation

class Rand:
    """Fast, seeded pseudo-random bytes: AES-128-CTR over zeros (about 1 GB/s, where
    /dev/urandom gives about 0.1 GB/s on the bench VM)."""

    def __init__(self, seed):
        self.p = subprocess.Popen(
            ["openssl", "enc", "-aes-128-ctr", "-pass", f"pass:wraith-bench-{seed}", "-nosalt",
             "-pbkdf2"],
            stdin=open("/dev/zero", "rb"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def read(self, n):
        b = self.p.stdout.read(n)
        if len(b) != n:
            raise SystemExit("openssl random stream ended early")
        return b

    def close(self):
        self.p.kill()
        self.p.wait()


def write_random(path, size, rnd, offset=0):
    with open(path, "r+b" if os.path.exists(path) else "wb") as f:
        f.seek(offset)
        left = size
        while left:
            n = min(left, 8 * MiB)
            f.write(rnd.read(n))
            left -= n


class TextGen:
    """Log- and config-like text: a pool of lines from a made-up vocabulary, files made of
    random samples of it (compresses like real text, not like repeated blocks)."""

    def __init__(self, seed):
        r = random.Random(seed)
        letters = "etaoinshrdlucmfwypvbgkjqxz"
        weights = [26 - i for i in range(26)]
        vocab = ["".join(r.choices(letters, weights, k=r.randint(2, 11))) for _ in range(6000)]
        vocab += ["error", "warning", "info", "debug", "=", "{", "}", "/usr/lib", "0x" , "true"]
        services = ["kernel", "systemd", "sshd", "cron", "NetworkManager", "dbus-daemon",
                    "gdm", "pulseaudio", "apt", "dockerd"]
        self.lines = []
        for i in range(120000):
            ts = f"2024-{r.randint(1, 12):02}-{r.randint(1, 28):02}T{r.randint(0, 23):02}:" \
                 f"{r.randint(0, 59):02}:{r.randint(0, 59):02}.{r.randint(0, 999999):06}"
            words = " ".join(r.choices(vocab, k=r.randint(3, 18)))
            self.lines.append(f"{ts} host{r.randint(1, 9)} {r.choice(services)}"
                              f"[{r.randint(100, 99999)}]: {words} {r.randint(0, 1 << 32)}\n")
        self.r = r

    def make(self, size):
        out = []
        n = 0
        while n < size:
            line = self.lines[self.r.randrange(len(self.lines))]
            out.append(line)
            n += len(line)
        return "".join(out).encode()[:size]


def system_files(seed):
    """Regular files under /usr (binaries, libraries, text), in a fixed pseudo-random order."""
    files = []
    for top in ("/usr/lib", "/usr/share", "/usr/bin", "/usr/libexec"):
        for d, dirs, names in os.walk(top):
            dirs.sort()
            for n in sorted(names):
                p = os.path.join(d, n)
                if not re.fullmatch(r"[A-Za-z0-9._+/-]+", p):
                    continue  # keep debugfs/mcopy quoting out of the picture
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if os.path.isfile(p) and not os.path.islink(p) and 0 < st.st_size <= 48 * MiB:
                    files.append((p, st.st_size))
    random.Random(seed).shuffle(files)
    return files


def build_tree(root, budget, rnd, text, seed, sysfiles, mix=(0.55, 0.15, 0.30)):
    """Fills directory `root` with about `budget` bytes: system files copied from /usr, generated
    text (logs) and incompressible "media". Returns [(path-in-fs, size)]."""
    made = []
    sys_budget, text_budget = int(budget * mix[0]), int(budget * mix[1])
    rand_budget = budget - sys_budget - text_budget
    n = 0
    for src, size in sysfiles:
        if n + size > sys_budget:
            if sys_budget - n < 64 * 1024:
                break
            continue
        rel = src.lstrip("/")
        dst = os.path.join(root, rel)
        if os.path.exists(dst):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            shutil.copyfile(src, dst)
        except OSError:
            continue
        made.append(("/" + rel, size))
        n += size
    r = random.Random(seed)
    logdir = os.path.join(root, "var/log/apps")
    os.makedirs(logdir, exist_ok=True)
    n, i = 0, 0
    while n < text_budget:
        size = min(text_budget - n, r.choice([16 << 10, 200 << 10, 1 * MiB, 4 * MiB, 12 * MiB]))
        p = os.path.join(logdir, f"app{i:04}.log")
        with open(p, "wb") as f:
            f.write(text.make(size))
        made.append((f"/var/log/apps/app{i:04}.log", size))
        n += size
        i += 1
    media = os.path.join(root, "home/user/media")
    os.makedirs(media, exist_ok=True)
    n, i = 0, 0
    while n < rand_budget:
        size = min(rand_budget - n, r.choice([512 << 10, 3 * MiB, 8 * MiB, 24 * MiB, 40 * MiB]))
        write_random(os.path.join(media, f"clip{i:04}.bin"), size, rnd)
        made.append((f"/home/user/media/clip{i:04}.bin", size))
        n += size
        i += 1
    return made


def copy_into(src, dst, dst_offset, src_offset=0, length=None):
    """Copies the data extents of `src` (holes skipped, like dd conv=sparse) into `dst` at
    `dst_offset`, without truncating `dst`."""
    with open(src, "rb") as fi, open(dst, "r+b" if os.path.exists(dst) else "wb") as fo:
        end = os.fstat(fi.fileno()).st_size if length is None else src_offset + length
        pos = src_offset
        while pos < end:
            try:
                data = os.lseek(fi.fileno(), pos, os.SEEK_DATA)
            except OSError:
                break  # only a hole is left
            if data >= end:
                break
            hole = min(os.lseek(fi.fileno(), data, os.SEEK_HOLE), end)
            off = data
            while off < hole:
                n = os.copy_file_range(fi.fileno(), fo.fileno(), hole - off, off,
                                       dst_offset + off - src_offset)
                if n == 0:
                    raise SystemExit(f"copy_file_range {src} stalled")
                off += n
            pos = hole


def extract(disk, offset, size, out):
    with open(out, "wb") as f:
        f.truncate(size)
    copy_into(disk, out, 0, src_offset=offset, length=size)


def mkfs_ext4(img, tree, label):
    # No discard and lazy init: old garbage stays in free blocks and unused inode tables,
    # as on a disk that has been in use.
    run(["mkfs.ext4", "-q", "-F", "-L", label, "-E",
         "nodiscard,lazy_itable_init=1,lazy_journal_init=1", "-d", tree, img])
    run(["e2fsck", "-fn", img])


def gpt_script(parts):
    lines = ["label: gpt", "unit: sectors", ""]
    for p in parts:
        lines.append(f"start={p['start'] // 512}, size={p['size'] // 512}, type={p['type']}, "
                     f"name={p['name']}")
    return "\n".join(lines) + "\n"


def layout(size):
    align = MiB
    esp = 256 * MiB if size >= 2 * GiB else max(64 * MiB, (size // 8) // align * align)
    tail = max(8 * MiB, (size * 6 // 100) // align * align)
    ntfs = (size * 20 // 100) // align * align
    ext4 = size - align - esp - ntfs - tail
    start = align
    parts = []
    for name, fs, sz, typ in (("esp", "fat32", esp, "U"), ("root", "ext4", ext4, "L"),
                              ("data", "ntfs", ntfs, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7")):
        parts.append({"name": name, "fs": fs, "start": start, "size": sz, "type": typ})
        start += sz
    return parts


def gen_disk(work, size, disk, meta_path, fill=1.0):
    """Builds the realistic GPT disk (FAT32 ESP, ext4 ~70 % full, NTFS, unallocated tail);
    `fill` scales how full each filesystem is (the resize case wants room to shrink)."""
    log(f"generating a {fmt_size(size)} disk in {disk}")
    t0 = time.time()
    parts = layout(size)
    gen = os.path.join(work, "gen")
    shutil.rmtree(gen, ignore_errors=True)
    os.makedirs(gen)
    rnd = Rand(f"disk-{size}")
    text = TextGen(1)
    sysfiles = system_files(7)
    if os.path.exists(disk):
        os.unlink(disk)
    with open(disk, "wb") as f:
        f.truncate(size)
    run(["sfdisk", "-q", "--no-reread", "--no-tell-kernel", disk],
        input=gpt_script(parts).encode())
    ext4_files = []
    for idx, p in enumerate(parts):
        img = os.path.join(gen, f"p{idx + 1}.img")
        write_random(img, p["size"], rnd)  # old data everywhere before mkfs
        tree = os.path.join(gen, f"tree{idx + 1}")
        os.makedirs(tree)
        if p["fs"] == "fat32":
            run(["mkfs.vfat", "-F", "32", "-n", "ESP", img])
            boot = os.path.join(tree, "EFI/BOOT")
            deb = os.path.join(tree, "EFI/debian")
            os.makedirs(boot)
            os.makedirs(deb)
            shutil.copyfile(shutil.which("bash"), os.path.join(boot, "BOOTX64.EFI"))
            shutil.copyfile(shutil.which("sfdisk"), os.path.join(deb, "grubx64.efi"))
            with open(os.path.join(deb, "grub.cfg"), "wb") as f:
                f.write(text.make(8 << 10))
            budget = int(p["size"] * 0.40 * fill)
            k = max(4 * MiB, budget // 6)  # two "kernels" (compressed: random), two initrds
            for name, sz in (("vmlinuz-6.1.0-1", k), ("vmlinuz-6.1.0-2", k),
                             ("initrd.img-6.1.0-1", 2 * k), ("initrd.img-6.1.0-2", 2 * k)):
                write_random(os.path.join(tree, name), sz, rnd)
            run(["mcopy", "-s", "-Q", "-i", img] + [os.path.join(tree, n) for n in
                                                    sorted(os.listdir(tree))] + ["::/"])
            run(["fsck.vfat", "-n", img])
        elif p["fs"] == "ext4":
            budget = int(p["size"] * 0.66 * fill)  # ~70 % used once metadata and journal count
            ext4_files = build_tree(tree, budget, rnd, text, 11, sysfiles)
            mkfs_ext4(img, tree, "root")
        else:
            run(["mkntfs", "-F", "-Q", "-q", "-L", "DATA", "-p", str(p["start"] // 512),
                 "-H", "255", "-S", "63", img])
            budget = int(p["size"] * 0.50 * fill)
            sub = build_tree(tree, budget, rnd, text, 13, sysfiles[len(sysfiles) // 2:],
                             mix=(0.30, 0.20, 0.50))
            # ntfscp cannot make directories: every file goes to the root, with a flat name.
            for path, _ in sub:
                run(["ntfscp", "-q", "-f", img, tree + path, path.strip("/").replace("/", "_")])
            run(["ntfsfix", "-n", img])
        shutil.rmtree(tree)
        copy_into(img, disk, p["start"])
        os.unlink(img)
    rnd.close()
    meta = {"gen_version": GEN_VERSION, "size": size, "parts": parts,
            "ext4_files": ext4_files, "seconds": round(time.time() - t0, 1)}
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    shutil.rmtree(gen)
    log(f"disk ready in {time.time() - t0:.0f} s")
    return meta


# ---------------------------------------------------------------------------------------------
# Measuring

class Bench:
    def __init__(self, args):
        self.a = args
        self.w = args.wraith
        self.rows = []
        self.work = args.work

    def measure(self, tool, op, script, outputs=(), stored=None, note="", pre=None,
                repeat=False):
        """Runs `script` under bash; wall time, CPU time (user+sys of bash and every process it
        waited for) and peak RSS (the largest single process) come from /usr/bin/time. Output
        files are fsync'ed inside the timed part, so page-cache write-back is counted alike.

        With `repeat` the step runs `--repeat` times, `pre()` (untimed) before each run, and
        the row is the fastest run's, with every run's wall time in `walls_s`: on a shared
        machine the fastest run is the one least disturbed by other work."""
        runs = max(1, self.a.repeat) if repeat else 1
        best, walls = None, []
        for _ in range(runs):
            if pre:
                pre()
            row = self._once(tool, op, script, outputs, stored, note)
            walls.append(row["wall_s"])
            if best is None or row["wall_s"] < best["wall_s"]:
                best = row
        if runs > 1:
            best["walls_s"] = walls
        self.rows.append(best)
        log(f"{tool:9} {op:22} wall {best['wall_s']:7.2f} s  cpu {best['cpu_s']:7.2f} s  "
            f"rss {best['peak_rss_mib']:7.1f} MiB"
            + (f"  stored {best['stored_bytes'] / MiB:8.1f} MiB" if best["stored_bytes"] else "")
            + (f"  (runs: {' '.join(f'{w:.2f}' for w in walls)})" if runs > 1 else ""))
        return best

    def _once(self, tool, op, script, outputs, stored, note):
        outs = " ".join(f"'{o}'" for o in outputs if not os.path.isdir(o))
        body = "set -euo pipefail\n" + script + (f"\nsync {outs}\n" if outs else "\n")
        errp = os.path.join(self.work, f"stderr-{tool}-{op.replace(' ', '_')}.txt")
        timef = os.path.join(self.work, "time.txt")
        # Flush earlier steps' dirty pages first: partclone calls sync(2), which would
        # otherwise pay for them.
        os.sync()
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        with open(errp, "wb") as err:
            # /usr/bin/time, not wait4 from here: a child forked from this Python process
            # would report Python's RSS as its peak.
            p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", timef,
                                "bash", "-c", body], stdout=subprocess.PIPE, stderr=err)
        wall = time.perf_counter() - t0
        out = p.stdout
        if p.returncode != 0:
            with open(errp, errors="replace") as f:
                tail = f.read()[-3000:]
            raise SystemExit(f"{tool} {op} failed ({p.returncode}):\n{script}\n{tail}")
        with open(timef) as f:
            _, user, sys_, maxrss = f.read().split()[-4:]
        user, sys_, maxrss = float(user), float(sys_), int(maxrss)
        row = {"tool": tool, "op": op, "wall_s": round(wall, 3),
               "cpu_s": round(user + sys_, 3), "user_s": user, "sys_s": sys_,
               "peak_rss_mib": round(maxrss / 1024, 1), "load_before": round(load, 2),
               "stored_bytes": None, "note": note}
        try:
            row["result"] = json.loads(out) if out.strip().startswith(b"{") else None
        except ValueError:
            row["result"] = None
        for o in outputs:
            if os.path.isfile(o):
                row.setdefault("allocated_bytes", {})[os.path.basename(o)] = \
                    os.stat(o).st_blocks * 512
        if stored is not None:
            row["stored_bytes"] = stored() if callable(stored) else stored
        return row


def tree_bytes(path):
    """Apparent size of a file or of every file under a directory."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for d, _, names in os.walk(path):
        for n in names:
            total += os.path.getsize(os.path.join(d, n))
    return total


def warm(*paths):
    """Reads the data extents of files once so every tool starts with the same (hot) page
    cache; holes are skipped (the 64 GiB sparse disk)."""
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            fd, end, pos = f.fileno(), os.fstat(f.fileno()).st_size, 0
            while pos < end:
                try:
                    data = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:
                    break
                hole = os.lseek(fd, data, os.SEEK_HOLE)
                os.lseek(fd, data, os.SEEK_SET)
                left = hole - data
                while left > 0:
                    n = len(f.read(min(left, 16 * MiB)) or b"")
                    if n == 0:
                        break
                    left -= n
                pos = hole


def rm(*paths):
    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.unlink(p)


def incremental_disk(b, meta, disk, out, pct):
    """A copy of `disk` with about `pct` % of the ext4 data changed through debugfs -w: new
    files (text and media), some files overwritten with new content, a few deleted."""
    p2 = meta["parts"][1]
    ext4 = os.path.join(b.work, "inc-ext4.img")
    extract(disk, p2["start"], p2["size"], ext4)
    used = sum(s for _, s in meta["ext4_files"])
    target = used * pct / 100
    r = random.Random(99)
    rnd = Rand("incremental")
    text = TextGen(5)
    srcdir = os.path.join(b.work, "inc-src")
    rm(srcdir)
    os.makedirs(srcdir)
    cmds = ["mkdir /home/user/new"]
    n, i = 0, 0
    # half new files
    while n < target / 2:
        size = r.choice([64 << 10, 1 * MiB, 3 * MiB, 6 * MiB])
        src = os.path.join(srcdir, f"new{i}")
        if i % 2:
            write_random(src, size, rnd)
        else:
            with open(src, "wb") as f:
                f.write(text.make(size))
        cmds.append(f"write {src} /home/user/new/file{i}")
        n += size
        i += 1
    # the other half: existing files rewritten (a package upgrade, a log that grew)
    cands = [f for f in meta["ext4_files"] if f[1] >= 16 << 10]
    r.shuffle(cands)
    for path, size in cands:
        if n >= target:
            break
        if n + size > target * 1.05:
            continue  # keep the total near the asked percentage
        src = os.path.join(srcdir, f"ow{i}")
        if path.startswith("/var/log"):
            with open(src, "wb") as f:
                f.write(text.make(size + size // 10))
        else:
            write_random(src, size, rnd)
        cmds += [f"rm {path}", f"write {src} {path}"]
        n += size
        i += 1
    rewritten = {c.split()[1] for c in cmds if c.startswith("rm ")}
    for path, _ in [c for c in cands if c[0] not in rewritten][-20:]:
        cmds.append(f"rm {path}")
    rnd.close()
    cmdf = os.path.join(b.work, "inc-debugfs.txt")
    with open(cmdf, "w") as f:
        f.write("\n".join(cmds) + "\n")
    run(["debugfs", "-w", "-f", cmdf, ext4])
    p = subprocess.run(["e2fsck", "-fy", ext4], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode not in (0, 1):
        raise SystemExit(f"e2fsck after debugfs: {p.returncode}\n{p.stdout.decode()[-2000:]}")
    rm(out)
    run(["cp", "--sparse=always", disk, out])
    copy_into(ext4, out, p2["start"])
    rm(ext4, srcdir)
    return {"changed_bytes": n, "ext4_data_bytes": used, "pct": round(100 * n / used, 2)}


# ---------------------------------------------------------------------------------------------
# The machine's limits (issue 19)

def read_manifest(path):
    """The JSON body of a wraith image manifest (engine/src/repo/manifest.rs): a 56-byte header
    (magic "WRAITHMF", u32 version, u32 0, u64 body length, BLAKE3 of the body), then the
    zstd-compressed JSON of the manifest. Decompressed with the zstd tool (stdlib only here)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"WRAITHMF":
        raise SystemExit(f"{path}: not a wraith manifest (magic {data[:8]!r})")
    body_len = int.from_bytes(data[16:24], "little")
    body = data[56:56 + body_len]
    p = subprocess.run(["zstd", "-q", "-dc"], input=body, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SystemExit(f"{path}: zstd -dc of the manifest body failed: {p.stderr.decode()}")
    return json.loads(p.stdout)


def used_extents(repo, name):
    """The disk byte ranges the one image `name` in `repo` was read from: every region's used
    extents (absolute disk offsets, as the manifest stores them), sorted."""
    d = os.path.join(repo, "images", name)
    manifests = sorted(n for n in os.listdir(d) if n.endswith(".manifest"))
    if len(manifests) != 1:
        raise SystemExit(f"{d}: expected one manifest, found {manifests}")
    m = read_manifest(os.path.join(d, manifests[0]))
    ext = sorted((e["start"], e["len"]) for r in m["regions"] for e in r["used"])
    return ext, m.get("stats", {})


def write_used(disk, extents, out):
    """Concatenates the `extents` of `disk` into `out` (plain reads and writes: every byte is
    written, holes of the disk image included, so reading `out` is never a hole read)."""
    with open(disk, "rb") as fi, open(out, "wb") as fo:
        for start, length in extents:
            fi.seek(start)
            left = length
            while left:
                b = fi.read(min(left, 8 * MiB))
                if not b:
                    raise SystemExit(f"{disk}: short read at {fi.tell()}")
                fo.write(b)
                left -= len(b)


def measure_limits(b, meta, disk, repo):
    """The ceilings the issue-19 goals are measured against, on this machine, in this run:

    - compression: `zstd -T0 -LEVEL` (LEVEL from the repository's config, the level wraith
      just used) over exactly the bytes wraith's save read -- the image's used extents,
      concatenated from the disk beforehand (untimed) and read from a hot page cache, like the
      disk in every other step -- written to /dev/null;
    - hash: `b3sum` (all cores, mmap) over the same file;
    - direct-I/O write: `dd if=/dev/zero bs=4M oflag=direct conv=fsync` into a new file of the
      disk's size on the bench filesystem (new, like the restore and clone targets: allocating
      blocks is part of the cost), then direct-I/O read: `dd bs=4M iflag=direct` of that file.
    """
    work = b.work
    with open(os.path.join(repo, "wraith-repo.json")) as f:
        level = int(json.load(f)["zstd_level"])
    extents, stats = used_extents(repo, "bench")
    used_bytes = sum(n for _, n in extents)
    if stats.get("image_bytes") not in (None, used_bytes):
        log(f"note: manifest extents sum to {used_bytes} bytes, stats.image_bytes says "
            f"{stats.get('image_bytes')}")
    used = os.path.join(work, "used.bin")
    write_used(disk, extents, used)
    os.sync()
    warm(used)
    zlog = os.path.join(work, "zstd-limit.txt")
    z = b.measure("limit", f"zstd -T0 -{level}",
                  f"zstd -v -T0 -{level} --no-progress '{used}' -o /dev/null 2>'{zlog}'",
                  note=f"the {used_bytes} used bytes wraith read, hot, to /dev/null", repeat=True)
    z["bytes"] = used_bytes
    with open(zlog) as f:
        m = re.search(r":\s*([0-9.]+)%", f.read())
    # zstd -v prints the compressed size as a percentage with 4 digits (sizes only in MiB).
    z["compressed_bytes"] = round(used_bytes * float(m.group(1)) / 100) if m else None
    h = b.measure("limit", "b3sum", f"b3sum --no-names '{used}' >/dev/null",
                  note="BLAKE3 of the same bytes, all cores", repeat=True)
    h["bytes"] = used_bytes
    rm(used)
    size = meta["size"]
    ddf = os.path.join(work, "direct-io.bin")
    rm(ddf)
    count = -(-size // (4 * MiB))
    wr = b.measure("limit", "dd direct write",
                   f"dd if=/dev/zero of='{ddf}' bs=4M count={count} oflag=direct conv=fsync "
                   f"status=none", note="new file of the disk's size, O_DIRECT",
                   pre=lambda: rm(ddf), repeat=True)
    wr["bytes"] = count * 4 * MiB
    rd = b.measure("limit", "dd direct read",
                   f"dd if='{ddf}' of=/dev/null bs=4M iflag=direct status=none",
                   note="the same file, O_DIRECT", repeat=True)
    rd["bytes"] = count * 4 * MiB
    rm(ddf)
    out = {"zstd_level": level, "used_bytes": used_bytes, "used_extents": len(extents),
           "compress_s": z["wall_s"], "compress_cpu_s": z["cpu_s"],
           "compressed_bytes": z["compressed_bytes"],
           "hash_s": h["wall_s"], "hash_cpu_s": h["cpu_s"],
           "direct_write_Bps": round(wr["bytes"] / wr["wall_s"]),
           "direct_read_Bps": round(rd["bytes"] / rd["wall_s"])}
    log(f"limits: zstd -{level} {used_bytes / 1e6 / z['wall_s']:.0f} MB/s, b3sum "
        f"{used_bytes / 1e6 / h['wall_s']:.0f} MB/s, direct write "
        f"{out['direct_write_Bps'] / 1e6:.0f} MB/s, direct read "
        f"{out['direct_read_Bps'] / 1e6:.0f} MB/s")
    return out


PC = {"fat32": "partclone.fat32", "ext4": "partclone.ext4", "ntfs": "partclone.ntfs"}


def main_bench(b, meta, disk):
    a = b.a
    w = b.w
    work = b.work
    parts = meta["parts"]
    size = meta["size"]
    repo = os.path.join(work, "repo")
    pcdir = os.path.join(work, "pc")
    rm(repo, pcdir)
    os.makedirs(pcdir)
    # partclone reads partitions; give it each partition as a file (untimed, same bytes as the
    # disk) -- the equivalent of /dev/sdaN.
    pfiles = []
    for i, p in enumerate(parts):
        pf = os.path.join(work, f"src-p{i + 1}.img")
        extract(disk, p["start"], p["size"], pf)
        pfiles.append(pf)
    warm(disk, *pfiles)

    # -- save -------------------------------------------------------------------------------
    r = b.measure("wraith", "save", f"'{w}' --json save '{disk}' '{repo}:bench' 2>'{work}/ev-save.jsonl'",
                  [repo], stored=lambda: tree_bytes(repo), pre=lambda: rm(repo), repeat=True)
    stats = (r.get("result") or {}).get("stats") or {}
    image_bytes = stats.get("image_bytes")
    meta["image_bytes"] = image_bytes
    r["new_stored_bytes"] = stats.get("new_stored_bytes")
    b.measure("wraith", "verify", f"'{w}' --json verify '{repo}' 2>'{work}/ev-verify.jsonl'",
              stored=lambda: tree_bytes(repo), repeat=True)
    b.limits = measure_limits(b, meta, disk, repo)
    # The other compression choices on the same disk (balanced is the save above): time and
    # stored bytes, each into a fresh repository.
    for choice in ("fast", "small"):
        crepo = os.path.join(work, f"repo-{choice}")
        b.measure("wraith", f"save {choice}",
                  f"'{w}' --json save '{disk}' '{crepo}:bench' --compression {choice} "
                  f"2>/dev/null",
                  [crepo], stored=lambda crepo=crepo: tree_bytes(crepo),
                  pre=lambda crepo=crepo: rm(crepo), repeat=True)
        rm(crepo)

    script = [f"sfdisk -d '{disk}' > '{pcdir}/table.sfdisk'",
              f"dd if='{disk}' of='{pcdir}/head.bin' bs=1M count=1 status=none"]
    for i, p in enumerate(parts):
        script.append(f"{PC[p['fs']]} -q -c -s '{pfiles[i]}' -o - -f 0 -L '{pcdir}/log-c{i + 1}' "
                      f"2>/dev/null | zstd -q -T0 -3 > '{pcdir}/p{i + 1}.pcl.zst'")
    outs = [f"{pcdir}/p{i + 1}.pcl.zst" for i in range(len(parts))]
    b.measure("partclone", "save", "\n".join(script), outs,
              stored=lambda: sum(tree_bytes(o) for o in outs)
              + tree_bytes(f"{pcdir}/table.sfdisk") + tree_bytes(f"{pcdir}/head.bin"),
              note="partclone.X -c | zstd -T0 -3 per partition + sfdisk -d + first MiB",
              repeat=True)
    ddz = os.path.join(work, "disk.zst")
    b.measure("dd", "save", f"dd if='{disk}' bs=4M status=none | zstd -q -T0 -3 > '{ddz}'",
              [ddz], stored=lambda: tree_bytes(ddz), note="dd bs=4M | zstd -T0 -3", repeat=True)

    # -- restore ----------------------------------------------------------------------------
    tgt = os.path.join(work, "target.img")
    rm(tgt)
    b.measure("wraith", "restore",
              f"'{w}' --json restore '{repo}:bench' '{tgt}' --yes 2>'{work}/ev-restore.jsonl'",
              [tgt], pre=lambda: rm(tgt), repeat=True)
    rm(tgt)
    script = [f"truncate -s {size} '{tgt}'",
              f"dd if='{pcdir}/head.bin' of='{tgt}' conv=notrunc status=none",
              f"sfdisk -q --no-reread --no-tell-kernel '{tgt}' < '{pcdir}/table.sfdisk'"]
    for i, p in enumerate(parts):
        script.append(f"zstd -q -dc '{pcdir}/p{i + 1}.pcl.zst' | {PC[p['fs']]} -q -r -s - "
                      f"-O '{tgt}' -E {p['start']} -f 0 -L '{pcdir}/log-r{i + 1}' 2>/dev/null")
    b.measure("partclone", "restore", "\n".join(script), [tgt],
              note="zstd -dc | partclone.X -r per partition, table by sfdisk",
              pre=lambda: rm(tgt), repeat=True)
    if a.check:
        check_target(tgt, parts, "partclone restore")
    rm(tgt)
    b.measure("dd", "restore", f"zstd -q -dc '{ddz}' | dd of='{tgt}' bs=4M iflag=fullblock conv=sparse status=none",
              [tgt], pre=lambda: rm(tgt), repeat=True)
    rm(tgt, ddz)

    # -- clone ------------------------------------------------------------------------------
    b.measure("wraith", "clone", f"'{w}' --json clone '{disk}' '{tgt}' --yes 2>'{work}/ev-clone.jsonl'",
              [tgt], pre=lambda: rm(tgt), repeat=True)
    if a.check:
        check_target(tgt, parts, "wraith clone")
    rm(tgt)
    script = [f"truncate -s {size} '{tgt}'",
              f"sfdisk -d '{disk}' | sfdisk -q --no-reread --no-tell-kernel '{tgt}'"]
    for i, p in enumerate(parts):
        script.append(f"{PC[p['fs']]} -q -b -s '{pfiles[i]}' -O '{tgt}' -E {p['start']} "
                      f"-f 0 -L '{pcdir}/log-b{i + 1}' 2>/dev/null")
    b.measure("partclone", "clone", "\n".join(script), [tgt],
              note="sfdisk -d | sfdisk, partclone.X -b per partition",
              pre=lambda: rm(tgt), repeat=True)
    rm(tgt, pcdir, *pfiles)

    # -- incremental ------------------------------------------------------------------------
    inc = os.path.join(work, "disk-inc.img")
    info = incremental_disk(b, meta, disk, inc, a.change_pct)
    meta["incremental"] = info
    warm(inc)
    before = tree_bytes(repo)
    r = b.measure("wraith", "save incremental",
                  f"'{w}' --json save '{inc}' '{repo}:bench' 2>'{work}/ev-inc.jsonl'", [repo],
                  stored=lambda: tree_bytes(repo) - before,
                  note=f"{info['pct']} % of the ext4 data changed")
    r["new_stored_bytes"] = (((r.get("result") or {}).get("stats")) or {}).get("new_stored_bytes")
    before = tree_bytes(repo)
    b.measure("wraith", "save unchanged",
              f"'{w}' --json save '{inc}' '{repo}:bench' 2>'{work}/ev-same.jsonl'", [repo],
              stored=lambda: tree_bytes(repo) - before, note="same disk again")
    if a.perf:
        perf_profile(b, disk)
    rm(inc, repo)


def check_target(tgt, parts, what):
    """Optional (--check): fsck of the ext4 partition of a restored/cloned disk."""
    ext4 = parts[1]
    tmp = tgt + ".p2"
    extract(tgt, ext4["start"], ext4["size"], tmp)
    p = subprocess.run(["e2fsck", "-fn", tmp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    rm(tmp)
    log(f"check {what}: e2fsck -fn {'ok' if p.returncode == 0 else 'FAILED'}")
    if p.returncode:
        print(p.stdout.decode()[-2000:], file=sys.stderr)


def perf_profile(b, disk):
    """`perf stat` (software counters: the VM has no hardware ones) and a flat `perf record`
    cpu-clock profile of one extra full save into a fresh repository (not in the table)."""
    repo = os.path.join(b.work, "repo-perf")
    data = os.path.join(b.work, "perf.data")
    rm(repo)
    p = subprocess.run(["perf", "stat", "-e",
                        "task-clock,context-switches,cpu-migrations,page-faults", "--",
                        "perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-o", data, "--",
                        b.w, "save", disk, f"{repo}:bench"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rm(repo)
    if p.returncode != 0:
        log("perf failed: " + p.stderr.decode(errors="replace")[-500:])
        return
    rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                          "--sort", "dso,symbol", "--percent-limit", "1.5"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    rm(data)
    lines = [l for l in rep.stdout.decode(errors="replace").splitlines()
             if l.strip() and not l.startswith("#")]
    b.perf = p.stderr.decode(errors="replace") + "\n" + "\n".join(lines[:40])
    log("perf profile of wraith save (perf record includes its own overhead):\n" + b.perf)


def resize_case(b, size):
    """Restore onto a disk half the size (--layout fit: partitions and filesystems shrink, data
    past the new ends moves through scratch space) against a same-size restore of the same
    image. The main disk is ~60 % full and cannot fit half its size, so this case builds the
    same kind of disk a fifth as full (ext4 ~15 %, NTFS ~10 %, like the 80 GB in use on a
    512 GB disk that technicians want on a 256 GB SSD). Root: the resize tools run on loop
    devices."""
    if os.geteuid() != 0:
        log("resize case skipped: the resize tools need root (loop devices)")
        return
    if size < GiB:
        # At 512 MiB the ESP (64 MiB, never shrunk) plus every filesystem's minimum needs
        # more than half the disk: wraith rightly refuses the target.
        log("resize case skipped: it needs a disk of 1 GiB or more (--size)")
        return
    w, work = b.w, b.work
    disk = os.path.join(work, "resize-disk.img")
    repo = os.path.join(work, "repo-resize")
    tgt = os.path.join(work, "resize-target.img")
    rm(disk, repo, tgt)
    gen_disk(work, size, disk, disk + ".json", fill=0.2)
    run(["bash", "-c", f"'{w}' --json save '{disk}' '{repo}:r' >/dev/null 2>&1"])
    b.measure("wraith", "restore (resize disk)",
              f"'{w}' --json restore '{repo}:r' '{tgt}' --yes --layout keep 2>/dev/null", [tgt],
              note="same-size restore of the resize case's image")
    rm(tgt)
    half = (size // 2) // MiB * MiB
    r = b.measure("wraith", "restore fit 50%",
                  f"truncate -s {half} '{tgt}'\n"
                  f"'{w}' --json restore '{repo}:r' '{tgt}' --yes --layout fit "
                  f"--scratch '{work}' 2>'{work}/ev-restore-fit.jsonl'", [tgt],
                  note="restore --layout fit onto a target of half the size")
    shape = (r.get("result") or {}).get("layout") or {}
    r["scratch_bytes"] = shape.get("scratch_bytes")
    r["steps"] = [(st.get("number"), st.get("how"), st.get("old_len"), st.get("new_len"))
                  for st in shape.get("steps", [])]
    log(f"restore fit 50%: peak scratch {fmt_size(r['scratch_bytes'] or 0)}, steps {r['steps']}")
    if b.a.check:
        run(["sfdisk", "--verify", tgt])
    rm(disk, disk + ".json", repo, tgt)


def sparse_case(b, size, data):
    """GPT disk with one ext4 partition holding `data` bytes; mkfs on a sparse file."""
    disk = os.path.join(b.work, f"sparse-{fmt_size(size)}.img")
    tree = os.path.join(b.work, "sparse-tree")
    img = os.path.join(b.work, "sparse-p1.img")
    rm(disk, img)
    if not os.path.isdir(tree):
        rnd = Rand("sparse")
        os.makedirs(tree)
        build_tree(tree, data, rnd, TextGen(3), 21, system_files(7))
        rnd.close()
    part = {"name": "root", "start": MiB, "size": size - 2 * MiB, "type": "L"}
    with open(disk, "wb") as f:
        f.truncate(size)
    run(["sfdisk", "-q", "--no-reread", "--no-tell-kernel", disk], input=gpt_script([part]).encode())
    with open(img, "wb") as f:
        f.truncate(part["size"])
    mkfs_ext4(img, tree, "root")
    copy_into(img, disk, part["start"])
    rm(img)
    return disk


def sparse_test(b, data):
    log(f"sparse test: 64 GiB and 2 GiB disks, one ext4 partition with {data / GiB:.1f} GiB")
    d64 = sparse_case(b, 64 * GiB, data)
    d2 = sparse_case(b, 2 * GiB, data)
    rm(os.path.join(b.work, "sparse-tree"))
    res = {}
    for name, d in (("2G", d2), ("64G", d64)):
        repo = os.path.join(b.work, f"repo-sparse-{name}")
        rm(repo)
        warm(d)  # reads the 64 GiB file's holes too: fast, nothing cached
        r = b.measure("wraith", f"save sparse {name}",
                      f"'{b.w}' --json save '{d}' '{repo}:s' 2>/dev/null", [repo],
                      stored=lambda: tree_bytes(repo),
                      note=f"1 ext4 partition, {data / GiB:.1f} GiB of data")
        res[name] = r
        rm(repo)
    rm(d64, d2)
    return {"ratio_64G_over_2G": round(res["64G"]["wall_s"] / res["2G"]["wall_s"], 3),
            "rss_ratio_64G_over_2G": round(res["64G"]["peak_rss_mib"] / res["2G"]["peak_rss_mib"],
                                           3)}


# ---------------------------------------------------------------------------------------------
# Report

# Issue 19's goals (reported, never asserted): each wraith operation against the machine's own
# limit measured in the same run, plus save against partclone.
TARGETS = [
    ("save time / compression limit", "save_vs_compress", "<=", 1.2),
    ("save time wraith/partclone", "save_time", "<=", 0.25),
    ("save stored wraith/partclone", "save_stored", "<=", 1.0),
    ("restore time / direct-write time", "restore_vs_write", "<=", 1.15),
    ("clone time / direct-write time", "clone_vs_write", "<=", 1.15),
    ("verify bandwidth / direct read", "verify_vs_read", ">=", 0.9),
    ("sparse 64G/2G peak RSS", "sparse_rss_ratio", "<=", 1.1),
]
# Issue 7's goals, all met in round one: kept visible to catch regressions.
EARLIER = [
    ("restore time wraith/partclone", "restore_time", "<=", 0.5),
    ("clone time wraith/partclone", "clone_time", "<=", 0.5),
    ("restore onto half size / same-size restore", "fit_restore_time", "<=", 2.0),
    ("incremental stored % of full", "inc_stored_pct", "<=", 10.0),
    ("incremental time / full save", "inc_time", "<=", 0.3),
    ("wraith peak RSS MiB", "wraith_peak_rss_mib", "<=", 256.0),
    ("verify GB/s of stored data", "verify_gbps_stored", ">=", 1.0),
    ("sparse 64G/2G save time", "sparse_ratio", "<=", 1.2),
]
# Printed without a goal.
INFO = [
    ("save time / hash (b3sum) limit", "save_vs_hash"),
    ("save time / (compress + hash CPU) / cores", "save_vs_cpu_floor"),
    ("save CPU s / (zstd + b3sum CPU s)", "save_cpu_vs_limits_cpu"),
    ("save stored / zstd over used bytes", "save_stored_vs_zstd"),
    ("save time wraith/dd", "save_time_vs_dd"),
    ("incremental new_stored %", "inc_new_stored_pct"),
]


def get_row(rows, tool, op):
    for r in rows:
        if r["tool"] == tool and r["op"] == op:
            return r
    return None


def limit_times(rows, lim):
    """Each wraith operation's limit, as a time: what the machine's ceiling measured in this run
    allows for the work that operation did. Also stored on the rows as `limit_s`."""
    out = {}
    if not lim:
        return out
    ws = get_row(rows, "wraith", "save")
    if ws:
        out["save"] = lim["compress_s"]
    for op in ("restore", "clone"):
        r = get_row(rows, "wraith", op)
        written = sum((r or {}).get("allocated_bytes", {}).values())
        if r and written:
            # The bytes it wrote: the target's allocated blocks (a new file: only what was
            # written is allocated), at the direct-write bandwidth of the same filesystem.
            out[op] = written / lim["direct_write_Bps"]
            r["written_bytes"] = written
    v = get_row(rows, "wraith", "verify")
    if v and v["stored_bytes"]:
        out["verify"] = v["stored_bytes"] / lim["direct_read_Bps"]
    for op, t in out.items():
        get_row(rows, "wraith", op)["limit_s"] = round(t, 3)
    return out


def ratios(rows, sparse, lim=None):
    def get(tool, op):
        return get_row(rows, tool, op)

    out = {}

    def ratio(key, a, b, field):
        if a and b and b[field]:
            out[key] = round(a[field] / b[field], 3)

    ws, ps = get("wraith", "save"), get("partclone", "save")
    ratio("save_time", ws, ps, "wall_s")
    ratio("save_stored", ws, ps, "stored_bytes")
    ratio("save_time_vs_dd", ws, get("dd", "save"), "wall_s")
    ratio("restore_time", get("wraith", "restore"), get("partclone", "restore"), "wall_s")
    ratio("clone_time", get("wraith", "clone"), get("partclone", "clone"), "wall_s")
    ratio("fit_restore_time", get("wraith", "restore fit 50%"),
          get("wraith", "restore (resize disk)"), "wall_s")
    lt = limit_times(rows, lim)
    for op, key in (("save", "save_vs_compress"), ("restore", "restore_vs_write"),
                    ("clone", "clone_vs_write")):
        if op in lt:
            out[key] = round(get("wraith", op)["wall_s"] / lt[op], 3)
    if "verify" in lt:
        # bandwidth ratio: (stored / wall) / read bandwidth = limit time / wall time
        out["verify_vs_read"] = round(lt["verify"] / get("wraith", "verify")["wall_s"], 3)
    if lim and ws:
        out["save_vs_hash"] = round(ws["wall_s"] / lim["hash_s"], 3)
        # A save must compress and hash every byte: with perfect overlap on every core it
        # cannot beat the two tools' CPU seconds spread over the cores.
        floor = (lim["compress_cpu_s"] + lim["hash_cpu_s"]) / (os.cpu_count() or 1)
        if floor:
            out["save_vs_cpu_floor"] = round(ws["wall_s"] / floor, 3)
            # The same in CPU seconds: does not depend on how busy the machine is.
            out["save_cpu_vs_limits_cpu"] = round(
                ws["cpu_s"] / (lim["compress_cpu_s"] + lim["hash_cpu_s"]), 3)
        if lim.get("compressed_bytes") and ws["stored_bytes"]:
            out["save_stored_vs_zstd"] = round(ws["stored_bytes"] / lim["compressed_bytes"], 3)
    inc = get("wraith", "save incremental")
    if inc and ws:
        out["inc_stored_pct"] = round(100 * inc["stored_bytes"] / ws["stored_bytes"], 2)
        if inc.get("new_stored_bytes") is not None and ws.get("new_stored_bytes"):
            out["inc_new_stored_pct"] = round(
                100 * inc["new_stored_bytes"] / ws["new_stored_bytes"], 2)
        out["inc_time"] = round(inc["wall_s"] / ws["wall_s"], 3)
    v = get("wraith", "verify")
    if v:
        out["verify_gbps_stored"] = round(v["stored_bytes"] / v["wall_s"] / 1e9, 3)
    wr = [r["peak_rss_mib"] for r in rows if r["tool"] == "wraith"]
    if wr:
        out["wraith_peak_rss_mib"] = max(wr)
    if sparse:
        out["sparse_ratio"] = sparse["ratio_64G_over_2G"]
        if sparse.get("rss_ratio_64G_over_2G") is not None:
            out["sparse_rss_ratio"] = sparse["rss_ratio_64G_over_2G"]
    return out


def print_report(rows, rat, used):
    print()
    hdr = (f"{'tool':10} {'op':22} {'wall s':>8} {'cpu s':>8} {'RSS MiB':>8} {'stored MiB':>11} "
           f"{'MB/s':>7} {'limit s':>8} {'x limit':>8}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        st = f"{r['stored_bytes'] / MiB:11.1f}" if r["stored_bytes"] is not None else f"{'':11}"
        # MB/s of the used data for every tool (the same numerator: same work), except the
        # limit rows, which show their own bytes (the direct-I/O file is the disk's size).
        n = r.get("bytes") or (used if not r["op"].startswith("save sparse") else None)
        mbs = f"{n / 1e6 / r['wall_s']:7.0f}" if n and r["wall_s"] else f"{'':7}"
        if r.get("limit_s"):
            lim = f"{r['limit_s']:8.2f} {r['wall_s'] / r['limit_s']:8.2f}"
        else:
            lim = f"{'':8} {'':8}"
        print(f"{r['tool']:10} {r['op']:22} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} "
              f"{r['peak_rss_mib']:8.1f} {st} {mbs} {lim}")
    print()
    if used:
        print(f"used data (wraith image_bytes): {used / MiB:.1f} MiB")
    print("limit s: the machine's limit for the same work, measured in this run (save: zstd -T0 "
          "over the used bytes; restore, clone: their written bytes at dd's direct-write "
          "bandwidth; verify: the stored bytes at dd's direct-read bandwidth)")

    def goals(title, table):
        shown = [(l, k, c, t) for l, k, c, t in table if k in rat]
        if not shown:
            return
        print(title)
        for label, key, cmp, target in shown:
            v = rat[key]
            ok = v <= target if cmp == "<=" else v >= target
            print(f"  {label:42} {v:8.3f}   goal {cmp} {target:<5}  {'meets' if ok else 'MISSES'}")

    goals("issue 19 goals:", TARGETS)
    goals("issue 7 goals (round one):", EARLIER)
    for label, key in INFO:
        if key in rat:
            print(f"  {label:42} {rat[key]:8.3f}")


def versions(w):
    def first(cmd):
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            return p.stdout.decode(errors="replace").strip().splitlines()[0]
        except (OSError, IndexError):
            return None
    rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
    return {"wraith": first([w, "--version"]), "wraith_git": rev,
            "partclone": first(["partclone.ext4", "-v"]), "zstd": first(["zstd", "-V"]),
            "b3sum": first(["b3sum", "--version"]),
            "kernel": platform.release(), "cpus": os.cpu_count(),
            "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                               if l.startswith("model name")), None)}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wraith", required=True, help="the wraith binary")
    ap.add_argument("--size", type=parse_size, default=2 * GiB, help="disk size (default 2G)")
    ap.add_argument("--work", default=os.path.join(HERE, "work"), help="scratch directory")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--regen", action="store_true", help="rebuild the cached disk")
    ap.add_argument("--change-pct", type=float, default=3.0,
                    help="percent of the ext4 data changed for the incremental save")
    ap.add_argument("--sparse-test", action="store_true",
                    help="also run the 64 GiB sparse disk vs 2 GiB disk case")
    ap.add_argument("--sparse-data", type=parse_size, default=1 * GiB)
    ap.add_argument("--no-main", action="store_true", help="skip the tool comparison")
    ap.add_argument("--no-resize", action="store_true",
                    help="skip the restore onto a half-size disk (root only)")
    ap.add_argument("--check", action="store_true", help="fsck restored/cloned ext4 (slower)")
    ap.add_argument("--perf", action="store_true", help="perf stat of an extra wraith save")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each save, verify, restore, clone and limit step N times and "
                         "keep the fastest (for a machine shared with other work)")
    ap.add_argument("--gen-only", action="store_true",
                    help="only generate (and keep) the disk for --size, then exit")
    ap.add_argument("--keep-disk", action="store_true",
                    help="keep the generated disk in the work directory for the next run")
    a = ap.parse_args()
    a.wraith = os.path.abspath(a.wraith)
    a.work = os.path.abspath(a.work)
    os.makedirs(a.work, exist_ok=True)
    b = Bench(a)
    b.perf = None
    b.limits = None
    started = datetime.datetime.now()
    meta = None
    sparse = None
    if not a.no_main:
        disk = os.path.join(a.work, f"disk-{fmt_size(a.size)}.img")
        meta_path = disk + ".json"
        if not a.regen and os.path.exists(disk) and os.path.exists(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
            if meta.get("gen_version") != GEN_VERSION:
                meta = None
        if meta is None:
            meta = gen_disk(a.work, a.size, disk, meta_path)
        else:
            log(f"reusing {disk}")
        if a.gen_only:
            return
        main_bench(b, meta, disk)
        if not a.keep_disk:
            rm(disk, meta_path)
    if not a.no_resize:
        resize_case(b, a.size)
    if a.sparse_test:
        sparse = sparse_test(b, a.sparse_data)
    rat = ratios(b.rows, sparse, b.limits)
    used = meta.get("image_bytes") if meta else None
    print_report(b.rows, rat, used)
    os.makedirs(a.results, exist_ok=True)
    res = os.path.join(a.results, started.strftime("%Y%m%d-%H%M%S") + ".json")
    doc = {"started": started.isoformat(timespec="seconds"), "size": a.size if meta else None,
           "versions": versions(a.wraith), "disk": {k: v for k, v in (meta or {}).items()
                                                    if k != "ext4_files"},
           "rows": b.rows, "ratios": rat, "sparse": sparse, "perf": b.perf, "limits": b.limits,
           "targets": [{"label": l, "key": k, "cmp": c, "target": t, "issue": 19}
                       for l, k, c, t in TARGETS]
           + [{"label": l, "key": k, "cmp": c, "target": t, "issue": 7}
              for l, k, c, t in EARLIER]}
    with open(res, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"\nresults: {res}")


if __name__ == "__main__":
    main()
