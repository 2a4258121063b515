//! Used-block map of NTFS: the cluster bitmap (`$Bitmap`, MFT record 6), found through the
//! boot sector and the `$MFT` runlist, plus the boot sector and its backup, which sits in the
//! sector after the last cluster-addressed one (outside every cluster). The label comes from
//! `$Volume` (record 3).
//!
//! Must not: write, trust any boot sector, record, attribute or runlist value without a bounds
//! check, skip update-sequence validation, or allocate by on-disk sizes (records are bounded
//! to 64 KiB and the bitmap is streamed in bounded pieces).

use super::{le16, le32, le64, Filesystem, FsInfo, FsKind};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::extent::ExtentList;

pub struct Ntfs;

pub(super) const ATTR_DATA: u32 = 0x80;
const ATTR_VOLUME_NAME: u32 = 0x60;
const ATTR_VOLUME_INFORMATION: u32 = 0x70;
/// $VOLUME_INFORMATION flag: the volume is scheduled for chkdsk (metadata may be stale).
const VOLUME_IS_DIRTY: u16 = 0x0001;
pub(super) const ATTR_END: u32 = 0xFFFF_FFFF;
/// Update sequence stride: always 512 bytes, whatever the sector size.
const USA_STRIDE: usize = 512;

#[derive(Debug)]
pub(super) struct Boot {
    pub(super) bytes_per_sector: u64,
    pub(super) cluster_size: u64,
    pub(super) total_sectors: u64,
    pub(super) total_clusters: u64,
    pub(super) mft_lcn: u64,
    /// `$MFTMirr`: copies of the first MFT records (unchecked).
    pub(super) mft_mirr_lcn: u64,
    pub(super) record_size: u64,
    pub(super) serial: u64,
}

fn corrupt(what: impl Into<String>, offset: u64, detail: impl Into<String>) -> Error {
    Error::corrupt(what, offset, detail)
}

/// `Ok(None)` when this is not an NTFS boot sector at all.
pub(super) fn parse_boot(b: &[u8], dev_size: u64) -> Result<Option<Boot>> {
    if b.len() < 512 || &b[3..11] != b"NTFS    " {
        return Ok(None);
    }
    if b[510] != 0x55 || b[511] != 0xAA {
        return Err(corrupt("NTFS boot sector", 510, "missing 0x55AA signature"));
    }
    let bps = u64::from(le16(b, 0x0B));
    if !(256..=4096).contains(&bps) || !bps.is_power_of_two() {
        return Err(corrupt(
            "NTFS boot sector bytes per sector",
            0x0B,
            format!("{bps}"),
        ));
    }
    let spc_raw = b[0x0D];
    // Above 128 the field is a negative exponent: 2^(256 - value) sectors per cluster.
    let spc: u64 = if spc_raw > 0x80 {
        let shift = 256 - u32::from(spc_raw);
        if shift > 20 {
            return Err(corrupt(
                "NTFS boot sector sectors per cluster",
                0x0D,
                format!("{spc_raw:#x}"),
            ));
        }
        1 << shift
    } else {
        u64::from(spc_raw)
    };
    if spc == 0 || !spc.is_power_of_two() {
        return Err(corrupt(
            "NTFS boot sector sectors per cluster",
            0x0D,
            format!("{spc_raw:#x}"),
        ));
    }
    let cluster_size = bps * spc;
    if cluster_size > 2 << 20 {
        return Err(corrupt(
            "NTFS boot sector cluster size",
            0x0D,
            format!("{cluster_size} bytes"),
        ));
    }
    let total_sectors = le64(b, 0x28);
    // The backup boot sector follows the last sector the volume counts.
    let size = total_sectors
        .checked_add(1)
        .and_then(|s| s.checked_mul(bps));
    match size {
        Some(s) if s <= dev_size && total_sectors > 0 => {}
        _ => {
            return Err(corrupt(
                "NTFS boot sector total sectors",
                0x28,
                format!("{total_sectors} sectors (+1 backup boot sector) of {bps} on a {dev_size}-byte device"),
            ))
        }
    }
    let total_clusters = total_sectors / spc;
    let mft_lcn = le64(b, 0x30);
    if mft_lcn == 0 || mft_lcn >= total_clusters {
        return Err(corrupt(
            "NTFS boot sector MFT LCN",
            0x30,
            format!("{mft_lcn} of {total_clusters} clusters"),
        ));
    }
    let cpr = b[0x40] as i8;
    let record_size: u64 = if cpr < 0 {
        let shift = u32::from(cpr.unsigned_abs());
        if !(9..=16).contains(&shift) {
            return Err(corrupt(
                "NTFS boot sector MFT record size",
                0x40,
                format!("2^{shift}"),
            ));
        }
        1 << shift
    } else {
        (cpr as u64) * cluster_size
    };
    if !(512..=65536).contains(&record_size) || !record_size.is_power_of_two() {
        return Err(corrupt(
            "NTFS boot sector MFT record size",
            0x40,
            format!("{record_size} bytes"),
        ));
    }
    Ok(Some(Boot {
        bytes_per_sector: bps,
        cluster_size,
        total_sectors,
        total_clusters,
        mft_lcn,
        mft_mirr_lcn: le64(b, 0x38),
        record_size,
        serial: le64(b, 0x48),
    }))
}

/// One run of a non-resident attribute: `len` clusters from `vcn`, at `lcn` (None = sparse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) vcn: u64,
    pub(super) lcn: Option<u64>,
    pub(super) len: u64,
}

/// Decodes a mapping-pairs array. Every run must lie inside the volume.
pub(super) fn decode_runlist(
    bytes: &[u8],
    start_vcn: u64,
    total_clusters: u64,
    at: u64,
) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    let mut pos = 0usize;
    let mut vcn = start_vcn;
    let mut lcn: i64 = 0;
    // Each run takes at least one byte, so the loop is bounded by the attribute's length.
    while let Some(&header) = bytes.get(pos) {
        if header == 0 {
            return Ok(runs);
        }
        let len_size = usize::from(header & 0x0F);
        let off_size = usize::from(header >> 4);
        let bad = |detail: String| corrupt("NTFS runlist", at + pos as u64, detail);
        if len_size == 0 || len_size > 8 || off_size > 8 {
            return Err(bad(format!("header byte {header:#04x}")));
        }
        let field_end = pos + 1 + len_size + off_size;
        let Some(fields) = bytes.get(pos + 1..field_end) else {
            return Err(bad("run past the end of the attribute".into()));
        };
        let mut len = 0u64;
        for (i, &byte) in fields[..len_size].iter().enumerate() {
            len |= u64::from(byte) << (8 * i);
        }
        if len == 0 {
            return Err(bad("zero-length run".into()));
        }
        let run_lcn = if off_size == 0 {
            None
        } else {
            let mut delta = 0i64;
            for (i, &byte) in fields[len_size..].iter().enumerate() {
                delta |= i64::from(byte) << (8 * i);
            }
            // Sign-extend from the field's top bit.
            let bits = 8 * off_size as u32;
            if bits < 64 && delta & (1i64 << (bits - 1)) != 0 {
                delta |= -1i64 << bits;
            }
            lcn = lcn
                .checked_add(delta)
                .ok_or_else(|| bad("LCN overflow".into()))?;
            let start = u64::try_from(lcn).map_err(|_| bad(format!("negative LCN {lcn}")))?;
            if start
                .checked_add(len)
                .is_none_or(|end| end > total_clusters)
            {
                return Err(bad(format!(
                    "run {start}+{len} outside {total_clusters} clusters"
                )));
            }
            Some(start)
        };
        runs.push(Run {
            vcn,
            lcn: run_lcn,
            len,
        });
        vcn = vcn
            .checked_add(len)
            .ok_or_else(|| bad("VCN overflow".into()))?;
        pos = field_end;
    }
    Err(corrupt("NTFS runlist", at + pos as u64, "no terminator"))
}

/// Reads `buf.len()` bytes at byte offset `off` of a non-resident attribute. Sparse runs read
/// as zeros; bytes no run maps are an error.
pub(super) fn read_attr(
    dev: &dyn ReadAt,
    boot: &Boot,
    runs: &[Run],
    off: u64,
    buf: &mut [u8],
    what: &str,
) -> Result<()> {
    let cs = boot.cluster_size;
    let mut done = 0usize;
    while done < buf.len() {
        let pos = off + done as u64;
        let vcn = pos / cs;
        let Some(run) = runs.iter().find(|r| vcn >= r.vcn && vcn - r.vcn < r.len) else {
            return Err(corrupt(what, pos, format!("VCN {vcn} is not mapped")));
        };
        // Saturating: a sparse run may be longer than any disk; pos lies inside this run.
        let run_end = run.vcn.saturating_add(run.len).saturating_mul(cs);
        let n = usize::try_from((run_end - pos).min((buf.len() - done) as u64))
            .unwrap_or(buf.len() - done);
        let piece = &mut buf[done..done + n];
        match run.lcn {
            Some(lcn) => dev.read_exact_at(piece, lcn * cs + (pos - run.vcn * cs))?,
            None => piece.fill(0),
        }
        done += n;
    }
    Ok(())
}

/// Validates and applies a record's update sequence fixups in place.
pub(super) fn apply_fixups(rec: &mut [u8], at: u64, what: &str) -> Result<()> {
    apply_fixups_as(rec, b"FILE", at, what)
}

/// [`apply_fixups`] for any multi-sector structure with signature `sig` (MFT records are
/// "FILE", directory index blocks "INDX").
pub(super) fn apply_fixups_as(rec: &mut [u8], sig: &[u8; 4], at: u64, what: &str) -> Result<()> {
    if rec.get(0..4) != Some(&sig[..]) {
        let name = String::from_utf8_lossy(sig);
        return Err(corrupt(what, at, format!("no {name} signature")));
    }
    let usa_ofs = usize::from(le16(rec, 4));
    let usa_count = usize::from(le16(rec, 6));
    let sectors = rec.len() / USA_STRIDE;
    if usa_count != sectors + 1
        || usa_ofs % 2 != 0
        || usa_ofs + 2 * usa_count > rec.len()
        || usa_ofs < 0x28
    {
        return Err(corrupt(
            what,
            at + 4,
            format!("update sequence at {usa_ofs}, {usa_count} entries"),
        ));
    }
    let usn = [rec[usa_ofs], rec[usa_ofs + 1]];
    for i in 1..usa_count {
        let end = i * USA_STRIDE;
        if rec[end - 2..end] != usn {
            return Err(corrupt(
                what,
                at + end as u64 - 2,
                "update sequence mismatch (torn write)",
            ));
        }
        let fix = usa_ofs + 2 * i;
        rec[end - 2] = rec[fix];
        rec[end - 1] = rec[fix + 1];
    }
    Ok(())
}

/// An attribute found in a record: its type, name length, and byte range within the record.
pub(super) struct Attr {
    pub(super) ty: u32,
    pub(super) name_len: u8,
    pub(super) start: usize,
    pub(super) len: usize,
}

/// Walks a fixed-up record's attributes. Bounded by the record size (each is ≥ 24 bytes).
pub(super) fn attributes(rec: &[u8], at: u64, what: &str) -> Result<Vec<Attr>> {
    let used = (le32(rec, 0x18) as usize).min(rec.len());
    let mut pos = usize::from(le16(rec, 0x14));
    let mut out = Vec::new();
    loop {
        if pos + 8 > used {
            return Err(corrupt(
                what,
                at + pos as u64,
                "attribute list runs past the record",
            ));
        }
        let ty = le32(rec, pos);
        if ty == ATTR_END {
            return Ok(out);
        }
        let len = le32(rec, pos + 4) as usize;
        if len < 24 || !len.is_multiple_of(8) || pos + len > used {
            return Err(corrupt(
                what,
                at + pos as u64,
                format!("attribute {ty:#x} of length {len}"),
            ));
        }
        out.push(Attr {
            ty,
            name_len: rec[pos + 9],
            start: pos,
            len,
        });
        pos += len;
    }
}

/// Reads MFT record `n` through the MFT's own runlist, with fixups applied.
pub(super) fn read_record(
    dev: &dyn ReadAt,
    boot: &Boot,
    mft_runs: &[Run],
    n: u64,
) -> Result<Vec<u8>> {
    let what = format!("NTFS MFT record {n}");
    let mut rec = vec![0u8; boot.record_size as usize];
    read_attr(dev, boot, mft_runs, n * boot.record_size, &mut rec, &what)?;
    let at = mft_runs
        .iter()
        .find(|r| r.vcn == 0)
        .and_then(|r| r.lcn)
        .map_or(0, |l| l * boot.cluster_size + n * boot.record_size);
    apply_fixups(&mut rec, at, &what)?;
    Ok(rec)
}

/// The runlist of the unnamed non-resident $DATA attribute of a record, with its data size and
/// initialised size (bytes past it read as zeros whatever the disk holds).
pub(super) fn data_runs(
    rec: &[u8],
    boot: &Boot,
    at: u64,
    what: &str,
) -> Result<(Vec<Run>, u64, u64)> {
    let attr = attributes(rec, at, what)?
        .into_iter()
        .find(|a| a.ty == ATTR_DATA && a.name_len == 0)
        .ok_or_else(|| {
            Error::Unsupported(format!("{what} has no unnamed $DATA in its base record"))
        })?;
    let a = &rec[attr.start..attr.start + attr.len];
    if a[8] == 0 {
        return Err(corrupt(what, at + attr.start as u64, "$DATA is resident"));
    }
    if a.len() < 0x40 {
        return Err(corrupt(
            what,
            at + attr.start as u64,
            "non-resident header too short",
        ));
    }
    let start_vcn = le64(a, 0x10);
    let pairs = usize::from(le16(a, 0x20));
    let data_size = le64(a, 0x30);
    let init_size = le64(a, 0x38);
    if start_vcn != 0 || pairs >= a.len() {
        return Err(corrupt(
            what,
            at + attr.start as u64,
            format!("start VCN {start_vcn}, mapping pairs at {pairs}"),
        ));
    }
    let runs = decode_runlist(
        &a[pairs..],
        0,
        boot.total_clusters,
        at + (attr.start + pairs) as u64,
    )?;
    Ok((runs, data_size, init_size))
}

/// The value of a record's first resident attribute of type `ty`, if any.
pub(super) fn resident_value(rec: &[u8], ty: u32) -> Option<&[u8]> {
    let attr = attributes(rec, 0, "")
        .ok()?
        .into_iter()
        .find(|a| a.ty == ty)?;
    let a = rec.get(attr.start..attr.start + attr.len)?;
    if a[8] != 0 {
        return None;
    }
    let vlen = le32(a, 0x10) as usize;
    let voff = usize::from(le16(a, 0x14));
    a.get(voff..voff.checked_add(vlen)?)
}

/// The volume label from `$Volume`'s $VOLUME_NAME (UTF-16LE); None if absent or empty.
fn volume_label(rec: &[u8]) -> Option<String> {
    let bytes = resident_value(rec, ATTR_VOLUME_NAME)?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let s = String::from_utf16_lossy(&units);
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

impl Filesystem for Ntfs {
    fn name(&self) -> &'static str {
        "ntfs"
    }

    fn probe(&self, dev: &dyn ReadAt) -> Result<Option<FsInfo>> {
        if dev.size() < 512 {
            return Ok(None);
        }
        let b = dev.read_vec(0, 512)?;
        let Some(boot) = parse_boot(&b, dev.size())? else {
            return Ok(None);
        };
        let cs = boot.cluster_size;

        // Record 0 ($MFT) is at the MFT LCN; its $DATA maps the rest of the MFT.
        let mft_at = boot.mft_lcn * cs;
        let mut rec0 = dev.read_vec(mft_at, boot.record_size as usize)?;
        apply_fixups(&mut rec0, mft_at, "NTFS MFT record 0")?;
        let (mft_runs, _, _) = data_runs(&rec0, &boot, mft_at, "NTFS MFT record 0 ($MFT)")?;

        let rec3 = read_record(dev, &boot, &mft_runs, 3)?;
        if resident_value(&rec3, ATTR_VOLUME_INFORMATION).map_or(0, |v| le16(v, 0x0A))
            & VOLUME_IS_DIRTY
            != 0
        {
            // What chkdsk would repair may include the bitmap; a map from it could drop data.
            return Err(Error::Unsupported(
                "NTFS volume is marked dirty (scheduled for chkdsk); run chkdsk or ntfsfix first"
                    .into(),
            ));
        }
        let label = volume_label(&rec3);

        let rec6 = read_record(dev, &boot, &mft_runs, 6)?;
        let (bitmap_runs, bitmap_size, bitmap_init) =
            data_runs(&rec6, &boot, 0, "NTFS MFT record 6 ($Bitmap)")?;
        let needed = boot.total_clusters.div_ceil(8);
        if bitmap_size < needed {
            return Err(corrupt(
                "NTFS $Bitmap",
                0,
                format!("{bitmap_size} bytes for {} clusters", boot.total_clusters),
            ));
        }

        let mut used = ExtentList::new();
        // The boot sector is in cluster 0 (always allocated); said explicitly all the same.
        used.push(0, boot.bytes_per_sector);
        // Stream the bitmap in 1 MiB pieces: whole bytes, so bit 0 of each is a known cluster.
        const CHUNK: u64 = 1 << 20;
        let mut pos = 0u64;
        let mut buf = vec![0u8; needed.min(CHUNK) as usize];
        while pos < needed {
            let n = (needed - pos).min(CHUNK) as usize;
            let piece = &mut buf[..n];
            read_attr(dev, &boot, &bitmap_runs, pos, piece, "NTFS $Bitmap")?;
            let valid = bitmap_init.saturating_sub(pos).min(n as u64) as usize;
            piece[valid..].fill(0);
            let first = pos * 8;
            let units = (boot.total_clusters - first).min(n as u64 * 8);
            crate::extent::push_bitmap_lsb(&mut used, piece, first, units, cs, 0);
            pos += n as u64;
        }
        // The backup boot sector: the sector right after the volume's counted sectors.
        let size = (boot.total_sectors + 1) * boot.bytes_per_sector;
        used.push(
            boot.total_sectors * boot.bytes_per_sector,
            boot.bytes_per_sector,
        );

        Ok(Some(FsInfo {
            kind: FsKind::Ntfs,
            label,
            uuid: Some(format!("{:016X}", boot.serial)),
            block_size: cs,
            size,
            used,
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn runlist_with_negative_delta_and_sparse_run() {
        // 0x21: 1-byte length, 2-byte offset. Run 1: 16 clusters at 0x1000.
        // 0x01: sparse, 8 clusters. 0x11: 4 clusters at delta -0x10 (0xF0) -> 0xFF0.
        let bytes = [0x21, 0x10, 0x00, 0x10, 0x01, 0x08, 0x11, 0x04, 0xF0, 0x00];
        let runs = decode_runlist(&bytes, 0, 1 << 20, 0).unwrap();
        assert_eq!(
            runs,
            vec![
                Run {
                    vcn: 0,
                    lcn: Some(0x1000),
                    len: 16
                },
                Run {
                    vcn: 16,
                    lcn: None,
                    len: 8
                },
                Run {
                    vcn: 24,
                    lcn: Some(0xFF0),
                    len: 4
                },
            ]
        );
    }

    #[test]
    fn runlist_outside_volume_or_unterminated_is_corrupt() {
        assert!(decode_runlist(&[0x11, 0x10, 0x7F, 0x00], 0, 100, 0).is_err());
        assert!(decode_runlist(&[0x11, 0x01, 0x01], 0, 100, 0).is_err());
        assert!(decode_runlist(&[0x11, 0x01, 0xFF, 0x00], 0, 100, 0).is_err());
    }

    #[test]
    fn torn_record_is_rejected() {
        let mut rec = vec![0u8; 1024];
        rec[0..4].copy_from_slice(b"FILE");
        rec[4] = 0x30;
        rec[6] = 3;
        rec[0x30] = 7;
        rec[510] = 7;
        rec[1022] = 7;
        assert!(apply_fixups(&mut rec.clone(), 0, "t").is_ok());
        rec[1022] = 8;
        assert!(apply_fixups(&mut rec, 0, "t").is_err());
    }

    #[test]
    fn fat_boot_sector_is_not_ntfs() {
        let mut b = vec![0u8; 512];
        b[3..11].copy_from_slice(b"mkfs.fat");
        assert!(parse_boot(&b, 1 << 30).unwrap().is_none());
    }
}
