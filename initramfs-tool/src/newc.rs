//! The "newc" cpio format (magic 070701) the kernel unpacks into its rootfs, plus zstd.
//!
//! Layout of one record: a 110-byte ASCII header (magic and 13 fields of 8 hex digits), the
//! name with its NUL, padding to a multiple of 4, the data, padding to a multiple of 4. The
//! archive ends with a record named `TRAILER!!!`.
//!
//! The writer is deterministic by construction: the caller's order, inode numbers counted
//! from 1, one mtime for everything, owner 0:0. The reader treats its input as untrusted:
//! every field is checked against the bytes that remain, and nothing is allocated beyond the
//! input's own size (or the caller's limit for decompressed data).

use std::io::{Read, Write};

use crate::error::{Error, Result};
use crate::image::{Image, Kind};

const MAGIC: &[u8; 6] = b"070701";
/// The "crc" variant: same layout, a checksum in the last field. Read, never written.
const MAGIC_CRC: &[u8; 6] = b"070702";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Largest zstd window accepted when reading (128 MiB), so a hostile frame header cannot
/// make the decoder allocate gigabytes.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

fn pad4(n: u64) -> usize {
    ((4 - (n % 4)) % 4) as usize
}

/// Streams newc records into `W`.
pub struct NewcWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
    mtime: u32,
}

impl<W: Write> NewcWriter<W> {
    pub fn new(out: W, mtime: u32) -> Self {
        NewcWriter {
            out,
            written: 0,
            next_ino: 1,
            mtime,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(Error::Write)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> Result<()> {
        let n = pad4(self.written);
        self.put(&[0u8; 3][..n])
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        name: &str,
        ino: u32,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> Result<()> {
        if name.as_bytes().contains(&0) {
            return Err(Error::Config(format!("path {name:?} contains a NUL byte")));
        }
        let filesize = u32::try_from(data.len()).map_err(|_| {
            Error::Config(format!("{name}: newc cannot hold files of 4 GiB or more"))
        })?;
        let namesize = u32::try_from(name.len() + 1)
            .map_err(|_| Error::Config(format!("{name}: path too long")))?;
        let fields = [
            ino, mode, 0, /* uid */ 0, /* gid */ nlink, self.mtime, filesize, 0,
            /* dev major */ 0, /* dev minor */
            rdev.0, rdev.1, namesize, 0, /* check */
        ];
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        for f in fields {
            header.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.put(&header)?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    /// Appends one entry; `path` is absolute and is stored without its leading slash, as
    /// `find . | cpio` would (minus the `./`).
    pub fn add(&mut self, path: &str, kind: &Kind) -> Result<()> {
        let name = path.trim_start_matches('/');
        let ino = self.next_ino;
        self.next_ino = self
            .next_ino
            .checked_add(1)
            .ok_or_else(|| Error::Config("too many entries".into()))?;
        let mode = kind.st_mode();
        match kind {
            Kind::File { data, .. } => self.record(name, ino, mode, 1, (0, 0), data),
            Kind::Dir { .. } => self.record(name, ino, mode, 2, (0, 0), &[]),
            Kind::Symlink { target } => self.record(name, ino, mode, 1, (0, 0), target.as_bytes()),
            Kind::CharDev { major, minor, .. } | Kind::BlockDev { major, minor, .. } => {
                self.record(name, ino, mode, 1, (*major, *minor), &[])
            }
        }
    }

    /// Writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.record(TRAILER, 0, 0, 1, (0, 0), &[])?;
        self.out.flush().map_err(Error::Write)?;
        Ok(self.out)
    }
}

/// Serialises an image (parents already filled) as an uncompressed newc archive.
pub fn write_image(image: &Image, mtime: u32) -> Result<Vec<u8>> {
    let mut w = NewcWriter::new(Vec::new(), mtime);
    for (path, entry) in image.entries() {
        w.add(path, &entry.kind)?;
    }
    w.finish()
}

/// One zstd frame at `level`, with content size and checksum. The zstd crate compresses on
/// the calling thread unless multithreading is asked for (we never do), so equal input and
/// level always give equal bytes.
pub fn compress_zstd(data: &[u8], level: i32) -> Result<Vec<u8>> {
    let mut enc = zstd::stream::Encoder::new(Vec::new(), level).map_err(Error::Write)?;
    enc.include_checksum(true).map_err(Error::Write)?;
    enc.include_contentsize(true).map_err(Error::Write)?;
    enc.set_pledged_src_size(Some(data.len() as u64))
        .map_err(Error::Write)?;
    enc.write_all(data).map_err(Error::Write)?;
    enc.finish().map_err(Error::Write)
}

/// One record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// As stored (no leading slash for archives we write); lossy if not UTF-8.
    pub name: String,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub data: Vec<u8>,
}

impl ArchiveEntry {
    pub fn file_type(&self) -> u32 {
        self.mode & 0o170_000
    }
}

/// Reads an archive that may be zstd-compressed. Decompressed data larger than `limit`
/// bytes is refused.
pub fn read_archive(bytes: &[u8], limit: u64) -> Result<Vec<ArchiveEntry>> {
    if bytes.starts_with(&ZSTD_MAGIC) {
        let raw = decompress_zstd(bytes, limit)?;
        read_newc(&raw)
    } else {
        read_newc(bytes)
    }
}

/// Decompresses all zstd frames in `bytes`, refusing more than `limit` bytes of output.
pub fn decompress_zstd(bytes: &[u8], limit: u64) -> Result<Vec<u8>> {
    let corrupt = |e: std::io::Error| Error::Corrupt {
        what: format!("zstd: {e}"),
        offset: 0,
    };
    let mut dec = zstd::stream::read::Decoder::new(bytes).map_err(corrupt)?;
    dec.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(corrupt)?;
    let mut out = Vec::new();
    dec.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(corrupt)?;
    if out.len() as u64 > limit {
        return Err(Error::Corrupt {
            what: format!("decompresses to more than {limit} bytes"),
            offset: 0,
        });
    }
    Ok(out)
}

/// Parses uncompressed newc. Concatenated archives (as the kernel accepts them, e.g. early
/// microcode followed by the rootfs) are read one after another; zero padding between and
/// after them is skipped.
pub fn read_newc(bytes: &[u8]) -> Result<Vec<ArchiveEntry>> {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    let mut saw_trailer = false;
    loop {
        if saw_trailer {
            while pos < bytes.len() && bytes[pos] == 0 {
                pos += 1;
            }
            if pos == bytes.len() {
                return Ok(entries);
            }
            saw_trailer = false;
        }
        let (entry, next) = read_record(bytes, pos)?;
        pos = next;
        if entry.name == TRAILER {
            saw_trailer = true;
        } else {
            entries.push(entry);
        }
    }
}

fn corrupt(what: impl Into<String>, offset: usize) -> Error {
    Error::Corrupt {
        what: what.into(),
        offset: offset as u64,
    }
}

fn hex_field(bytes: &[u8], at: usize) -> Result<u32> {
    let field = bytes
        .get(at..at + 8)
        .ok_or_else(|| corrupt("truncated header", at))?;
    let mut value = 0u32;
    for &b in field {
        let digit = (b as char)
            .to_digit(16)
            .ok_or_else(|| corrupt("header field is not hex", at))?;
        value = (value << 4) | digit;
    }
    Ok(value)
}

/// Takes `len` bytes at `pos` and returns them with the position after their 4-byte padding.
fn take_padded<'a>(
    bytes: &'a [u8],
    pos: usize,
    len: usize,
    what: &str,
) -> Result<(&'a [u8], usize)> {
    let end = pos
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| corrupt(format!("{what} runs past the end"), pos))?;
    let padded = end + pad4(end as u64);
    // Padding may be missing only at the very end (after the trailer); anything else is damage.
    Ok((&bytes[pos..end], padded.min(bytes.len())))
}

fn read_record(bytes: &[u8], start: usize) -> Result<(ArchiveEntry, usize)> {
    let header = bytes
        .get(start..)
        .filter(|h| h.len() >= HEADER_LEN)
        .ok_or_else(|| {
            if start >= bytes.len() {
                corrupt("archive ends without TRAILER!!!", start)
            } else {
                corrupt("truncated header", start)
            }
        })?;
    if &header[..6] != MAGIC && &header[..6] != MAGIC_CRC {
        return Err(corrupt("bad magic (not newc cpio)", start));
    }
    let field = |i: usize| hex_field(bytes, start + 6 + 8 * i);
    let ino = field(0)?;
    let mode = field(1)?;
    let uid = field(2)?;
    let gid = field(3)?;
    let nlink = field(4)?;
    let mtime = field(5)?;
    let filesize = field(6)? as usize;
    let rdev_major = field(9)?;
    let rdev_minor = field(10)?;
    let namesize = field(11)? as usize;
    if namesize == 0 {
        return Err(corrupt("empty name", start));
    }
    let (name, pos) = take_padded(bytes, start + HEADER_LEN, namesize, "name")?;
    let Some((&0, name)) = name.split_last() else {
        return Err(corrupt("name is not NUL-terminated", start + HEADER_LEN));
    };
    let name = String::from_utf8_lossy(name).into_owned();
    let (data, next) = take_padded(bytes, pos, filesize, "file data")?;
    let entry = ArchiveEntry {
        name,
        ino,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        rdev_major,
        rdev_minor,
        data: data.to_vec(),
    };
    Ok((entry, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_padded_to_four_bytes() {
        let mut w = NewcWriter::new(Vec::new(), 7);
        w.add(
            "/ab",
            &Kind::File {
                data: b"hello".to_vec(),
                mode: 0o644,
            },
        )
        .unwrap();
        let out = w.finish().unwrap();
        // 110 + "ab\0" = 113 -> 116; + 5 data = 121 -> 124; trailer 110 + 11 = 121 -> 124.
        assert_eq!(out.len(), 248);
        assert_eq!(&out[116..121], b"hello");
        let entries = read_newc(&out).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, "ab");
        assert_eq!(entries[0].mtime, 7);
        assert_eq!(entries[0].mode, 0o100_644);
    }

    #[test]
    fn missing_trailer_is_corrupt() {
        let mut w = NewcWriter::new(Vec::new(), 0);
        w.add(
            "/a",
            &Kind::Dir {
                mode: 0o755,
                soft: false,
            },
        )
        .unwrap();
        let out = w.finish().unwrap();
        let first_record = 112;
        assert!(read_newc(&out[..first_record]).unwrap_err().is_corrupt());
    }
}
