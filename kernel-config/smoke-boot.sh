#!/usr/bin/env bash
# Smoke test for a built kernel: boot it in QEMU (TCG) without an initramfs,
# with one disk on each of virtio-blk, AHCI, NVMe and USB (xHCI), a virtio NIC
# and an e1000e. The boot must end in the "no root fs / no init" panic, and
# every disk must appear. rootdelay (default 3 s) gives USB time to enumerate
# before the kernel gives up on the root fs. Usage: smoke-boot.sh [bzImage]  (default: build-kernel.sh)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
img=${1:-$("$here/build-kernel.sh" | tail -n1)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in vd sata nvme usb; do truncate -s 64M "$tmp/$d.img"; done
start=$(date +%s.%N)
timeout 120 qemu-system-x86_64 -m 256 -smp 2 -display none -serial stdio -monitor none -no-reboot \
	-kernel "$img" -append "console=ttyS0 panic=-1 rootdelay=${ROOTDELAY:-3}" \
	-drive if=none,id=vd,file="$tmp/vd.img",format=raw -device virtio-blk-pci,drive=vd \
	-device ahci,id=ahci -drive if=none,id=sata,file="$tmp/sata.img",format=raw -device ide-hd,drive=sata,bus=ahci.0 \
	-drive if=none,id=nvm,file="$tmp/nvme.img",format=raw -device nvme,drive=nvm,serial=wraith1 \
	-device qemu-xhci,id=xhci -drive if=none,id=stick,file="$tmp/usb.img",format=raw \
	-device usb-storage,bus=xhci.0,drive=stick \
	-nic user,model=virtio-net-pci -nic user,model=e1000e \
	</dev/null >"$tmp/serial.log" 2>&1 || true
end=$(date +%s.%N)
cp "$tmp/serial.log" "${SMOKE_LOG:-/tmp/wraith-smoke-boot.log}"
printf 'serial log: %s\n' "${SMOKE_LOG:-/tmp/wraith-smoke-boot.log}"
printf 'QEMU start to exit: %.2f s\n' "$(echo "$end - $start" | bc)"
ok=1
check() { if grep -qE "$2" "$tmp/serial.log"; then echo "ok   $1"; else echo "FAIL $1"; ok=0; fi; }
check "panic (no root fs / no init)" 'Kernel panic - not syncing: (VFS: Unable to mount root fs|No working init found)'
check "virtio-blk disk vda"  'virtio_blk .*\[vda\]'
check "AHCI disk"            'ahci .*AHCI|ata[0-9]+\.00: ATA-'
check "NVMe disk nvme0n1"    'nvme nvme0'
check "USB storage disk"     'usb-storage [0-9-]+:[0-9.]+: USB Mass Storage device detected|uas|scsi host[0-9]+: usb-storage'
check "e1000e"               'e1000e'
grep -E 'Kernel panic' "$tmp/serial.log" | head -n1
((ok))
