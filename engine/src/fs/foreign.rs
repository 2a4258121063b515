//! Names of filesystems and volume formats Wraith has no used-block map for, recognised by
//! their magic numbers so that a plan says "XFS: copied whole" rather than "not recognised",
//! and a layout change says why such a partition keeps its size (XFS can never shrink).
//!
//! Must not: read anything beyond the few signature bytes, or claim to understand the
//! contents: a name here only explains a raw copy.

use crate::device::ReadAt;

/// (name, offset of the magic, magic). Offsets are those each format's own tools look at.
const SIGNATURES: &[(&str, u64, &[u8])] = &[
    ("XFS", 0, b"XFSB"),
    ("btrfs", 0x1_0040, b"_BHRfS_M"),
    ("exFAT", 3, b"EXFAT   "),
    ("LUKS encrypted volume", 0, b"LUKS\xba\xbe"),
    ("BitLocker volume", 3, b"-FVE-FS-"),
    ("LVM2 physical volume", 0x218, b"LVM2 001"),
    ("Linux swap", 4086, b"SWAPSPACE2"),
    ("Linux swap", 4086, b"SWAP-SPACE"),
    ("Linux RAID member", 0x1000, b"\xfc\x4e\x2b\xa9"),
    ("ISO 9660", 0x8001, b"CD001"),
    ("HFS+", 0x400, b"H+"),
    ("APFS container", 32, b"NXSB"),
    ("F2FS", 0x400, b"\x10\x20\xf5\xf2"),
    ("ReFS", 3, b"ReFS\0\0\0\0"),
];

/// The name of a format found on `dev` by its signature, or None.
pub fn identify(dev: &dyn ReadAt) -> Option<&'static str> {
    let mut buf = [0u8; 16];
    SIGNATURES.iter().find_map(|(name, off, magic)| {
        let b = buf.get_mut(..magic.len())?;
        dev.read_exact_at(b, *off).ok()?;
        (b == *magic).then_some(*name)
    })
}

/// Why a partition holding `name` is copied whole and keeps its size.
pub fn reason(name: &str) -> String {
    match name {
        "XFS" => "XFS: no used-block map yet (copied whole); XFS cannot shrink".into(),
        "Linux swap" | "ISO 9660" => format!("{name}: copied whole"),
        _ => format!("{name}: no used-block map yet (copied whole)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signature_is_found_at_its_offset_and_nowhere_else() {
        for (name, off, magic) in SIGNATURES {
            let mut disk = vec![0u8; 0x3_0000];
            disk[*off as usize..*off as usize + magic.len()].copy_from_slice(magic);
            assert_eq!(identify(&disk), Some(*name));
        }
        assert_eq!(identify(&vec![0u8; 0x3_0000]), None);
        assert_eq!(
            identify(&b"XFS".to_vec()),
            None,
            "a short device is not an error"
        );
    }
}
