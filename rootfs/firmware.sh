#!/usr/bin/env bash
# The NIC firmware the live system's built-in drivers ask for on common PCs, from Debian's
# firmware packages, with their licences. They live in Debian's non-free-firmware component,
# which the build host's apt sources need not list: the packages are fetched with a private
# apt configuration (its own sources list, lists and cache under the cache directory; the
# host's apt configuration and dpkg database are never changed), unpacked with dpkg-deb, and
# only the files below kept. Cached by the hash of this script: later builds print the
# cached path at once and need no network.
#
# Last line of stdout: a directory holding firmware/ (goes to /lib/firmware) and licences/
# (goes to /usr/share/doc/firmware).
#
# Environment: WRAITH_CACHE (default $HOME/.cache/wraith); we use <root>/firmware.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="${WRAITH_CACHE:-$HOME/.cache/wraith}/firmware"
say() { printf 'firmware: %s\n' "$*" >&2; }
die() { printf 'firmware: error: %s\n' "$*" >&2; exit 1; }

# package: globs under /lib/firmware, for the drivers built into kernel-config/wraith.config.
#   r8169 (Realtek desktop NICs) and r8152 (Realtek USB NICs): rtl_nic/
#   tg3 (Broadcom NetXtreme, TIGON3): tigon/
#   bnx2x (Broadcom NetXtreme II 10G): the firmware versions Linux 6.1 asks for
# Intel's e1000/e1000e/igb/igc/ixgbe, Atheros alx/atl1c and Marvell sky2 need none.
PACKAGES=(firmware-realtek firmware-misc-nonfree firmware-bnx2x)
declare -A KEEP=(
    [firmware-realtek]="rtl_nic/*"
    [firmware-misc-nonfree]="tigon/*"
    [firmware-bnx2x]="bnx2x/bnx2x-*-7.13.21.0.fw bnx2x/bnx2x-*-7.13.15.0.fw"
)
SUITE=bookworm
MIRROR=http://deb.debian.org/debian

. "$here/debian-apt.sh"
key=$(cat "$0" "$here/debian-apt.sh" | sha256sum | cut -c1-16)
out="$cache/$key"
if [[ -f $out/.done ]]; then
    say "cached: $out"
    echo "$out"
    exit 0
fi

command -v apt-get >/dev/null || die "apt-get is needed to fetch Debian's firmware packages"
say "fetching ${PACKAGES[*]} from $MIRROR $SUITE non-free-firmware"
private_apt "$cache/apt" "$MIRROR $SUITE non-free-firmware" ||
    die "apt-get update of the non-free-firmware index failed"
work=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get -q "${apt_opts[@]}" download "${PACKAGES[@]}" >&2) ||
    die "apt-get download ${PACKAGES[*]} failed"

rm -rf "$out"
mkdir -p "$out/firmware" "$out/licences"
for pkg in "${PACKAGES[@]}"; do
    deb=$(ls "$work"/"${pkg}"_*.deb)
    unpacked="$work/x-$pkg"
    dpkg-deb -x "$deb" "$unpacked"
    for glob in ${KEEP[$pkg]}; do
        found=0
        for f in "$unpacked"/lib/firmware/$glob; do
            [[ -e $f ]] || continue
            rel=${f#"$unpacked"/lib/firmware/}
            mkdir -p "$out/firmware/$(dirname "$rel")"
            cp -L "$f" "$out/firmware/$rel"
            found=1
        done
        ((found)) || die "$pkg has no /lib/firmware/$glob"
    done
    cp "$unpacked/usr/share/doc/$pkg/copyright" "$out/licences/$pkg.copyright"
    printf '%s %s\n' "$pkg" "$(dpkg-deb -f "$deb" Version)" >> "$out/licences/VERSIONS"
done
touch "$out/.done"
say "$(find "$out/firmware" -type f | wc -l) files, $(du -sh "$out/firmware" | cut -f1) in $out"
echo "$out"
