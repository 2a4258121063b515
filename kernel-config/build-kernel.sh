#!/usr/bin/env bash
# Build Wraith's kernel: Linux 6.1 tinyconfig + kernel-config/wraith.config,
# everything built in, ZSTD-compressed. The result is cached outside the
# checkout, so normally this prints a cached path in well under a second.
#
# Last line of stdout: the absolute path of the bzImage. Everything else that
# is meant for humans goes to stderr.
#
# Environment:
#   WRAITH_CACHE        cache root (default $HOME/.cache/wraith); we use <root>/kernel
#   KERNEL_SRC          use this kernel tree instead of Debian's linux-source-6.1
#   KERNEL_PKG_VERSION  pin the linux-source-6.1 package version (e.g. 6.1.192-2)
#   KERNEL_REFRESH=1    ask apt for the newest linux-source-6.1 instead of reusing
#                       the newest tree already extracted in the cache
#   KERNEL_JOBS         parallel jobs (default: nproc)
#   KERNEL_KEEP_BUILD=1 keep the out-of-tree build directory after success
set -euo pipefail

# Bump when the build procedure changes in a way that changes the output.
SCRIPT_VERSION=1
PKG=linux-source-6.1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fragment="$here/wraith.config"
cache="${WRAITH_CACHE:-$HOME/.cache/wraith}/kernel"

say() { printf 'kernel: %s\n' "$*" >&2; }
die() { printf 'kernel: error: %s\n' "$*" >&2; exit 1; }

[[ -f $fragment ]] || die "missing $fragment"
mkdir -p "$cache"

# ---- which source? -----------------------------------------------------------
# The source identity goes into the cache key. For the Debian package it is
# "linux-source-6.1=<version>"; for KERNEL_SRC it is the tree's kernelversion
# plus its absolute path.
newest_extracted() {
	# Newest package version already extracted in the cache (sorted by dpkg rules).
	local d best=""
	for d in "$cache"/src/*/; do
		[[ -d $d/$PKG ]] || continue
		d=${d%/}; d=${d##*/}
		if [[ -z $best ]] || dpkg --compare-versions "$d" gt "$best"; then best=$d; fi
	done
	printf '%s' "$best"
}

if [[ -n ${KERNEL_SRC:-} ]]; then
	src=$(cd "$KERNEL_SRC" && pwd) || die "KERNEL_SRC=$KERNEL_SRC is not a directory"
	[[ -f $src/Makefile ]] || die "KERNEL_SRC=$src has no Makefile"
	kver=$(make -s -C "$src" kernelversion 2>/dev/null) || die "make kernelversion failed in $src"
	src_id="KERNEL_SRC=$src kernelversion=$kver"
	pkgver=""
else
	pkgver=${KERNEL_PKG_VERSION:-}
	if [[ -z $pkgver && ${KERNEL_REFRESH:-0} != 1 ]]; then
		pkgver=$(newest_extracted)
	fi
	if [[ -z $pkgver ]]; then
		pkgver=$(apt-cache policy "$PKG" 2>/dev/null | awk '/Candidate:/ {print $2}')
		if [[ -z $pkgver || $pkgver == "(none)" ]]; then
			say "apt does not know $PKG; running apt-get update"
			apt-get update -qq >&2 || die "apt-get update failed"
			pkgver=$(apt-cache policy "$PKG" | awk '/Candidate:/ {print $2}')
		fi
		[[ -n $pkgver && $pkgver != "(none)" ]] || die "no candidate version for $PKG"
	fi
	src="$cache/src/$pkgver/$PKG"
	src_id="$PKG=$pkgver"
fi

key=$( { cat "$fragment"; printf '\n--source: %s\n--script: %s\n' "$src_id" "$SCRIPT_VERSION"; } \
	| sha256sum | cut -c1-16)
out="$cache/$key"

# ---- fast path -----------------------------------------------------------------
if [[ -f $out/bzImage ]]; then
	say "cached ($src_id, key $key)"
	printf '%s\n' "$out/bzImage"
	exit 0
fi

# One build at a time per cache (CI and a developer may run at once). The
# winner builds; the others wait and then take the fast path.
exec 9>"$cache/.lock"
if ! flock -n 9; then
	say "another kernel build is running; waiting for it"
	flock 9
fi
if [[ -f $out/bzImage ]]; then
	say "built meanwhile by another run ($src_id, key $key)"
	printf '%s\n' "$out/bzImage"
	exit 0
fi

say "building for $src_id (key $key)"
t_start=$SECONDS
mkdir -p "$cache/logs"
log="$cache/logs/build-$key.log"
: >"$log"
say "log: $log"

fail() {
	say "FAILED: $*"
	if [[ -s $log ]]; then
		say "last 40 lines of $log:"
		tail -n 40 "$log" >&2
	fi
	exit 1
}

# ---- build dependencies --------------------------------------------------------
# Keep this list in sync with kernel-config/README.md and `./build.sh deps`.
deps=(make gcc bc flex bison libelf-dev libssl-dev ccache xz-utils zstd)
missing=()
for p in "${deps[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
	say "installing build dependencies: ${missing[*]}"
	sudo=()
	if [[ $(id -u) != 0 ]]; then
		command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! "${sudo[@]}" apt-get install -y -q "${missing[@]}" >>"$log" 2>&1; then
		"${sudo[@]}" apt-get update -qq >>"$log" 2>&1 || true
		"${sudo[@]}" apt-get install -y -q "${missing[@]}" >>"$log" 2>&1 \
			|| fail "apt-get install ${missing[*]}"
	fi
fi

# ---- source tree (Debian package, extracted once per package version) ----------
if [[ -z ${KERNEL_SRC:-} && ! -d $src ]]; then
	debdir="$cache/debs"
	mkdir -p "$debdir"
	deb="$debdir/${PKG}_${pkgver//:/%3a}_all.deb"
	if [[ ! -f $deb ]]; then
		say "downloading $PKG=$pkgver"
		if ! (cd "$debdir" && apt-get download "$PKG=$pkgver") >>"$log" 2>&1; then
			say "download failed; running apt-get update and retrying"
			apt-get update -qq >>"$log" 2>&1 || true
			(cd "$debdir" && apt-get download "$PKG=$pkgver") >>"$log" 2>&1 \
				|| fail "apt-get download $PKG=$pkgver"
		fi
		[[ -f $deb ]] || deb=$(ls -t "$debdir"/${PKG}_*_all.deb | head -n1)
	fi
	say "extracting $(basename "$deb") (about 15 s)"
	tmp="$cache/src/$pkgver.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# The .deb holds usr/src/linux-source-6.1.tar.xz; stream it straight into tar.
	if ! dpkg-deb --fsys-tarfile "$deb" \
		| tar -xO "./usr/src/$PKG.tar.xz" \
		| tar -xJ -C "$tmp" >>"$log" 2>&1; then
		rm -rf "$tmp"
		fail "extracting $deb"
	fi
	[[ -d $tmp/$PKG ]] || { rm -rf "$tmp"; fail "$deb did not contain $PKG/"; }
	mkdir -p "$cache/src"
	if ! mv -T "$tmp" "$cache/src/$pkgver" 2>/dev/null; then
		rm -rf "$tmp"   # another run won the race
	fi
	[[ -d $src ]] || fail "source tree $src missing after extraction"
fi

# ---- configure -------------------------------------------------------------------
build="$cache/build-$key"
mkdir -p "$build"
jobs=${KERNEL_JOBS:-$(nproc)}
kmake=(make -C "$src" O="$build" ARCH=x86_64)

say "configuring: tinyconfig + $(basename "$fragment")"
"${kmake[@]}" tinyconfig >>"$log" 2>&1 || fail "make tinyconfig"
(cd "$src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m -O "$build" \
	"$build/.config" "$fragment") >>"$log" 2>&1 || fail "merge_config.sh"
"${kmake[@]}" olddefconfig >>"$log" 2>&1 || fail "make olddefconfig"

# Every requested value must hold in the final .config. Kconfig silently drops
# options whose dependencies are not met; we refuse to build such a kernel.
bad=()
while IFS= read -r line; do
	line=${line%$'\r'}
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		name=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
	elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		name=${BASH_REMATCH[1]} want=n
	else
		continue
	fi
	if [[ $want == n ]]; then
		# "not set" holds if the symbol is absent or explicitly not set.
		grep -q "^$name=" "$build/.config" && bad+=("$line   (got: $(grep "^$name=" "$build/.config"))")
	else
		grep -qxF "$name=$want" "$build/.config" \
			|| bad+=("$line   (got: $(grep -E "^$name=|^# $name is not set" "$build/.config" || echo absent))")
	fi
done <"$fragment"
if ((${#bad[@]})); then
	say "these options from $(basename "$fragment") are not in the final .config"
	say "(unmet dependencies, or the symbol does not exist in this kernel):"
	printf '  %s\n' "${bad[@]}" >&2
	exit 1
fi
say "config ok: $(grep -c '=y$' "$build/.config") options =y, all requested options present"

# ---- build -------------------------------------------------------------------------
export CCACHE_DIR="$cache/ccache"
export CCACHE_BASEDIR="$cache"
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-2G}
# Timestamps and host names end up in the image; pin them so ccache and rebuilds
# give the same kernel.
export KBUILD_BUILD_USER=wraith KBUILD_BUILD_HOST=wraith
export KBUILD_BUILD_TIMESTAMP=${KBUILD_BUILD_TIMESTAMP:-"2024-01-01 00:00:00 UTC"}
if [[ -d /usr/lib/ccache ]]; then
	export PATH="/usr/lib/ccache:$PATH"
fi

say "compiling with -j$jobs (cold: 15-20 min on 2 cores; with a warm ccache: a few minutes)"
t_build=$SECONDS
"${kmake[@]}" -j"$jobs" bzImage >>"$log" 2>&1 &
mpid=$!
# Progress: one line a minute with the number of objects compiled so far.
while kill -0 "$mpid" 2>/dev/null; do
	for _ in $(seq 60); do
		sleep 1
		kill -0 "$mpid" 2>/dev/null || break
	done
	if kill -0 "$mpid" 2>/dev/null; then
		say "  $(((SECONDS - t_build) / 60)) min: $(grep -c '^  CC ' "$log" || true) files compiled"
	fi
done
wait "$mpid" || fail "make bzImage"

img="$build/arch/x86/boot/bzImage"
[[ -f $img ]] || fail "no bzImage after build"

# ---- publish atomically --------------------------------------------------------
tmpout="$cache/.$key.tmp.$$"
rm -rf "$tmpout"
mkdir -p "$tmpout"
cp "$img" "$tmpout/bzImage"
cp "$build/.config" "$tmpout/config"
printf '%s\n' "$src_id" >"$tmpout/source"
if ! mv -T "$tmpout" "$out" 2>/dev/null; then
	rm -rf "$tmpout"    # a concurrent run published the same key first
fi
[[ -f $out/bzImage ]] || fail "publishing $out"
# The build tree (~250 MB) is only useful for this key, which now takes the
# fast path; ccache keeps what a later config change can reuse.
if [[ ${KERNEL_KEEP_BUILD:-0} != 1 ]]; then
	rm -rf "$build"
fi

size=$(stat -c %s "$out/bzImage")
say "built in $(((SECONDS - t_start) / 60)) min $(((SECONDS - t_start) % 60)) s;" \
	"bzImage $size bytes ($((size / 1024)) KiB)"
if command -v ccache >/dev/null; then
	ccache -s 2>/dev/null | grep -iE 'hits|misses' | head -n 3 | sed 's/^/kernel:   ccache /' >&2 || true
fi
printf '%s\n' "$out/bzImage"
