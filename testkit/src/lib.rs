//! wraith-testkit: builds fixture disk images for tests with the real tools (sfdisk, mkfs.ext4
//! -d, mkfs.vfat + mtools, mkntfs + ntfs-3g tools, debugfs) and checks them with the real
//! checkers (e2fsck -fn, fsck.vfat -n, ntfsfix -n). Test-only; never a dependency of the product.
