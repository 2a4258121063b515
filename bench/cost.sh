#!/usr/bin/env bash
# Load-independent cost of wraith's pipelines on one disk image (see bench/README.md, "Cost").
#   bench/cost.sh DISK [WRAITH] [OUT-DIR]        wraith only
#   PEERS=1 bench/cost.sh DISK [WRAITH] [OUT-DIR]   also partclone | zstd -3 and dd | zstd -3
# For save, verify, restore and clone: user-space instructions from `valgrind --tool=callgrind`
# (the same number however busy the machine is; every process of a pipeline is counted), then
# CPU time (user + sys), peak RSS and wall time from /usr/bin/time in a normal run. Wall time
# is only meaningful on an idle machine. Kernel work (page-cache copies, page faults) is in
# sys time only: callgrind sees user space.
# Callgrind profiles stay in OUT-DIR (callgrind_annotate OUT-DIR/save.cg shows where it goes).
set -euo pipefail
disk="$(realpath "$1")"
w="$(realpath "${2:-$(dirname "$0")/../target/release/wraith}")"
out="$(realpath -m "${3:-$(dirname "$0")/work/cost}")"
mkdir -p "$out"
repo="$out/repo" tgt="$out/target.img"
rm -rf "$repo" "$tgt"

# One step: callgrind run first (its outputs are thrown away), then a timed normal run.
step() {
    local name="$1" pre="$2"
    shift 2
    eval "$pre"
    local ir
    ir=$(valgrind --tool=callgrind --callgrind-out-file="$out/$name.cg" "$@" 2>&1 >/dev/null \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    eval "$pre"
    sync
    /usr/bin/time -f "%e %U %S %M" -o "$out/time.txt" "$@" >/dev/null 2>&1
    sync
    read -r wall user sys rss <"$out/time.txt"
    printf '%-16s %14s %8.2f %8.2f %8.2f %8.1f %8.2f\n' "$name" "$ir" "$user" "$sys" \
        "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc -l)" "$wall"
}

printf '%-16s %14s %8s %8s %8s %8s %8s\n' step instructions user_s sys_s cpu_s rss_MiB wall_s
step save "rm -rf '$repo'" "$w" --json save "$disk" "$repo:cost"
stored=$(du -sb --apparent-size "$repo" | cut -f1)
step verify ":" "$w" --json verify "$repo"
step restore "rm -f '$tgt'" "$w" --json restore "$repo:cost" "$tgt" --yes
step clone "rm -f '$tgt'" "$w" --json clone "$disk" "$tgt" --yes
echo "stored bytes: $stored (repository, apparent size)"
rm -rf "$tgt"
[ -n "${PEERS:-}" ] || exit 0

# Peers, as bench.py runs them (partitions given to partclone as files, like /dev/sdaN).
# A script is run twice: with $V expanding to valgrind (instructions summed over every process
# of the pipeline), then with $V empty under /usr/bin/time.
peer() {
    local name="$1" pre="$2" script="$3"
    eval "$pre"
    rm -f "$out"/vg.*.log
    V="valgrind --tool=callgrind --callgrind-out-file=/dev/null --log-file=$out/vg.%p.log" \
        bash -c "set -euo pipefail; $script"
    local ir
    ir=$(cat "$out"/vg.*.log | sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | paste -sd+ | bc)
    eval "$pre"
    sync
    V="" /usr/bin/time -f "%e %U %S %M" -o "$out/time.txt" bash -c "set -euo pipefail; $script"
    sync
    read -r wall user sys rss <"$out/time.txt"
    printf '%-16s %14s %8.2f %8.2f %8.2f %8.1f %8.2f\n' "$name" "$ir" "$user" "$sys" \
        "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc -l)" "$wall"
}
pc="$out/pc"
rm -rf "$pc"
mkdir -p "$pc"
declare -a starts types files
save_s="sfdisk -d '$disk' > '$pc/table'; dd if='$disk' of='$pc/head' bs=1M count=1 status=none"
restore_s="truncate -s $(stat -c %s "$disk") '$tgt'; dd if='$pc/head' of='$tgt' conv=notrunc status=none; sfdisk -q --no-reread --no-tell-kernel '$tgt' < '$pc/table'"
clone_s="truncate -s $(stat -c %s "$disk") '$tgt'; sfdisk -d '$disk' | sfdisk -q --no-reread --no-tell-kernel '$tgt'"
i=0
while read -r start size; do
    i=$((i + 1))
    f="$pc/src-p$i.img"
    dd if="$disk" of="$f" bs=1M iflag=skip_bytes,count_bytes skip=$((start * 512)) \
        count=$((size * 512)) status=none
    t=$(blkid -p -o value -s TYPE "$f" || true)
    case "$t" in vfat) t=fat32 ;; ext2|ext3|ext4) t=ext4 ;; ntfs) ;; *) continue ;; esac
    save_s+="; \$V partclone.$t -q -c -s '$f' -o - -f 0 -L '$pc/log' 2>/dev/null | \$V zstd -q -T0 -3 > '$pc/p$i.zst'"
    restore_s+="; \$V zstd -q -dc '$pc/p$i.zst' | \$V partclone.$t -q -r -s - -O '$tgt' -E $((start * 512)) -f 0 -L '$pc/log' 2>/dev/null"
    clone_s+="; \$V partclone.$t -q -b -s '$f' -O '$tgt' -E $((start * 512)) -f 0 -L '$pc/log' 2>/dev/null"
done < <(sfdisk -d "$disk" | sed -n 's/.*start= *\([0-9]*\), size= *\([0-9]*\).*/\1 \2/p')
cat "$pc"/src-p*.img >/dev/null
peer partclone-save ":" "$save_s"
echo "partclone stored bytes: $(cat "$pc"/p*.zst "$pc/table" "$pc/head" | wc -c)"
peer partclone-restore "rm -f '$tgt'" "$restore_s"
peer partclone-clone "rm -f '$tgt'" "$clone_s"
peer dd-save ":" "\$V dd if='$disk' bs=4M status=none | \$V zstd -q -T0 -3 > '$pc/disk.zst'"
echo "dd stored bytes: $(stat -c %s "$pc/disk.zst")"
peer dd-restore "rm -f '$tgt'" "\$V zstd -q -dc '$pc/disk.zst' | \$V dd of='$tgt' bs=4M iflag=fullblock conv=sparse status=none"
rm -rf "$pc" "$tgt"
