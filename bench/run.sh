#!/usr/bin/env bash
# Wraith performance bench (issues #7, #19). See bench/README.md.
#   bench/run.sh deps                 install partclone, time, zstd, b3sum, disk tools (apt-get)
#   bench/run.sh [options]            build wraith (release) and run the bench; options go to bench.py
#   bench/run.sh clean                remove bench/work
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

deps() {
    local need=()
    command -v partclone.ext4 >/dev/null || need+=(partclone)
    [ -x /usr/bin/time ] || need+=(time)
    command -v zstd >/dev/null || need+=(zstd)
    # The hash limit (issue 19): BLAKE3 over the disk's used bytes. Debian 12 packages b3sum
    # (1.2.0: the blake3 crate with its SIMD code, one thread per core over an mmap).
    command -v b3sum >/dev/null || need+=(b3sum)
    command -v sfdisk >/dev/null || need+=(fdisk)
    command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
    command -v mkfs.vfat >/dev/null || need+=(dosfstools)
    command -v mcopy >/dev/null || need+=(mtools)
    command -v mkntfs >/dev/null || need+=(ntfs-3g)
    command -v python3 >/dev/null || need+=(python3)
    # The room bench's peer (bench/room.py): Clonezilla SE's multicast sender and receiver.
    command -v udp-sender >/dev/null || need+=(udpcast)
    if [ ${#need[@]} -eq 0 ]; then echo "bench deps: all present"; return; fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "bench deps: installing ${need[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}"
}

case "${1:-}" in
    deps) deps; exit 0 ;;
    clean) rm -rf "$here/work"; exit 0 ;;
esac

for tool in partclone.ext4 b3sum; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is missing: run 'bench/run.sh deps' first" >&2
        exit 2
    fi
done
(cd "$root" && cargo build --release -p wraith)
exec python3 "$here/bench.py" --wraith "$root/target/release/wraith" "$@"
