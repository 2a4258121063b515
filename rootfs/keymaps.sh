#!/usr/bin/env bash
# Console keymaps for the live system's VGA console, one per `wraith.keymap=NAME`: compiled
# from the console-data package's keymap sources with kbd's `loadkeys -b` into the binary
# format busybox's `loadkmap` loads (no console needed to compile). Cached by the hash of this
# script and of the installed packages' versions.
#
# Last line of stdout: a directory of NAME.bmap files.
#
# Environment: WRAITH_CACHE (default $HOME/.cache/wraith); we use <root>/keymaps.
set -euo pipefail

cache="${WRAITH_CACHE:-$HOME/.cache/wraith}/keymaps"
say() { printf 'keymaps: %s\n' "$*" >&2; }
die() { printf 'keymaps: error: %s\n' "$*" >&2; exit 1; }

# NAME=source keymap (console-data): the short names technicians type, for the keyboards
# they meet. `us` is the kernel's own and needs no file, but is listed so it can be chosen back.
MAPS=(
    us=us uk=uk de=de-latin1-nodeadkeys fr=fr-latin1 es=es it=it pt=pt-latin1 nl=nl
    be=be-latin1 ch=sg-latin1 ch-fr=fr_CH-latin1 se=se-latin1 no=no-latin1 dk=dk-latin1 fi=fi
    pl=pl cz=cz-lat2 hu=hu tr=trq jp=jp106 br=br-abnt2 la=la-latin1 dvorak=dvorak
)

command -v loadkeys >/dev/null || die "loadkeys is missing: run ./build.sh deps (package kbd)"
versions=$(dpkg-query -W -f '${Version} ' kbd console-data 2>/dev/null || true)
key=$( (cat "$0"; echo "$versions") | sha256sum | cut -c1-16)
out="$cache/$key"
if [[ -f $out/.done ]]; then
    say "cached: $out"
    echo "$out"
    exit 0
fi
rm -rf "$out"
mkdir -p "$out"
for m in "${MAPS[@]}"; do
    name=${m%%=*}
    src=${m#*=}
    loadkeys -q -b "$src" > "$out/$name.bmap" 2>"$out/.err" ||
        die "loadkeys -b $src: $(cat "$out/.err") (package console-data: ./build.sh deps)"
done
rm -f "$out/.err"
touch "$out/.done"
say "${#MAPS[@]} keymaps in $out"
echo "$out"
