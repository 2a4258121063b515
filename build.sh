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
    [mkfs.vfat]=dosfstools [fsck.vfat]=dosfstools
    [mcopy]=mtools [mdel]=mtools [mdir]=mtools [mtype]=mtools
    [mkntfs]=ntfs-3g [ntfscp]=ntfs-3g [ntfscat]=ntfs-3g [ntfsls]=ntfs-3g
    [ntfsfix]=ntfs-3g [ntfsinfo]=ntfs-3g
    [zstd]=zstd [pkg-config]=pkg-config
    [cc]=build-essential [make]=build-essential [curl]=curl
)
# Libraries have no command to probe; check the package itself.
LIB_PKGS=(libudev-dev)

usage() {
    cat <<EOF
Usage: $0 <command>
  deps   install the system packages the build and tests need (apt-get, only if missing)
  test   deps, then cargo test --workspace
  build  cargo build --release
  run    build wraith and demonstrate it on generated demo disks (out/demo)
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

cmd_deps() {
    local missing=()
    local tool pkg
    for tool in "${!TOOL_PKG[@]}"; do
        command -v "$tool" >/dev/null || missing+=("${TOOL_PKG[$tool]}")
    done
    for pkg in "${LIB_PKGS[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        # Deduplicate: several tools come from one package.
        mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
        echo "installing: ${missing[*]}"
        # Only refresh the index when we actually have to install something.
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    fi
    # rustfmt/clippy are developer conveniences: their absence must not stop a build or test.
    if command -v rustup >/dev/null && ! cargo fmt --version >/dev/null 2>&1; then
        rustup component add rustfmt clippy || echo "note: could not add rustfmt/clippy" >&2
    fi
}

cmd_test() {
    cmd_deps
    cargo test --workspace "$@"
}

cmd_build() {
    cargo build --release "$@"
}

# Until the bootable image exists, "run" demonstrates the CLI on generated demo disks.
cmd_run() {
    cmd_deps
    cargo build --release -p wraith -p wraith-testkit
    ./target/release/wraith-demo ./target/release/wraith out/demo
}

main() {
    local cmd="${1:-}"
    [ $# -gt 0 ] && shift
    case "$cmd" in
        deps) cmd_deps "$@" ;;
        test) cmd_test "$@" ;;
        build) cmd_build "$@" ;;
        run) cmd_run "$@" ;;
        -h | --help | help) usage ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
