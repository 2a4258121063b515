#!/bin/sh
# Builds wraith-init as a static binary for the initramfs and prints its absolute path as the
# last line on stdout (everything else goes to stderr), so a caller can do
#   init_bin=$(init/build-init.sh | tail -n 1)
# musl first (smaller, no NSS caveats); if the musl target cannot be installed, glibc with
# crt-static. Fails if the result is dynamically linked: the initramfs has no loader for it.
#
# Environment: WRAITH_INIT_LIBC=musl|gnu forces one variant; CARGO_TARGET_DIR is honoured.
set -eu

cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
# Symbols are dead weight in the initramfs; panics still print their location.
export CARGO_PROFILE_RELEASE_STRIP=symbols

say() { echo "build-init: $*" >&2; }

is_static() {
    if command -v file >/dev/null 2>&1; then
        info=$(file -L "$1")
        say "$info"
        case $info in
            *"statically linked"* | *"static-pie linked"*) return 0 ;;
            *) return 1 ;;
        esac
    elif command -v readelf >/dev/null 2>&1; then
        # A dynamic executable names its loader in a PT_INTERP program header.
        ! readelf -l "$1" | grep -q INTERP
    else
        say "neither file nor readelf found; cannot check linkage of $1"
        return 0
    fi
}

build() { # $1 = target triple; prints the binary path on success
    cargo build --release -p wraith-init --target "$1" >&2 || return 1
    bin="$target_dir/$1/release/wraith-init"
    is_static "$bin" || { say "$bin is not statically linked"; return 1; }
    echo "$bin"
}

build_musl() {
    t=x86_64-unknown-linux-musl
    if ! rustup target list --installed 2>/dev/null | grep -qx "$t"; then
        say "adding rust target $t"
        rustup target add "$t" >&2 || return 1
    fi
    build "$t"
}

build_gnu_static() {
    say "building with glibc + crt-static"
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" build x86_64-unknown-linux-gnu
}

case ${WRAITH_INIT_LIBC:-auto} in
    musl) build_musl ;;
    gnu) build_gnu_static ;;
    auto) build_musl || { say "musl build failed; falling back to glibc static"; build_gnu_static; } ;;
    *) say "WRAITH_INIT_LIBC must be musl, gnu or auto"; exit 2 ;;
esac
