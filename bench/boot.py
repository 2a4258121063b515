#!/usr/bin/env python3
"""Boot-time bench: boots the built ISO as a CD under SeaBIOS in QEMU (TCG, as the QEMU tests
do) N times and prints where the seconds go from power-on to the TUI's home screen.

It owns nothing but its QEMU processes and a scratch directory; it reads the guest only
through its serial console (kernel printk stamps, wraith-init's own lines) and the VGA text
memory (over QMP), as a technician's eyes would. No test asserts on these figures.

Phases of one boot (host clock from QEMU's start unless said otherwise):
  firmware+grub   QEMU start -> GRUB's menu is drawn ("executed automatically in")
  countdown       the menu's countdown (only with --menu-timeout, where it is measured
                  together with GRUB's loading; otherwise the bench presses Enter as soon
                  as the menu is drawn, and the countdown is not counted)
  grub load       Enter (or the countdown's end) -> the kernel starts; the kernel's start on
                  the host clock is WRAITH-READY's arrival minus its uptime= (CLOCK_BOOTTIME)
  kernel          kernel start -> "Run /init as init process" (printk stamp): the kernel's own
                  time, initramfs unpacking included
  init early      /init -> "wraith-init: starting" up to udev's start
  udev            udevd start, coldplug trigger, settle (init's lines)
  disk wait       after udev until WRAITH-READY (disk list, network start; an interactive
                  boot waits for no late disk, a job for wraith.wait)
  ui start        WRAITH-READY -> the home screen with its disk list on the VGA text screen
                  (polled over QMP every 100 ms, so up to 0.1 s late)

Usage: bench/boot.py [--iso out/wraith.iso] [-n 3] [--memory 256] [--menu-timeout]
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

MENU = b"executed automatically in"
STAMP = re.compile(rb"\[\s*(\d+\.\d{6})\] (.*)")
HOME_WANT = ["Wraith - disk cloning", "Disks", "QEMU DVD-ROM", "Enter actions"]


class Serial:
    """The console's bytes with the host time each chunk arrived."""

    def __init__(self, stream, t0):
        self.t0 = t0
        self.chunks = []  # (host seconds since start, bytes)
        self.buf = b""
        self.lock = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        while True:
            data = os.read(stream.fileno(), 4096)
            if not data:
                break
            with self.lock:
                self.chunks.append((time.monotonic() - self.t0, data))
                self.buf += data
                self.lock.notify_all()

    def wait(self, needle, timeout):
        """Host time of the chunk that completed `needle`, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while needle not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.lock.wait(left)
            return self.arrival(self.buf.index(needle) + len(needle))

    def arrival(self, offset):
        seen = 0
        for t, data in self.chunks:
            seen += len(data)
            if seen >= offset:
                return t
        return None

    def lines(self):
        with self.lock:
            text = self.buf
        return text.replace(b"\r", b"\n").split(b"\n")


class Qmp:
    def __init__(self, path):
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.file = self.sock.makefile("rwb")
        self.file.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, execute, **arguments):
        self.file.write(json.dumps({"execute": execute, "arguments": arguments}).encode() + b"\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {execute}: {reply['error']}")


def vga_text(qmp, scratch):
    """The VGA text memory (0xB8000, 32 KiB) as rows of 80 characters."""
    path = os.path.join(scratch, "vga.bin")
    qmp.cmd("pmemsave", val=0xB8000, size=0x8000, filename=path)
    with open(path, "rb") as f:
        cells = f.read()
    chars = bytes(c if 0x20 <= c < 0x7F else 0x20 for c in cells[0::2])
    return [chars[i : i + 80].decode() for i in range(0, len(chars), 80)]


def home_screen_shown(rows):
    """True when the last screen starting at the UI's title line shows every HOME_WANT."""
    tops = [i for i, r in enumerate(rows) if HOME_WANT[0] in r]
    if not tops:
        return False
    screen = "\n".join(rows[tops[-1] : tops[-1] + 25])
    return all(w in screen for w in HOME_WANT)


def stamp_of(lines, needle):
    """The printk stamp (seconds since the kernel started) of the first line holding `needle`."""
    for line in lines:
        if needle in line:
            m = STAMP.search(line)
            if m:
                return float(m.group(1))
    return None


def one_boot(iso, memory, menu_timeout, scratch, log=None):
    disk = os.path.join(scratch, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    qmp_path = os.path.join(scratch, "qmp.sock")
    args = [
        "qemu-system-x86_64", "-m", str(memory), "-smp", "2", "-display", "none",
        "-serial", "stdio", "-monitor", "none",
        "-qmp", f"unix:{qmp_path},server=on,wait=off", "-no-reboot",
        "-nic", "user,model=virtio-net-pci",
        "-device", "qemu-xhci,id=xhci", "-device", "ahci,id=ahci",
        "-drive", f"if=none,id=cd,media=cdrom,readonly=on,format=raw,file={iso}",
        "-device", "ide-cd,drive=cd,bus=ahci.0,bootindex=0",
        "-drive", f"if=none,id=d0,format=raw,file={disk}",
        "-device", "virtio-blk-pci,drive=d0,serial=BENCH-DISK",
    ]
    t0 = time.monotonic()
    vm = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        serial = Serial(vm.stdout, t0)
        t_menu = serial.wait(MENU, 120)
        if t_menu is None:
            raise RuntimeError("no GRUB menu within 120 s")
        t_go = t_menu
        if not menu_timeout:
            vm.stdin.write(b"\r")
            vm.stdin.flush()
            t_go = time.monotonic() - t0
        t_ready = serial.wait(b"WRAITH-READY", 180)
        if t_ready is None:
            raise RuntimeError("no WRAITH-READY within 180 s")
        qmp = Qmp(qmp_path)
        t_home = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if home_screen_shown(vga_text(qmp, scratch)):
                t_home = time.monotonic() - t0
                break
            time.sleep(0.1)
        if t_home is None:
            raise RuntimeError("no home screen within 60 s of WRAITH-READY:\n"
                               + "\n".join(vga_text(qmp, scratch)))
        time.sleep(0.3)  # the rest of the READY line
        lines = serial.lines()
        if log:
            with open(log, "wb") as f:
                for t, data in serial.chunks:
                    f.write(b"{%.3f}" % t + data)
    finally:
        vm.kill()
        vm.wait()

    def need(needle):
        s = stamp_of(lines, needle)
        if s is None:
            raise RuntimeError(f"no {needle!r} line on the console")
        return s

    ready_line = next(l for l in lines if b"WRAITH-READY" in l)
    uptime = float(re.search(rb"uptime=(\d+\.\d+)", ready_line).group(1))
    kernel_start = t_ready - uptime
    k_init = need(b"Run /init as init process")
    k_udev0 = stamp_of(lines, b"wraith-init: udev: starting") or need(b"wraith-init: config:")
    # Where init stops waiting for udev: after its settle (older inits logged "udev started"
    # after it), or at once where the UI follows the coldplug itself.
    ends = [b"wraith-init: udev: the UI follows", b"wraith-init: udev settled",
            b"wraith-init: udev started"]
    k_udev1 = next((s for s in (stamp_of(lines, e) for e in ends) if s is not None), None)
    if k_udev1 is None:
        raise RuntimeError("no line of init's that udev is done on the console")
    phases = {
        "firmware+grub": t_menu,
        # Without a key the countdown and GRUB's loading are one span: subtract "grub load"
        # of a run with Enter pressed to get the countdown alone.
        "countdown+grub load": (t_ready - uptime) - t_menu if menu_timeout else None,
        "grub load": None if menu_timeout else kernel_start - t_go,
        "kernel": k_init,
        "init early": k_udev0 - k_init,
        "udev": k_udev1 - k_udev0,
        "disk wait": uptime - k_udev1,
        "ui start": t_home - t_ready,
        "kernel to ready": uptime,
        "power-on to home": t_home - (t_go - t_menu),
    }
    if menu_timeout:
        phases["power-on to home"] = t_home
    mem = stamp_line(lines, b"wraith-init: memory: ")
    if mem:
        print("  " + mem, flush=True)
    return phases


def stamp_line(lines, needle):
    """The text after `needle` on the first line holding it."""
    for line in lines:
        if needle in line:
            return line.split(needle, 1)[1].decode(errors="replace").strip()
    return None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iso", default=os.path.join(here, "..", "out", "wraith.iso"))
    p.add_argument("-n", type=int, default=3)
    p.add_argument("--memory", type=int, default=256)
    p.add_argument("--log", help="write each run's console, chunks stamped {host s}, to LOG.N")
    p.add_argument("--menu-timeout", action="store_true",
                   help="press no key: let the menu count down (reports its length)")
    a = p.parse_args()
    if not os.path.exists(a.iso):
        sys.exit(f"{a.iso} not found: run ./build.sh all first")
    runs = []
    for i in range(a.n):
        with tempfile.TemporaryDirectory(prefix="wraith-bootbench-") as scratch:
            r = one_boot(a.iso, a.memory, a.menu_timeout, scratch,
                         f"{a.log}.{i + 1}" if a.log else None)
        runs.append(r)
        print(f"run {i + 1}: " + ", ".join(
            f"{k} {v:.2f}" for k, v in r.items() if v is not None), flush=True)
    print(f"\nISO {os.path.realpath(a.iso)} ({os.path.getsize(a.iso) / 2**20:.1f} MiB), "
          f"SeaBIOS, CD, TCG, {a.memory} MiB, median of {a.n} (s):")
    for k in runs[0]:
        vals = [r[k] for r in runs if r[k] is not None]
        if vals:
            print(f"  {k:18} {statistics.median(vals):6.2f}   "
                  f"(min {min(vals):.2f}, max {max(vals):.2f})")
    k = statistics.median(r["kernel"] for r in runs)
    ready = statistics.median(r["kernel to ready"] for r in runs)
    print(f"  kernel-to-ready / kernel's time to /init: {ready / k:.2f}x (goal <= 1.5x)")


if __name__ == "__main__":
    main()
