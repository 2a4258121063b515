#!/usr/bin/env bash
# The Secure Boot chain for UEFI machines: Debian's Microsoft-signed shim, Debian's signed GRUB
# and Debian's signed kernel, with the kernel modules the live system needs (the tiny kernel
# has those drivers built in; Debian's kernel has them as signed modules). Fetched once with a
# private apt configuration (own sources list, lists and cache under the cache directory; the
# host's apt configuration and dpkg database are never changed), unpacked with dpkg-deb, and
# cached by the hash of this script: later builds print the cached path at once and need no
# network.
#
# Why Debian's chain: PCs ship with Microsoft's UEFI CA enrolled and nothing else; shim is the
# one bootloader signed by it that in turn trusts a distribution's key, and Debian's GRUB and
# kernel are signed by that key. No key enrolment, no MOK prompt.
#
# Last line of stdout: a directory holding
#   efi/BOOTX64.EFI (shim), efi/grubx64.efi (GRUB for CDs and sticks: finds the medium by
#     /.disk/info and reads /boot/grub/grub.cfg), efi/mmx64.efi (shim's MOK manager)
#   vmlinuz, release (the kernel's `uname -r`)
#   modules/lib/modules/<release>/ (the chosen modules, their dependencies, depmod's indexes)
#   licences/ (the packages' copyright files)
#
# Environment: WRAITH_CACHE (default $HOME/.cache/wraith); we use <root>/secureboot.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="${WRAITH_CACHE:-$HOME/.cache/wraith}/secureboot"
say() { printf 'secureboot: %s\n' "$*" >&2; }
die() { printf 'secureboot: error: %s\n' "$*" >&2; exit 1; }

SUITE=bookworm
MIRROR=http://deb.debian.org/debian
# The kernel's security updates are published here.
SECURITY=http://deb.debian.org/debian-security
# linux-image-amd64 is the metapackage: it names the current signed kernel of the suite.
KERNEL_META=linux-image-amd64

# Modules, as globs under /lib/modules/<release>/kernel: the equivalents of what
# kernel-config/wraith.config builds in, so both kernels see the same disks, NICs and
# filesystems. Their dependencies are added from modules.dep.
MODULES=(
    # disks
    drivers/ata drivers/nvme/host/nvme.ko drivers/cdrom drivers/mmc drivers/virtio drivers/hv
    drivers/block/loop.ko drivers/block/virtio_blk.ko drivers/block/nbd.ko
    drivers/block/xen-blkfront.ko drivers/pci/controller/vmd.ko
    drivers/scsi/sd_mod.ko drivers/scsi/sr_mod.ko drivers/scsi/sg.ko drivers/scsi/virtio_scsi.ko
    drivers/scsi/vmw_pvscsi.ko drivers/scsi/hv_storvsc.ko drivers/scsi/hpsa.ko
    drivers/scsi/mpt3sas drivers/scsi/smartpqi drivers/scsi/aacraid drivers/scsi/megaraid
    # software RAID and device-mapper (LVM), as the tiny kernel has them
    'drivers/md/*.ko'
    # USB: host controllers, storage (and UAS), keyboards
    drivers/usb/host drivers/usb/storage drivers/usb/core drivers/usb/common
    drivers/hid/hid.ko drivers/hid/hid-generic.ko drivers/hid/usbhid drivers/input/keyboard
    drivers/input/serio
    # NICs: the tiny kernel's vendors and the common server ones, USB adapters, VM NICs
    drivers/net/virtio_net.ko drivers/net/vmxnet3 drivers/net/hyperv drivers/net/usb
    drivers/net/ethernet/intel/e1000 drivers/net/ethernet/intel/e1000e
    drivers/net/ethernet/intel/igb drivers/net/ethernet/intel/igc
    drivers/net/ethernet/intel/ixgbe drivers/net/ethernet/intel/i40e
    drivers/net/ethernet/realtek/r8169.ko drivers/net/ethernet/broadcom/tg3.ko
    drivers/net/ethernet/broadcom/bnx2x drivers/net/ethernet/broadcom/bnxt
    drivers/net/ethernet/atheros/alx drivers/net/ethernet/atheros/atl1c
    drivers/net/ethernet/atheros/atl1e drivers/net/ethernet/marvell/sky2.ko
    drivers/net/ethernet/aquantia
    # filesystems the engine mounts, and the network shares (Debian's 6.1 has no ntfs3:
    # NTFS is mounted through ntfs-3g there)
    fs/ext4 fs/jbd2 fs/mbcache.ko fs/fat fs/exfat fs/isofs fs/udf fs/fuse fs/nls
    fs/xfs fs/btrfs fs/smb fs/nfs fs/nfs_common fs/lockd fs/efivarfs
    # the algorithms ext4 (crc32c), SMB signing/encryption and NFS ask for by name
    crypto arch/x86/crypto lib/crc16.ko lib/crc-itu-t.ko lib/libcrc32c.ko
)
# Left out although a glob above names them: clustered RAID (pulls in DLM) and bcache.
SKIP='^kernel/drivers/md/(md-cluster|bcache)'

. "$here/../rootfs/debian-apt.sh"
key=$(cat "$0" "$here/../rootfs/debian-apt.sh" | sha256sum | cut -c1-16)
out="$cache/$key"
if [[ -f $out/.done ]]; then
    say "cached: $out"
    echo "$out"
    exit 0
fi

command -v apt-get >/dev/null || die "apt-get is needed to fetch Debian's signed boot chain"
command -v depmod >/dev/null || die "depmod (package kmod) is needed: ./build.sh deps"
say "fetching shim-signed, grub-efi-amd64-signed and the signed kernel from $MIRROR $SUITE"
private_apt "$cache/apt" "$MIRROR $SUITE main" "$SECURITY $SUITE-security main" ||
    die "apt-get update of Debian's main index failed"
# The metapackage's dependency is the kernel package of the day.
kernel_pkg=$(apt-cache "${apt_opts[@]}" depends "$KERNEL_META" |
    sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
[[ -n $kernel_pkg ]] || die "cannot tell which kernel $KERNEL_META depends on"
work=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get -q "${apt_opts[@]}" download shim-signed grub-efi-amd64-signed \
    shim-helpers-amd64-signed "$kernel_pkg" >&2) ||
    die "apt-get download of the signed boot chain failed"
for deb in "$work"/*.deb; do
    dpkg-deb -x "$deb" "$work/x"
done
x="$work/x"

rm -rf "$out"
mkdir -p "$out/efi" "$out/licences"
cp "$x/usr/lib/shim/shimx64.efi.signed" "$out/efi/BOOTX64.EFI"
cp "$x/usr/lib/shim/mmx64.efi.signed" "$out/efi/mmx64.efi"
# gcdx64: the image Debian's own CDs use. It finds the medium by /.disk/info, so it works
# from the CD's El Torito image and from a stick's EFI partition alike.
cp "$x/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed" "$out/efi/grubx64.efi"
release=$(basename "$(ls -d "$x"/lib/modules/*)")
cp "$x/boot/vmlinuz-$release" "$out/vmlinuz"
echo "$release" > "$out/release"
for pkg in shim-signed grub-efi-amd64-signed shim-helpers-amd64-signed "$kernel_pkg"; do
    cp "$x/usr/share/doc/$pkg/copyright" "$out/licences/$pkg.copyright"
done

src="$x/lib/modules/$release"
# The package leaves modules.dep to its postinst: make it here.
depmod -b "$x" "$release"
dst="$out/modules/lib/modules/$release"
mkdir -p "$dst"
# The chosen modules, then their dependencies until nothing new comes in.
want=$(cd "$src" && for m in "${MODULES[@]}"; do
    found=0
    for f in kernel/$m; do
        [[ -e $f ]] || continue
        find "$f" -name '*.ko'
        found=1
    done
    ((found)) || die "the kernel has no $m"
done | grep -Ev "$SKIP" | sort -u)
while :; do
    more=$(for m in $want; do
        sed -n "s|^$m: *||p" "$src/modules.dep" | tr ' ' '\n'
    done | sed '/^$/d' | sort -u | comm -13 <(echo "$want") -)
    [[ -z $more ]] && break
    want=$(printf '%s\n%s\n' "$want" "$more" | sort -u)
done
for m in $want; do
    mkdir -p "$dst/$(dirname "$m")"
    cp "$src/$m" "$dst/$m"
done
cp "$src"/modules.builtin "$src"/modules.builtin.modinfo "$src"/modules.order "$dst/"
depmod -b "$out/modules" "$release"
say "$(echo "$want" | wc -l) modules, $(du -sh "$dst" | cut -f1) for kernel $release"
touch "$out/.done"
echo "$out"
