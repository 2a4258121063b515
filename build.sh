#!/usr/bin/env bash
# Wraith developer entry point. Usage: ./build.sh {deps|test|build|run} [args...]
set -euo pipefail

cd "$(dirname "$0")"
# sfdisk, mkfs.* and e2fsck live in sbin, which a non-root user's PATH lacks on Debian.
export PATH="$PATH:/usr/sbin:/sbin"

# Command -> Debian package. The test fixtures (testkit/) drive these real tools.
declare -A TOOL_PKG=(
    [sfdisk]=fdisk
    [mkfs.ext4]=e2fsprogs [debugfs]=e2fsprogs [e2fsck]=e2fsprogs [dumpe2fs]=e2fsprogs
    [mkfs.vfat]=dosfstools [fsck.vfat]=dosfstools [mkfs.exfat]=exfatprogs
    [mcopy]=mtools [mmd]=mtools [mdel]=mtools [mdir]=mtools [mtype]=mtools
    [mkntfs]=ntfs-3g [ntfscp]=ntfs-3g [ntfscat]=ntfs-3g [ntfsls]=ntfs-3g
    [ntfsfix]=ntfs-3g [ntfsinfo]=ntfs-3g [ntfsresize]=ntfs-3g [resize2fs]=e2fsprogs
    [ntfsfallocate]=ntfs-3g [ntfstruncate]=ntfs-3g [mkfs.xfs]=xfsprogs
    # Console keymaps for the live system (rootfs/keymaps.sh compiles console-data's sources).
    [loadkeys]=kbd
    # depmod indexes the Secure Boot kernel's modules (iso/secureboot.sh).
    [depmod]=kmod
    [zstd]=zstd [pkg-config]=pkg-config
    [cc]=build-essential [make]=build-essential [curl]=curl
    [qemu-system-x86_64]=qemu-system-x86 [grub-mkrescue]=grub-common [xorriso]=xorriso
    [cpio]=cpio [strace]=strace [udevadm]=udev [flex]=flex [bison]=bison [bc]=bc [ccache]=ccache
    # The DHCP server the init's DHCP client is tested against (binary only, no service).
    [dnsmasq]=dnsmasq-base [ip]=iproute2 [python3]=python3
    # Real servers for the network repository tests (started by the tests on loopback).
    [nginx]=nginx [smbd]=samba [smbclient]=smbclient [ganesha.nfsd]=nfs-ganesha
    # Opening images without restoring them: real NBD clients and VM-disk checkers, Clonezilla's
    # partclone and compressors to build its image directories, FUSE helpers for mounting.
    [qemu-img]=qemu-utils [nbd-client]=nbd-client [partclone.ext4]=partclone
    [gzip]=gzip [xz]=xz-utils [lz4]=lz4 [bzip2]=bzip2 [split]=coreutils [fuse2fs]=fuse2fs
)
# Packages that ship files rather than commands.
declare -A FILE_PKG=(
    [/usr/lib/grub/i386-pc/modinfo.sh]=grub-pc-bin
    [/usr/lib/grub/x86_64-efi/modinfo.sh]=grub-efi-amd64-bin
    [/usr/share/OVMF/OVMF_CODE_4M.fd]=ovmf
    [/bin/busybox]=busybox-static
    [/usr/share/keymaps/i386/qwerty/uk.kmap.gz]=console-data
    # nginx's WebDAV PROPFIND/OPTIONS module and ganesha's export of a plain directory.
    [/usr/lib/nginx/modules/ngx_http_dav_ext_module.so]=libnginx-mod-http-dav-ext
    [/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so]=nfs-ganesha-vfs
    # iPXE boot ROMs `wraith serve --pxe` hands out by TFTP, also shipped in the live system.
    [/usr/lib/ipxe/undionly.kpxe]=ipxe
)
# Libraries have no command to probe; check the package itself.
LIB_PKGS=(libudev-dev libelf-dev libssl-dev)

usage() {
    cat <<EOF
Usage: $0 <command>
  deps       install the system packages the build and tests need (apt-get, only if missing)
  kernel     build the live kernel (cached by config hash in \$WRAITH_CACHE, default ~/.cache/wraith)
  init       build the static PID 1 (wraith-init)
  initramfs  build out/initramfs.zst from rootfs/rootfs.toml
  iso        build out/wraith.iso (hybrid BIOS+UEFI, CD or USB stick)
  pxe        build out/pxe/ (kernel, initramfs, iPXE script)
  all        iso and pxe
  run        build the ISO and boot it in QEMU with demo disks
  demo       demonstrate the wraith CLI on generated demo disk files (no VM)
  test       every test: cargo tests, a short run of every fuzz target, the QEMU tests;
             prints how long each phase took
  fuzz [S]   fuzz every parser of untrusted bytes for S seconds each (default 300)
  build      the release binaries (wraith, initramfs-tool, wraith-demo)
EOF
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        echo "need root to run: $*" >&2
        exit 1
    fi
}

# Packages still missing for a command, file or library this project needs.
missing_pkgs() {
    local tool f pkg
    for tool in "${!TOOL_PKG[@]}"; do
        command -v "$tool" >/dev/null || echo "${TOOL_PKG[$tool]}"
    done
    for f in "${!FILE_PKG[@]}"; do
        [ -e "$f" ] || echo "${FILE_PKG[$f]}"
    done
    for pkg in "${LIB_PKGS[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || echo "$pkg"
    done
}

cmd_deps() {
    local missing round
    # Checked again after installing: apt may remove a package to install another (a machine
    # with backports' qemu-utils loses it to Debian's qemu-system-x86, whose versions must
    # match), and a command that was there before the install is then gone.
    for round in 1 2; do
        # Deduplicated: several tools come from one package.
        mapfile -t missing < <(missing_pkgs | sort -u)
        [ "${#missing[@]}" -eq 0 ] && break
        echo "installing: ${missing[*]}"
        # Only refresh the index when we actually have to install something.
        [ "$round" = 1 ] && as_root env DEBIAN_FRONTEND=noninteractive apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    done
    mapfile -t missing < <(missing_pkgs | sort -u)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "deps: still missing after installing: ${missing[*]}" >&2
        exit 1
    fi
    # libFuzzer driver for the parsers' fuzz targets (fuzz/); built from crates.io.
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    # rustfmt and clippy: `./build.sh test` checks style with them before anything else.
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        rustup component add rustfmt clippy
    fi
}

OUT=out

# Every release build is this one command line. Cargo resolves the features of shared crates
# (libc, serde, ...) from the packages an invocation names, and compiles a crate again for
# each different feature set; one package list means each crate is compiled once, and
# `./build.sh run` after `./build.sh test` compiles nothing. (The live system's init is built
# apart by init/build-init.sh, for a static target.)
RELEASE=(--release -p wraith -p initramfs-tool -p wraith-testkit)

cmd_kernel() {
    KERNEL=$(kernel-config/build-kernel.sh | tail -n 1)
    echo "kernel: $KERNEL"
}

cmd_init() {
    INIT=$(init/build-init.sh | tail -n 1)
    echo "init: $INIT"
}

cmd_initramfs() {
    cmd_init
    # NIC firmware from Debian's non-free-firmware packages (fetched once, cached).
    FIRMWARE=$(rootfs/firmware.sh | tail -n 1)
    # Console keymaps for wraith.keymap= (compiled once from console-data, cached).
    KEYMAPS=$(rootfs/keymaps.sh | tail -n 1)
    cargo build "${RELEASE[@]}"
    mkdir -p "$OUT"
    ./target/release/initramfs-tool build --config rootfs/rootfs.toml --overlay rootfs/overlay \
        --var INIT="$INIT" --var WRAITH="$PWD/target/release/wraith" --var FIRMWARE="$FIRMWARE" \
        --var KEYMAPS="$KEYMAPS" \
        -o "$OUT/initramfs.zst"
    echo "initramfs: $OUT/initramfs.zst ($(stat -c %s "$OUT/initramfs.zst") bytes)"
}

cmd_iso() {
    cmd_kernel
    cmd_initramfs
    local tree="$OUT/iso-tree"
    rm -rf "$tree"
    mkdir -p "$tree/boot/grub"
    cp "$KERNEL" "$tree/boot/vmlinuz"
    cp "$OUT/initramfs.zst" "$tree/boot/initramfs.zst"
    cp iso/grub.cfg "$tree/boot/grub/grub.cfg"
    cmd_secureboot "$tree"
    # BIOS: grub-mkrescue's own GRUB (i386-pc only). UEFI: Debian's signed chain in an El
    # Torito EFI image, which xorriso also exposes as a partition for USB sticks.
    # The volume id marks a Wraith medium: the live system never writes to a disk that has it.
    grub-mkrescue -d /usr/lib/grub/i386-pc -o "$OUT/wraith.iso.tmp" --compress=xz --fonts= \
        --locales= --themes= "$tree" -- -volid WRAITH \
        -as mkisofs --efi-boot boot/efi.img -efi-boot-part --efi-boot-image -- \
        >"$OUT/grub-mkrescue.log" 2>&1 || { cat "$OUT/grub-mkrescue.log" >&2; exit 1; }
    mv "$OUT/wraith.iso.tmp" "$OUT/wraith.iso"
    echo "iso: $OUT/wraith.iso ($(stat -c %s "$OUT/wraith.iso") bytes)"
}

# UEFI with Secure Boot: shim -> GRUB -> Debian's kernel, all signed (iso/secureboot.sh), with
# the kernel's modules as a second initramfs that GRUB loads after ours (iso/grub.cfg). Puts
# /boot/efi.img, /boot/sb/ and /.disk/info (how the signed GRUB finds the medium) into $1.
cmd_secureboot() {
    local tree=$1
    local sb
    sb=$(iso/secureboot.sh | tail -n 1)
    mkdir -p "$tree/boot/sb" "$tree/.disk"
    echo "Wraith live system" > "$tree/.disk/info"
    cp "$sb/vmlinuz" "$tree/boot/sb/vmlinuz"
    cp -r "$sb/licences" "$tree/boot/sb/licences"
    ./target/release/initramfs-tool build --config rootfs/modules.toml \
        --var MODULES="$sb/modules" -o "$tree/boot/sb/modules.zst"
    local efi="$tree/boot/efi.img" kib
    kib=$(( $(du -sk "$sb/efi" | cut -f1) + 512 ))
    rm -f "$efi"
    mkfs.vfat -C -n WRAITH-EFI "$efi" "$kib" >/dev/null
    mmd -i "$efi" ::/EFI ::/EFI/BOOT
    mcopy -i "$efi" "$sb"/efi/* ::/EFI/BOOT/
    echo "secureboot: kernel $(cat "$sb/release"), modules $(stat -c %s "$tree/boot/sb/modules.zst") bytes"
}

cmd_pxe() {
    [ -n "${KERNEL:-}" ] || cmd_kernel
    [ -f "$OUT/initramfs.zst" ] || cmd_initramfs
    mkdir -p "$OUT/pxe"
    cp "$KERNEL" "$OUT/pxe/vmlinuz"
    cp "$OUT/initramfs.zst" "$OUT/pxe/initramfs.zst"
    cp iso/wraith.ipxe "$OUT/pxe/wraith.ipxe"
    echo "pxe: $OUT/pxe/"
}

cmd_all() {
    cmd_iso
    cmd_pxe
}

# How long each phase of `./build.sh test` took, printed at its end (also when it fails), so
# notes can quote figures and a slow phase is seen.
PHASES=()
phase() { # phase NAME COMMAND...: runs COMMAND in this shell and records its wall time
    local name=$1 start=$SECONDS
    shift
    PHASES+=("$name|running")
    "$@"
    PHASES[-1]="$name|$((SECONDS - start))"
}

print_phases() {
    local rc=$? p name secs total=0
    [ "${#PHASES[@]}" -gt 0 ] || return "$rc"
    echo
    echo "Phase times of ./build.sh test:"
    for p in "${PHASES[@]}"; do
        name=${p%|*} secs=${p##*|}
        if [ "$secs" = running ]; then
            printf '  %-24s %s\n' "$name" "stopped here (exit $rc)"
        else
            printf '  %-24s %3d:%02d\n' "$name" $((secs / 60)) $((secs % 60))
            total=$((total + secs))
        fi
    done
    printf '  %-24s %3d:%02d\n' "total" $((total / 60)) $((total % 60))
    if [ -n "${KERNEL_SECS:-}" ]; then
        printf '  (the kernel build took %d:%02d in the background, from after deps)\n' \
            $((KERNEL_SECS / 60)) $((KERNEL_SECS % 60))
    elif [ -n "$KERNEL_PID" ] && kill -0 "$KERNEL_PID" 2>/dev/null; then
        echo "  (the kernel build goes on in the background: $OUT/kernel.log)"
    fi
    return "$rc"
}

# The kernel's cold build (15-30 minutes) runs in the background from the start, at the
# lowest priority, on what the other phases leave of the CPUs: linking, single-threaded
# fuzzing, tests waiting on tools and servers. It is waited for before the ISO is built.
# Warm, it is a cache hit in a second. (build-kernel.sh holds a lock: a second build of the
# same kernel waits for this one.)
KERNEL_PID=
start_kernel() {
    mkdir -p "$OUT"
    rm -f "$OUT/kernel.secs"
    (
        start=$SECONDS
        rc=0
        nice -n 19 kernel-config/build-kernel.sh || rc=$?
        echo $((SECONDS - start)) >"$OUT/kernel.secs"
        exit "$rc"
    ) >"$OUT/kernel.log" 2>&1 &
    KERNEL_PID=$!
}

wait_kernel() {
    if ! wait "$KERNEL_PID"; then
        cat "$OUT/kernel.log" >&2
        echo "the kernel build failed (log above, and in $OUT/kernel.log)" >&2
        exit 1
    fi
    KERNEL=$(tail -n 1 "$OUT/kernel.log")
    local secs
    secs=$(cat "$OUT/kernel.secs")
    echo "kernel: $KERNEL (ready $((secs / 60)):$(printf %02d $((secs % 60))) after it started)"
    KERNEL_SECS=$secs
}

style() {
    # Style first: it takes seconds and fails fastest. The lints declared in Cargo.toml
    # (unwrap_used, panic outside tests) only bind when warnings are errors.
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
}

# Every cargo command of the test phases selects the whole workspace, as `cargo test
# --workspace` does, so they reuse its build: another package list would resolve other
# features for shared crates and compile them (and what depends on them) again.
dhcp_netns() {
    # The DHCP client against dnsmasq in network namespaces: needs root.
    if [ "$(id -u)" -eq 0 ]; then
        cargo test --workspace --test dhcp_netns -- --ignored --nocapture
        # wraith serve on a private LAN: Wake-on-LAN, dnsmasq's TFTP and (proxy-)DHCP.
        cargo test --workspace --test serve_netns -- --ignored --test-threads=1
    else
        echo "NOTE: skipping init/tests/dhcp_netns.rs (needs root for network namespaces)" >&2
    fi
}

qemu_tests() {
    # Every test file of qemu-tests, by name. Where another package has a test file of the
    # same name (ui/tests/net.rs, engine/tests/rescue.rs) it runs too, but with --ignored only
    # its #[ignore]d tests run, and those have none.
    local t names=()
    for t in qemu-tests/tests/*.rs; do
        names+=(--test "$(basename "$t" .rs)")
    done
    WRAITH_ISO="$PWD/$OUT/wraith.iso" WRAITH_KERNEL="$PWD/$OUT/pxe/vmlinuz" \
        WRAITH_INITRAMFS="$PWD/$OUT/pxe/initramfs.zst" \
        cargo test --workspace "${names[@]}" -- --ignored --test-threads=1 --nocapture
}

cmd_test() {
    trap print_phases EXIT
    phase "deps" cmd_deps
    start_kernel
    phase "fmt+clippy" style
    # Every tool is installed now: a test that would skip for a missing one fails instead.
    export WRAITH_NO_SKIP=1
    phase "cargo test" cargo test --workspace "$@"
    phase "dhcp netns" dhcp_netns
    phase "fuzz" cmd_fuzz 6
    # The end-to-end tests boot the real ISO and kernel: build them first (cached after once).
    phase "kernel (waiting)" wait_kernel
    phase "ISO and PXE build" cmd_all
    phase "QEMU tests" qemu_tests
}

FUZZ_TARGETS=(gpt mbr ext fat ntfs manifest index pack cpio job ext_files ntfs_files fs_read propfind html dhcp netlink cmdline live nbd vdisk partclone)

# Fuzzes each parser of untrusted bytes (fuzz/) for $1 seconds. Only the stable toolchain is
# needed: RUSTC_BOOTSTRAP lets cargo-fuzz pass its flags; without a sanitizer (-s none), since
# safe Rust needs none to find panics, overflows (-a keeps overflow checks), hangs and memory
# blow-ups. Inputs that crash land in fuzz/artifacts/<target>/; each becomes a regression test.
cmd_fuzz() {
    local secs="${1:-300}"
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    # Seeds come from real disks, a real save and a real cpio archive, made here, not committed.
    # Made again when the seed maker changes, so a new target gets its seeds on a machine that
    # already has a corpus.
    local stamp
    stamp=$(sha256sum engine/examples/fuzz_corpus.rs | cut -c1-16)
    if [ "$(cat fuzz/corpus/.seeded 2>/dev/null)" != "$stamp" ]; then
        # Not `-p wraith-engine`: the whole workspace's features, so `cargo test --workspace`
        # already built everything this needs.
        cargo run -q --example fuzz_corpus -- fuzz/corpus
        echo "$stamp" >fuzz/corpus/.seeded
    fi
    # Only for cargo fuzz: exported, it would reach the release builds after this in
    # `./build.sh test`, whose build scripts (anyhow, proc-macro2, thiserror) look at it and
    # so build differently; `./build.sh run` without it would then compile them all again.
    RUSTC_BOOTSTRAP=1 cargo fuzz build -s none -O -a
    local t
    for t in "${FUZZ_TARGETS[@]}"; do
        echo "fuzz: $t for ${secs}s"
        # 256 MiB is far above what any valid input needs (the sparse disks are at most 64 GiB).
        RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -O -a "$t" -- -max_total_time="$secs" -timeout=10 \
            -rss_limit_mb=1024 -malloc_limit_mb=256 -print_final_stats=0 2>&1 | tail -n 3
        [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: $t failed; see fuzz/artifacts/$t/" >&2; exit 1; }
    done
}

cmd_build() {
    cargo build "${RELEASE[@]}" "$@"
}

# Boots the ISO in QEMU with demo disks: a GPT disk (FAT32, ext4, NTFS) on SATA, an MBR disk on
# virtio, and a blank NVMe disk to clone or restore to.
cmd_run() {
    cmd_deps
    cmd_iso
    # Built by cmd_iso with the wraith binary (one release build): this compiles nothing.
    cargo build "${RELEASE[@]}"
    mkdir -p "$OUT/demo"
    ./target/release/wraith-demo --disks "$OUT/demo"
    local display=(-nographic)
    if [ -n "${DISPLAY:-}" ]; then
        display=(-serial mon:stdio)
    else
        # The SMBIOS OEM string makes the boot menu's default the serial-console entry
        # (iso/grub.cfg), so Wraith comes up in this terminal with no key pressed.
        display+=(-smbios type=11,value=wraith.console=serial)
        echo "No display: the VM's serial console is this terminal; Wraith starts on it by"
        echo "itself. Quit QEMU with Ctrl-A then X."
        sleep 2
    fi
    qemu-system-x86_64 -m 1024 -smp 2 "${display[@]}" \
        -drive if=none,id=cd,media=cdrom,readonly=on,format=raw,file="$OUT/wraith.iso" \
        -device ide-cd,drive=cd,bootindex=0 \
        -device ahci,id=ahci \
        -drive if=none,id=sata,format=raw,file="$OUT/demo/gpt.img" \
        -device ide-hd,drive=sata,bus=ahci.1,serial=DEMO-GPT \
        -drive if=none,id=mbr,format=raw,file="$OUT/demo/mbr.img" \
        -device virtio-blk-pci,drive=mbr,serial=DEMO-MBR \
        -drive if=none,id=nvm,format=raw,file="$OUT/demo/blank.img" \
        -device nvme,drive=nvm,serial=DEMO-BLANK \
        -nic user,model=virtio-net-pci
}

cmd_demo() {
    cmd_deps
    cargo build "${RELEASE[@]}"
    ./target/release/wraith-demo ./target/release/wraith "$OUT/demo-cli"
}

main() {
    local cmd="${1:-}"
    [ $# -gt 0 ] && shift
    case "$cmd" in
        deps) cmd_deps "$@" ;;
        test) cmd_test "$@" ;;
        build) cmd_build "$@" ;;
        run) cmd_run "$@" ;;
        demo) cmd_demo "$@" ;;
        fuzz) cmd_fuzz "$@" ;;
        kernel) cmd_kernel "$@" ;;
        init) cmd_init "$@" ;;
        initramfs) cmd_initramfs "$@" ;;
        iso) cmd_iso "$@" ;;
        pxe) cmd_pxe "$@" ;;
        all) cmd_all "$@" ;;
        -h | --help | help) usage ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
