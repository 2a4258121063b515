//! A Clonezilla image directory read as the disk it was saved from, for `wraith import
//! clonezilla` and for restoring such a directory directly. It owns the directory's layout
//! (`disk`, `parts`, `<disk>-pt.sf`, `<disk>-pt.parted`, `<disk>-mbr`, `<disk>-gpt-1st`/`-2nd`,
//! `<disk>-hidden-data-after-mbr`, `<part>.<fs>-ptcl-img.<codec>.aa…` and `<part>.dd-img…`
//! pieces) and the virtual disk built from it; the partclone stream itself is `partclone.rs`.
//! It only reads the directory: nothing here writes to it, to a repository or to a disk.
//!
//! The disk's partition table comes from the saved table sectors (the same parser as for real
//! disks reads them) and is checked against the sfdisk dump. Each partition reads from its
//! stream decoded forward; a read before the decoder's position starts the decoding again, so
//! the save and clone pipelines, which read in disk order, decode each stream once.

pub mod partclone;

use crate::device::{DiskIdentity, ReadAt};
use crate::error::{Error, Result};
use crate::extent::ExtentList;
use crate::fs::FsKind;
use crate::plan::{FsSummary, Method, Plan, Region, RegionKind};
use crate::table;
use partclone::{Bitmap, Blocks, Counted, Header, StreamError};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SECTOR: u64 = 512;
/// Table files are a few sectors; anything larger is not what Clonezilla wrote.
const MAX_TABLE_FILE: u64 = 4 << 20;

/// Whether `dir` looks like a Clonezilla image directory (has its `parts` and `disk` files).
pub fn is_image_dir(dir: &Path) -> bool {
    dir.is_dir() && dir.join("parts").is_file() && dir.join("disk").is_file()
}

/// How a stream's pieces are compressed, from Clonezilla's file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Gzip,
    Zstd,
    Xz,
    Lz4,
    Bzip2,
    None,
}

impl Codec {
    fn from_suffix(s: &str) -> Result<Codec> {
        Ok(match s {
            "gz" => Codec::Gzip,
            "zst" => Codec::Zstd,
            "xz" => Codec::Xz,
            "lz4" => Codec::Lz4,
            "bz2" => Codec::Bzip2,
            "uncomp" | "" => Codec::None,
            other => {
                return Err(Error::Unsupported(format!(
                    "Clonezilla pieces compressed with {other:?} (gz, zst, xz, lz4, bz2 and uncomp are read)"
                )))
            }
        })
    }
}

/// The ordered piece files of one stream.
#[derive(Clone, Debug)]
pub struct Pieces {
    pub files: Vec<PathBuf>,
    pub codec: Codec,
}

/// Where the piece reader is: which piece and how far into it.
#[derive(Default)]
struct Position {
    piece: AtomicUsize,
    offset: AtomicU64,
}

/// The pieces concatenated, in order, as one byte stream.
struct PieceReader {
    files: Vec<PathBuf>,
    cur: Option<File>,
    next: usize,
    pos: Arc<Position>,
}

impl Read for PieceReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.cur.is_none() {
                let Some(p) = self.files.get(self.next) else {
                    return Ok(0);
                };
                let f = File::open(p)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
                self.pos.piece.store(self.next, Ordering::Relaxed);
                self.pos.offset.store(0, Ordering::Relaxed);
                self.cur = Some(f);
                self.next += 1;
            }
            let Some(f) = self.cur.as_mut() else {
                continue;
            };
            let n = f.read(buf)?;
            if n == 0 && !buf.is_empty() {
                self.cur = None;
                continue;
            }
            self.pos.offset.fetch_add(n as u64, Ordering::Relaxed);
            return Ok(n);
        }
    }
}

type Stream = Counted<Box<dyn Read + Send>>;

impl Pieces {
    fn open(&self) -> Result<(Stream, Arc<Position>)> {
        let pos = Arc::new(Position::default());
        let raw = PieceReader {
            files: self.files.clone(),
            cur: None,
            next: 0,
            pos: Arc::clone(&pos),
        };
        let r: Box<dyn Read + Send> = match self.codec {
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Codec::Zstd => Box::new(
                zstd::stream::read::Decoder::new(raw)
                    .map_err(|e| Error::io(self.files.first().cloned().unwrap_or_default(), e))?,
            ),
            Codec::Xz => Box::new(lzma_rust2::XzReader::new(raw, true)),
            Codec::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(raw)),
            Codec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(raw)),
            Codec::None => Box::new(raw),
        };
        Ok((Counted::new(r), pos))
    }

    /// The error for a fault in this stream: which piece, how far into it, and what.
    fn error(&self, pos: &Position, e: &StreamError) -> Error {
        let i = pos.piece.load(Ordering::Relaxed);
        let file = self
            .files
            .get(i)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "?".into());
        // The decompressor reads ahead: the fault lies at or before this piece offset.
        let at = pos.offset.load(Ordering::Relaxed);
        let what = match e {
            StreamError::Truncated { .. } => format!(
                "{file} (piece {} of {}, read to byte {at})",
                i + 1,
                self.files.len()
            ),
            _ => format!("{file} (near byte {at} of this piece)"),
        };
        Error::corrupt(what, e.offset(), e.to_string())
    }
}

/// What one partition's bytes come from.
#[derive(Clone, Debug)]
pub enum PartData {
    /// A partclone image: used blocks only.
    Partclone {
        pieces: Pieces,
        header: Header,
        bitmap: Arc<Bitmap>,
        /// Where block data starts in the decompressed stream.
        data_at: u64,
    },
    /// A dd image: every byte of the partition.
    Raw { pieces: Pieces },
    /// Clonezilla saved nothing for it (swap, extended container, skipped): reads as zeros.
    Nothing { why: String },
}

#[derive(Clone, Debug)]
pub struct PartImage {
    /// "sda1".
    pub name: String,
    pub number: u32,
    pub start: u64,
    pub len: u64,
    pub data: PartData,
    /// Bytes partclone leaves out but the filesystem needs, rebuilt: NTFS's backup boot
    /// sector (a copy of its boot sector at the volume's end, outside partclone's bitmap).
    /// (partition offset, bytes).
    pub extra: Option<(u64, Vec<u8>)>,
}

/// A partition's forward decoder and the last block it produced.
struct Decoder {
    stream: Stream,
    pos: Arc<Position>,
    blocks: Option<Blocks>,
    block: Vec<u8>,
    /// Index of the used block in `block` (partclone), or the stream byte offset (raw).
    have: Option<u64>,
}

/// A Clonezilla image directory as a read-only disk.
pub struct ClonezillaDisk {
    pub dir: PathBuf,
    pub disk_name: String,
    size: u64,
    /// Table sectors saved by Clonezilla: (disk offset, bytes).
    fixed: Vec<(u64, Vec<u8>)>,
    pub parts: Vec<PartImage>,
    decoders: Vec<Mutex<Option<Decoder>>>,
    pub warnings: Vec<String>,
}

fn read_small(path: &Path) -> Result<Vec<u8>> {
    let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if md.len() > MAX_TABLE_FILE {
        return Err(Error::corrupt(
            path.display().to_string(),
            0,
            format!("{} bytes: too large for a table file", md.len()),
        ));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn read_text(path: &Path) -> Result<String> {
    Ok(String::from_utf8_lossy(&read_small(path)?).into_owned())
}

/// One partition line of an sfdisk dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SfPart {
    pub device: String,
    pub start: u64,
    pub size: u64,
    pub type_id: String,
}

/// The parts of `sfdisk --dump` this reader uses.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SfDump {
    pub label: String,
    pub last_lba: Option<u64>,
    pub sector_size: u64,
    pub parts: Vec<SfPart>,
}

/// Parses `sfdisk --dump` output (`label: gpt`, `/dev/sda1 : start=..., size=..., type=...`).
pub fn parse_sfdisk(text: &str, file: &str) -> Result<SfDump> {
    let mut d = SfDump {
        sector_size: SECTOR,
        ..Default::default()
    };
    let mut offset = 0u64;
    for line in text.lines() {
        let at = offset;
        offset += line.len() as u64 + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((dev, rest)) = line
            .split_once(" : ")
            .or_else(|| line.split_once(':').filter(|(d, _)| d.starts_with("/dev/")))
        {
            if dev.trim().starts_with("/dev/") || rest.contains("start=") {
                let mut p = SfPart {
                    device: dev.trim().to_string(),
                    start: 0,
                    size: 0,
                    type_id: String::new(),
                };
                let (mut have_start, mut have_size) = (false, false);
                for field in rest.split(',') {
                    let Some((k, v)) = field.split_once('=') else {
                        continue;
                    };
                    let v = v.trim().trim_matches('"');
                    let num = || {
                        v.parse::<u64>().map_err(|_| {
                            Error::corrupt(
                                file,
                                at,
                                format!("{} {k}={v:?} is not a number", p.device),
                            )
                        })
                    };
                    match k.trim() {
                        "start" => {
                            p.start = num()?;
                            have_start = true;
                        }
                        "size" => {
                            p.size = num()?;
                            have_size = true;
                        }
                        "type" | "Id" => p.type_id = v.to_string(),
                        _ => {}
                    }
                }
                if !have_start || !have_size {
                    return Err(Error::corrupt(
                        file,
                        at,
                        format!("{}: no start or size", p.device),
                    ));
                }
                // Byte offsets of every sector must fit: later arithmetic relies on it.
                if p.start
                    .checked_add(p.size)
                    .is_none_or(|e| e > u64::MAX / SECTOR / 2)
                {
                    return Err(Error::corrupt(
                        file,
                        at,
                        format!("{}: start {} size {} too large", p.device, p.start, p.size),
                    ));
                }
                d.parts.push(p);
                continue;
            }
        }
        if let Some((k, v)) = line.split_once(':') {
            let v = v.trim();
            match k.trim() {
                "label" => d.label = v.to_string(),
                "last-lba" => {
                    d.last_lba = v.parse().ok().filter(|&l: &u64| l < u64::MAX / SECTOR / 2)
                }
                "sector-size" => {
                    d.sector_size = v
                        .parse()
                        .map_err(|_| Error::corrupt(file, at, format!("sector-size {v:?}")))?
                }
                _ => {}
            }
        }
    }
    if d.label.is_empty() {
        return Err(Error::corrupt(
            file,
            0,
            "no `label:` line (not an sfdisk dump)",
        ));
    }
    Ok(d)
}

/// "sda1" → 1, "nvme0n1p2" → 2, "mmcblk0p3" → 3.
fn part_number(disk: &str, part: &str) -> Option<u32> {
    let rest = part.strip_prefix(disk)?;
    let rest = rest.strip_prefix('p').unwrap_or(rest);
    rest.parse().ok()
}

/// The pieces named `<prefix>` or `<prefix>.<suffix>` (suffixes of letters, all one length,
/// consecutive from `aa…`): a gap is an error naming the missing piece.
fn find_pieces(dir: &Path, names: &[String], prefix: &str) -> Result<Option<Vec<PathBuf>>> {
    if names.iter().any(|n| n == prefix) {
        return Ok(Some(vec![dir.join(prefix)]));
    }
    let dotted = format!("{prefix}.");
    let mut suffixes: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix(&dotted))
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase()))
        .collect();
    if suffixes.is_empty() {
        return Ok(None);
    }
    suffixes.sort();
    let len = suffixes[0].len();
    let mut expect: Vec<u8> = vec![b'a'; len];
    for s in &suffixes {
        let want = String::from_utf8_lossy(&expect).into_owned();
        if s.len() != len || *s != want {
            return Err(Error::NotFound {
                what: format!(
                    "piece {} (the pieces of {prefix} jump to .{s})",
                    dir.join(format!("{prefix}.{want}")).display()
                ),
            });
        }
        // Next suffix: base-26 increment from the right.
        for i in (0..len).rev() {
            if expect[i] == b'z' {
                expect[i] = b'a';
            } else {
                expect[i] += 1;
                break;
            }
        }
    }
    Ok(Some(
        suffixes
            .iter()
            .map(|s| dir.join(format!("{prefix}.{s}")))
            .collect(),
    ))
}

/// The compression of a piece, from its first bytes (uncompressed when none matches).
fn sniff(first_piece: &Path) -> Result<Codec> {
    let mut head = [0u8; 6];
    let mut f = File::open(first_piece).map_err(|e| Error::io(first_piece, e))?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(Error::io(first_piece, e)),
        }
    }
    let h = &head[..n];
    Ok(if h.starts_with(&[0x1f, 0x8b]) {
        Codec::Gzip
    } else if h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Codec::Zstd
    } else if h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Codec::Xz
    } else if h.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Codec::Lz4
    } else if h.starts_with(b"BZh") {
        Codec::Bzip2
    } else {
        Codec::None
    })
}

/// The stream for partition `part`: a partclone image or a dd image, with its codec.
fn find_stream(dir: &Path, names: &[String], part: &str) -> Result<Option<(Pieces, bool)>> {
    let mut found: Vec<(String, Codec, bool)> = Vec::new();
    let head = format!("{part}.");
    for n in names {
        let Some(rest) = n.strip_prefix(&head) else {
            continue;
        };
        // "<fs>-ptcl-img.<codec>[.<suffix>]" or "dd-img[.<suffix>]" / "dd-img.<codec>..."
        if let Some(i) = rest.find("-ptcl-img") {
            let after = &rest[i + "-ptcl-img".len()..];
            let codec = after
                .strip_prefix('.')
                .map(|a| a.split('.').next().unwrap_or(""))
                .unwrap_or("");
            let prefix = if codec.is_empty() {
                format!("{part}.{}-ptcl-img", &rest[..i])
            } else {
                format!("{part}.{}-ptcl-img.{codec}", &rest[..i])
            };
            let c = Codec::from_suffix(codec)?;
            if !found.iter().any(|f| f.0 == prefix) {
                found.push((prefix, c, true));
            }
        } else if let Some(after) = rest.strip_prefix("dd-img") {
            if after.ends_with(".info") {
                continue;
            }
            // Clonezilla names dd images "sda1.dd-img.aa" whatever their compression (it
            // tells them apart by content): the first bytes decide, see `sniff`.
            let first = after
                .strip_prefix('.')
                .map(|a| a.split('.').next().unwrap_or(""));
            let (prefix, c) = match first {
                Some(c @ ("gz" | "zst" | "xz" | "lz4" | "bz2")) => {
                    (format!("{part}.dd-img.{c}"), Codec::from_suffix(c)?)
                }
                _ => (format!("{part}.dd-img"), Codec::None),
            };
            if !found.iter().any(|f| f.0 == prefix) {
                found.push((prefix, c, false));
            }
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => {
            let (prefix, mut codec, ptcl) = found.remove(0);
            let files = find_pieces(dir, names, &prefix)?.ok_or_else(|| Error::NotFound {
                what: format!("the pieces of {}", dir.join(&prefix).display()),
            })?;
            if !ptcl && codec == Codec::None {
                codec = sniff(&files[0])?;
            }
            Ok(Some((Pieces { files, codec }, ptcl)))
        }
        _ => Err(Error::Invalid(format!(
            "{}: several images for {part}: {}",
            dir.display(),
            found
                .iter()
                .map(|f| f.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

impl ClonezillaDisk {
    /// Reads the directory's description and every partclone header and bitmap (not the data).
    pub fn open(dir: &Path) -> Result<ClonezillaDisk> {
        if !is_image_dir(dir) {
            return Err(Error::NotFound {
                what: format!(
                    "a Clonezilla image in {} (its `disk` and `parts` files)",
                    dir.display()
                ),
            });
        }
        let disks: Vec<String> = read_text(&dir.join("disk"))?
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let disk_name = match disks.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(Error::corrupt(
                    dir.join("disk").display().to_string(),
                    0,
                    "names no disk",
                ))
            }
            many => {
                return Err(Error::Unsupported(format!(
                    "Clonezilla image of {} disks ({}): one disk per import",
                    many.len(),
                    many.join(" ")
                )))
            }
        };
        if disk_name.contains('/') || disk_name.contains("..") {
            return Err(Error::corrupt(
                dir.join("disk").display().to_string(),
                0,
                format!("disk name {disk_name:?}"),
            ));
        }
        let part_names: Vec<String> = read_text(&dir.join("parts"))?
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let sf_path = dir.join(format!("{disk_name}-pt.sf"));
        let sf = parse_sfdisk(&read_text(&sf_path)?, &sf_path.display().to_string())?;
        if sf.sector_size != SECTOR {
            return Err(Error::Unsupported(format!(
                "{}: {}-byte sectors (512 only)",
                sf_path.display(),
                sf.sector_size
            )));
        }
        let names: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        let gpt = sf.label == "gpt";
        if !gpt && sf.label != "dos" {
            return Err(Error::Unsupported(format!(
                "{}: {} partition table",
                sf_path.display(),
                sf.label
            )));
        }

        // The disk's size: parted's "Disk /dev/sda: 41943040s", else the GPT's last usable
        // sector plus the backup, else the end of the last partition.
        let parted = dir.join(format!("{disk_name}-pt.parted"));
        let mut size = None;
        if parted.is_file() {
            for l in read_text(&parted)?.lines() {
                if let Some(rest) = l.strip_prefix("Disk /dev/") {
                    if let Some(s) = rest
                        .split(':')
                        .nth(1)
                        .and_then(|s| s.trim().strip_suffix('s'))
                    {
                        size = s.parse::<u64>().ok().and_then(|n| n.checked_mul(SECTOR));
                    }
                }
            }
        }
        let parts_end = sf
            .parts
            .iter()
            .filter_map(|p| p.start.checked_add(p.size))
            .max()
            .unwrap_or(0)
            .checked_mul(SECTOR)
            .ok_or_else(|| {
                Error::corrupt(sf_path.display().to_string(), 0, "partition end overflows")
            })?;
        let size = match (size, sf.last_lba) {
            (Some(s), _) => s,
            (None, Some(l)) if gpt => (l + 34) * SECTOR,
            _ => parts_end + if gpt { 33 * SECTOR } else { 0 },
        };
        if size < parts_end {
            return Err(Error::corrupt(
                sf_path.display().to_string(),
                0,
                format!("partitions end at byte {parts_end}, past the {size}-byte disk"),
            ));
        }

        // The saved table sectors.
        let mut fixed = Vec::new();
        let mut warnings = Vec::new();
        let first_start = sf
            .parts
            .iter()
            .map(|p| p.start * SECTOR)
            .min()
            .unwrap_or(size);
        if gpt {
            let p = dir.join(format!("{disk_name}-gpt-1st"));
            let b = read_small(&p)?;
            if b.len() as u64 != 34 * SECTOR {
                return Err(Error::corrupt(
                    p.display().to_string(),
                    b.len() as u64,
                    "not 34 sectors",
                ));
            }
            fixed.push((0, b));
            let p = dir.join(format!("{disk_name}-gpt-2nd"));
            let b = read_small(&p)?;
            if b.len() as u64 != 33 * SECTOR || size < 67 * SECTOR {
                return Err(Error::corrupt(
                    p.display().to_string(),
                    b.len() as u64,
                    "not 33 sectors",
                ));
            }
            fixed.push((size - 33 * SECTOR, b));
        } else {
            let p = dir.join(format!("{disk_name}-mbr"));
            let b = read_small(&p)?;
            if b.len() as u64 != SECTOR {
                return Err(Error::corrupt(
                    p.display().to_string(),
                    b.len() as u64,
                    "not 512 bytes",
                ));
            }
            fixed.push((0, b));
            let hidden = dir.join(format!("{disk_name}-hidden-data-after-mbr"));
            if hidden.is_file() {
                let mut b = read_small(&hidden)?;
                // Never over a partition, whatever the file's length.
                b.truncate(first_start.saturating_sub(SECTOR) as usize);
                fixed.push((SECTOR, b));
            }
        }

        // Partitions from the sfdisk dump; their data from the listed images.
        let mut parts = Vec::new();
        for p in &sf.parts {
            let name = p.device.trim_start_matches("/dev/").to_string();
            let number = part_number(&disk_name, &name).ok_or_else(|| {
                Error::corrupt(
                    sf_path.display().to_string(),
                    0,
                    format!("partition {name} is not on {disk_name}"),
                )
            })?;
            let extended = !gpt
                && matches!(
                    p.type_id.to_ascii_lowercase().as_str(),
                    "5" | "f" | "85" | "0x5" | "0xf" | "0x85"
                );
            if extended {
                continue;
            }
            let (start, len) = (p.start * SECTOR, p.size * SECTOR);
            let data = if !part_names.contains(&name) {
                PartData::Nothing {
                    why: format!("{name} is not in the image's `parts` list"),
                }
            } else {
                match find_stream(dir, &names, &name)? {
                    Some((pieces, true)) => {
                        let (mut s, pos) = pieces.open()?;
                        let header =
                            partclone::read_header(&mut s).map_err(|e| pieces.error(&pos, &e))?;
                        let bitmap = partclone::read_bitmap(&mut s, &header)
                            .map_err(|e| pieces.error(&pos, &e))?;
                        if header.device_size > len {
                            return Err(Error::corrupt(
                                pieces.files[0].display().to_string(),
                                0,
                                format!(
                                    "image of a {}-byte device for the {len}-byte partition {name}",
                                    header.device_size
                                ),
                            ));
                        }
                        PartData::Partclone {
                            data_at: s.pos,
                            pieces,
                            header,
                            bitmap: Arc::new(bitmap),
                        }
                    }
                    Some((pieces, false)) => PartData::Raw { pieces },
                    None => {
                        let swap = names.iter().any(|n| n == &format!("swappt-{name}.info"));
                        if swap {
                            PartData::Nothing {
                                why: format!(
                                    "{name} is swap: Clonezilla keeps only its label and UUID"
                                ),
                            }
                        } else {
                            return Err(Error::NotFound {
                                what: format!(
                                    "the image of {name} in {} (listed in `parts`)",
                                    dir.display()
                                ),
                            });
                        }
                    }
                }
            };
            if let PartData::Nothing { why } = &data {
                warnings.push(format!("partition {number}: {why}; it restores as zeros"));
            }
            parts.push(PartImage {
                name,
                number,
                start,
                len,
                data,
                extra: None,
            });
        }
        parts.sort_by_key(|p| p.start);
        if !gpt && parts.iter().any(|p| p.number > 4) {
            fixed.retain(|(at, _)| *at != 0);
            fixed.extend(ebr_chain(
                &dir.join(format!("{disk_name}-mbr")),
                &sf,
                &disk_name,
            )?);
            fixed.sort_by_key(|(at, _)| *at);
        }
        let decoders = parts.iter().map(|_| Mutex::new(None)).collect();
        let disk = ClonezillaDisk {
            dir: dir.to_path_buf(),
            disk_name,
            size,
            fixed,
            parts,
            decoders,
            warnings,
        };
        let mut disk = disk;
        for pi in 0..disk.parts.len() {
            disk.parts[pi].extra = disk.ntfs_backup_boot(pi)?;
        }
        // The saved sectors must describe the partitions the dump lists.
        let t = table::read(&disk, SECTOR)?;
        for p in &disk.parts {
            if !t
                .partitions
                .iter()
                .any(|q| q.number == p.number && q.start == p.start && q.len == p.len)
            {
                return Err(Error::corrupt(
                    sf_path.display().to_string(),
                    0,
                    format!(
                        "partition {} (start {}, {} bytes) is not in the saved table sectors",
                        p.name, p.start, p.len
                    ),
                ));
            }
        }
        Ok(disk)
    }

    /// NTFS keeps a copy of its boot sector in the sector after the volume; partclone's bitmap
    /// covers only the volume's clusters, so the copy is rebuilt from the boot sector.
    fn ntfs_backup_boot(&self, pi: usize) -> Result<Option<(u64, Vec<u8>)>> {
        let p = &self.parts[pi];
        let PartData::Partclone { header, bitmap, .. } = &p.data else {
            return Ok(None);
        };
        if !header.fs.eq_ignore_ascii_case("NTFS") || !bitmap.is_used(0) {
            return Ok(None);
        }
        let mut boot = vec![0u8; SECTOR as usize];
        self.read_part(pi, &mut boot, 0)?;
        if &boot[3..11] != b"NTFS    " {
            return Ok(None);
        }
        let sectors = u64::from_le_bytes(boot[0x28..0x30].try_into().unwrap_or([0; 8]));
        let Some(at) = sectors.checked_mul(SECTOR).filter(|&a| a + SECTOR <= p.len) else {
            return Ok(None);
        };
        let bs = u64::from(header.block_size);
        if bitmap.is_used(at / bs) {
            return Ok(None);
        }
        Ok(Some((at, boot)))
    }

    pub fn identity(&self) -> DiskIdentity {
        DiskIdentity {
            model: Some(format!("Clonezilla image of {}", self.disk_name)),
            serial: None,
            size: self.size,
            logical_sector_size: SECTOR,
            physical_sector_size: SECTOR,
            path: self.dir.display().to_string(),
        }
    }

    /// The copy plan: boot area and table raw, each partclone partition's used blocks, dd
    /// partitions whole, partitions Clonezilla did not save not at all.
    pub fn plan(&self) -> Result<Plan> {
        let table = table::read(self, SECTOR)?;
        let first = self
            .parts
            .iter()
            .map(|p| p.start)
            .min()
            .unwrap_or(self.size);
        let mut regions = Vec::new();
        let mut boot = ExtentList::new();
        boot.push(0, first);
        regions.push(Region {
            kind: RegionKind::Boot,
            start: 0,
            len: first,
            method: Method::Raw {
                reason: "boot area and partition table".into(),
            },
            fs: None,
            used: boot,
        });
        for p in &self.parts {
            let (method, fs, used) = match &p.data {
                PartData::Partclone { header, bitmap, .. } => {
                    let bs = u64::from(header.block_size);
                    let mut used = ExtentList::new();
                    for (b, n) in bitmap.runs() {
                        used.push(p.start + b * bs, n * bs);
                    }
                    if let Some((at, b)) = &p.extra {
                        used.push(p.start + at, b.len() as u64);
                    }
                    let used = used.clipped(p.start, p.start + p.len);
                    (Method::UsedBlocks, fs_summary(&p.name, header), used)
                }
                PartData::Raw { .. } => {
                    let mut used = ExtentList::new();
                    used.push(p.start, p.len);
                    (
                        Method::Raw {
                            reason: "saved by Clonezilla as a dd image".into(),
                        },
                        None,
                        used,
                    )
                }
                PartData::Nothing { why } => (
                    Method::Raw {
                        reason: format!("not saved by Clonezilla ({why})"),
                    },
                    None,
                    ExtentList::new(),
                ),
            };
            regions.push(Region {
                kind: RegionKind::Partition { number: p.number },
                start: p.start,
                len: p.len,
                method,
                fs,
                used,
            });
        }
        regions.extend(crate::plan::table_extra(
            &table,
            first,
            self.parts.iter().map(|p| (p.start, p.len)),
        ));
        Ok(Plan {
            disk: self.identity(),
            table,
            regions,
        })
    }

    /// Decodes every stream to its end, checking every checksum, before anything is written:
    /// a damaged image is refused whole rather than found half-way through a restore.
    pub fn check_streams(&self, cancel: &dyn Fn() -> bool) -> Result<()> {
        for p in &self.parts {
            match &p.data {
                PartData::Partclone {
                    pieces,
                    header,
                    bitmap,
                    ..
                } => {
                    let (mut s, pos) = pieces.open()?;
                    let err = |e: StreamError| pieces.error(&pos, &e);
                    let h = partclone::read_header(&mut s).map_err(err)?;
                    let map = partclone::read_bitmap(&mut s, &h).map_err(err)?;
                    if &h != header || map.used() != bitmap.used() {
                        return Err(Error::Invalid(format!(
                            "{}: changed while being read",
                            pieces.files[0].display()
                        )));
                    }
                    let mut blocks = Blocks::new(&h, &map);
                    let mut buf = vec![0u8; h.block_size as usize];
                    while blocks.index() < map.used() {
                        if blocks.index().is_multiple_of(4096) && cancel() {
                            return Err(Error::Cancelled);
                        }
                        blocks.next(&mut s, &mut buf).map_err(err)?;
                    }
                    expect_end(&mut s).map_err(err)?;
                }
                PartData::Raw { pieces } => {
                    let (mut s, pos) = pieces.open()?;
                    let mut buf = vec![0u8; 1 << 20];
                    let mut left = p.len;
                    while left > 0 {
                        if cancel() {
                            return Err(Error::Cancelled);
                        }
                        let n = left.min(buf.len() as u64) as usize;
                        s.fill(&mut buf[..n], "dd image")
                            .map_err(|e| pieces.error(&pos, &e))?;
                        left -= n as u64;
                    }
                }
                PartData::Nothing { .. } => {}
            }
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes of partition `pi` from `off` (relative to the partition).
    fn read_part(&self, pi: usize, buf: &mut [u8], off: u64) -> Result<()> {
        let p = &self.parts[pi];
        let mut guard = self.decoders[pi].lock().map_err(|_| {
            Error::Invalid("partition decoder poisoned by an earlier failure".into())
        })?;
        match &p.data {
            PartData::Nothing { .. } => buf.fill(0),
            PartData::Partclone {
                pieces,
                header,
                bitmap,
                data_at,
            } => {
                let bs = u64::from(header.block_size);
                let mut done = 0usize;
                while done < buf.len() {
                    let at = off + done as u64;
                    let block = at / bs;
                    let within = (at % bs) as usize;
                    let n = (bs as usize - within).min(buf.len() - done);
                    let out = &mut buf[done..done + n];
                    if !bitmap.is_used(block) {
                        out.fill(0);
                    } else {
                        let idx = bitmap.rank(block);
                        let d = block_at(&mut guard, pieces, header, bitmap, *data_at, idx)?;
                        out.copy_from_slice(&d.block[within..within + n]);
                    }
                    done += n;
                }
                if let Some((at, bytes)) = &p.extra {
                    let end = off + buf.len() as u64;
                    let (s, e) = (off.max(*at), end.min(at + bytes.len() as u64));
                    if s < e {
                        buf[(s - off) as usize..(e - off) as usize]
                            .copy_from_slice(&bytes[(s - at) as usize..(e - at) as usize]);
                    }
                }
            }
            PartData::Raw { pieces } => {
                let restart = match guard.as_ref() {
                    Some(d) => d.have.unwrap_or(0) > off,
                    None => true,
                };
                if restart {
                    let (stream, pos) = pieces.open()?;
                    *guard = Some(Decoder {
                        stream,
                        pos,
                        blocks: None,
                        block: Vec::new(),
                        have: Some(0),
                    });
                }
                let Some(d) = guard.as_mut() else {
                    return Err(Error::Invalid("decoder missing".into()));
                };
                let mut skip = off - d.stream.pos;
                let mut scratch = vec![0u8; skip.min(1 << 20) as usize];
                while skip > 0 {
                    let n = skip.min(scratch.len() as u64) as usize;
                    d.stream
                        .fill(&mut scratch[..n], "dd image")
                        .map_err(|e| pieces.error(&d.pos, &e))?;
                    skip -= n as u64;
                }
                let r = d.stream.fill(buf, "dd image");
                if let Err(e) = r {
                    let err = pieces.error(&d.pos, &e);
                    *guard = None;
                    return Err(err);
                }
                d.have = Some(d.stream.pos);
            }
        }
        Ok(())
    }
}

/// Clonezilla keeps LBA 0 and the first EBR but not the rest of an extended partition's EBR
/// chain (it lets sfdisk write a new one from the dump). The chain is made here the same way,
/// by the table writer restores use: an EBR before each logical partition, linked in order.
/// Returns LBA 0 (its extended entry recomputed) and the EBR sectors.
fn ebr_chain(mbr: &Path, sf: &SfDump, disk: &str) -> Result<Vec<(u64, Vec<u8>)>> {
    let lba0 = read_small(mbr)?;
    let mut partitions = Vec::new();
    for p in &sf.parts {
        let name = p.device.trim_start_matches("/dev/");
        let Some(number) = part_number(disk, name) else {
            continue;
        };
        let kind = u8::from_str_radix(p.type_id.trim_start_matches("0x"), 16).map_err(|_| {
            Error::corrupt(
                mbr.display().to_string(),
                0,
                format!("{name}: type {:?} in the sfdisk dump", p.type_id),
            )
        })?;
        if matches!(kind, 0x05 | 0x0f | 0x85) {
            continue;
        }
        partitions.push(table::Partition {
            number,
            start: p.start * SECTOR,
            len: p.size * SECTOR,
            type_id: format!("{kind:#04x}"),
            type_name: String::new(),
            name: String::new(),
            guid: None,
            bootable: false,
            logical: number > 4,
        });
    }
    let t = table::PartitionTable {
        kind: table::TableKind::Mbr,
        sector_size: SECTOR,
        disk_id: None,
        partitions,
        metadata: ExtentList::new(),
        min_disk_size: 0,
    };
    let mut writes = table::mbr::rewrite(&lba0, SECTOR, &t, &[])?;
    // The saved LBA 0 stays when its extended entry starts at the first EBR made here (the
    // container then keeps its saved size); else the recomputed one is used.
    let ext_start = (0..4).find_map(|i| {
        let e = 446 + 16 * i;
        let kind = *lba0.get(e + 4)?;
        matches!(kind, 0x05 | 0x0f | 0x85)
            .then(|| lba0.get(e + 8..e + 12))
            .flatten()
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])) * SECTOR)
    });
    let first_ebr = writes.iter().map(|(at, _)| *at).filter(|&at| at > 0).min();
    if ext_start.is_some() && ext_start == first_ebr {
        for (at, bytes) in writes.iter_mut() {
            if *at == 0 {
                *bytes = lba0.clone();
            }
        }
    }
    Ok(writes)
}

/// The end of a partclone stream: nothing may follow the last checksum.
fn expect_end(s: &mut Stream) -> partclone::SResult<()> {
    let mut b = [0u8; 1];
    match s.fill(&mut b, "end") {
        Err(StreamError::Truncated { .. }) => Ok(()),
        Err(e) => Err(e),
        Ok(()) => Err(StreamError::Corrupt {
            offset: s.pos - 1,
            detail: "data after the last block".into(),
        }),
    }
}

/// Positions the partition's decoder on used block `idx` and returns it holding that block.
fn block_at<'a>(
    guard: &'a mut Option<Decoder>,
    pieces: &Pieces,
    header: &Header,
    bitmap: &Bitmap,
    data_at: u64,
    idx: u64,
) -> Result<&'a Decoder> {
    let need_restart = match guard.as_ref() {
        Some(d) => match d.have {
            Some(h) => h > idx,
            None => d.blocks.as_ref().is_none_or(|b| b.index() > idx),
        },
        None => true,
    };
    if need_restart {
        let (mut stream, pos) = pieces.open()?;
        let err = |e: StreamError| pieces.error(&pos, &e);
        let h = partclone::read_header(&mut stream).map_err(err)?;
        let map = partclone::read_bitmap(&mut stream, &h).map_err(err)?;
        if stream.pos != data_at || map.used() != bitmap.used() {
            return Err(Error::Invalid(format!(
                "{}: changed while being read",
                pieces.files[0].display()
            )));
        }
        *guard = Some(Decoder {
            stream,
            pos,
            blocks: Some(Blocks::new(header, bitmap)),
            block: vec![0u8; header.block_size as usize],
            have: None,
        });
    }
    let Some(d) = guard.as_mut() else {
        return Err(Error::Invalid("decoder missing".into()));
    };
    if d.have != Some(idx) {
        let Some(blocks) = d.blocks.as_mut() else {
            return Err(Error::Invalid("decoder without blocks".into()));
        };
        while blocks.index() <= idx {
            if let Err(e) = blocks.next(&mut d.stream, &mut d.block) {
                let err = pieces.error(&d.pos, &e);
                *guard = None;
                return Err(err);
            }
        }
        d.have = Some(idx);
    }
    match guard.as_ref() {
        Some(d) => Ok(d),
        None => Err(Error::Invalid("decoder missing".into())),
    }
}

fn fs_summary(name: &str, h: &Header) -> Option<FsSummary> {
    let fs = h.fs.to_ascii_uppercase();
    let kind = match fs.as_str() {
        "FAT12" => FsKind::Fat12,
        "FAT16" => FsKind::Fat16,
        "FAT32" => FsKind::Fat32,
        "NTFS" => FsKind::Ntfs,
        "EXT2" => FsKind::Ext2,
        "EXT3" => FsKind::Ext3,
        "EXT4" => FsKind::Ext4,
        // partclone.extfs names every ext; the file name says which.
        "EXTFS" => {
            if name.contains(".ext2-") {
                FsKind::Ext2
            } else if name.contains(".ext3-") {
                FsKind::Ext3
            } else {
                FsKind::Ext4
            }
        }
        _ => return None,
    };
    Some(FsSummary {
        kind,
        label: None,
        uuid: None,
        block_size: u64::from(h.block_size),
        size: h.total_blocks * u64::from(h.block_size),
    })
}

impl ReadAt for ClonezillaDisk {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.size) {
            return Err(Error::corrupt(
                self.dir.display().to_string(),
                offset,
                format!(
                    "read of {} bytes past the end of the {}-byte disk",
                    buf.len(),
                    self.size
                ),
            ));
        }
        let end = offset + buf.len() as u64;
        buf.fill(0);
        for (at, bytes) in &self.fixed {
            let (s, e) = (offset.max(*at), end.min(at + bytes.len() as u64));
            if s < e {
                buf[(s - offset) as usize..(e - offset) as usize]
                    .copy_from_slice(&bytes[(s - at) as usize..(e - at) as usize]);
            }
        }
        for (pi, p) in self.parts.iter().enumerate() {
            let (s, e) = (offset.max(p.start), end.min(p.start + p.len));
            if s < e {
                self.read_part(
                    pi,
                    &mut buf[(s - offset) as usize..(e - offset) as usize],
                    s - p.start,
                )?;
            }
        }
        Ok(())
    }
    fn size(&self) -> u64 {
        self.size
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sfdisk_dump_parses_and_bad_numbers_are_errors() {
        let text = "label: gpt\nlabel-id: 77B8BA33-538A-4784-A677-CE5DEFA5B34C\ndevice: /dev/sda\nunit: sectors\nfirst-lba: 34\nlast-lba: 327646\nsector-size: 512\n\n/dev/sda1 : start=        2048, size=       81920, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=3F87D4EF-38A6-478A-A43E-5B495A28D356, name=\"ESP\"\n/dev/sda2 : start=       83968, size=      131072, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n";
        let d = parse_sfdisk(text, "sda-pt.sf").unwrap();
        assert_eq!(d.label, "gpt");
        assert_eq!(d.last_lba, Some(327646));
        assert_eq!(d.parts.len(), 2);
        assert_eq!(d.parts[1].start, 83968);
        assert_eq!(d.parts[1].size, 131072);
        assert_eq!(part_number("sda", "sda2"), Some(2));
        assert_eq!(part_number("nvme0n1", "nvme0n1p3"), Some(3));
        let huge = "label: dos\n/dev/sda1 : start=18446744073709551615, size=2, type=83\n";
        assert!(parse_sfdisk(huge, "x").is_err());
        let nan = "label: dos\n/dev/sda1 : start=abc, size=2, type=83\n";
        assert!(parse_sfdisk(nan, "x").is_err());
        assert!(parse_sfdisk("nothing here\n", "x").is_err());
    }
}
