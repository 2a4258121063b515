//! Filesystem resizing for restores onto disks of another size: per filesystem, whether and
//! how far it can shrink or grow (decided from the image's facts alone, at plan time), and the
//! resize itself with the real tool (resize2fs, ntfsresize) or, for FAT, our own resizer.
//!
//! Must not: decide partition layouts (the caller gives the new size), touch anything but the
//! one filesystem it is given, or run a tool on a source: `resize` writes, so it is only ever
//! called on the restore's target copy. It never forces a tool past its own safety checks.
//!
//! Headroom rule (what `min_size` adds to the bytes in use), measured on this machine
//! (e2fsprogs 1.47.0, ntfs-3g 2022.10.3); see engine/tests/resize.rs for the checks that pin it:
//! - every filesystem: max(10 % of used, 64 MiB), so a restored system can still boot, log
//!   and update, and the tool's own block moves have room;
//! - ext2/3/4: max(90 % of used, 64 MiB) instead. resize2fs refuses (without `-f`) any size
//!   below its own estimate (`resize2fs -P`), and with flex_bg that estimate is far above the
//!   data: 1126 MiB in use on a 2 GiB ext4 gave -P = 2025 MiB (1.80×); 2660 of 8 GiB gave
//!   4469 (1.68×); 280 of 512 MiB gave 411 (1.46×); 41 of 64 MiB gave 64 (1.56×); nearly
//!   empty ones gave -P = used. Twenty cases from 64 MiB to 32 GiB, 0–90 % full, all stay
//!   below used × 1.9 + 0; the image holds no group counts to reproduce resize2fs's formula;
//! - NTFS: the general rule; `ntfsresize --info` ("You might resize at") was at or below the
//!   space in use in all nine cases tried (128 MiB–2 GiB, 0–70 % full: e.g. 1488 MB in use,
//!   1418 MiB minimum);
//! - FAT: the general rule, and never below the size that keeps the cluster count in its FAT
//!   type's range (FAT16 4085..=65524, FAT32 ≥ 65525 clusters).
//!
//! The result is rounded up to a whole MiB and capped at the filesystem's current size
//! (keeping a filesystem at its size needs no resize at all).

pub mod ext;
pub mod fat;
pub mod ntfs;

use crate::error::{Error, Result};
use crate::fs::FsKind;
use crate::plan::{FsSummary, Method};
use std::path::Path;
use std::process::{Command, Stdio};

const MIB: u64 = 1 << 20;
/// The least headroom given to any filesystem.
pub const MIN_HEADROOM: u64 = 64 * MIB;

/// What the plan needs to know about resizing one filesystem, decided from the image's facts
/// (no device needed: at plan time a restore has only the manifest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ability {
    /// What does the resize, shown in the plan.
    pub tool: &'static str,
    /// Smallest size allowed (used + headroom, rounded up to 1 MiB); None = cannot shrink.
    pub min_size: Option<u64>,
    /// Why it cannot shrink, when it cannot.
    pub no_shrink: Option<String>,
    /// Why it cannot grow; None = can grow (up to `max_size`).
    pub no_grow: Option<String>,
    /// Largest size the filesystem can take, if it has a limit.
    pub max_size: Option<u64>,
}

impl Ability {
    fn refused(tool: &'static str, why: String) -> Ability {
        Ability {
            tool,
            min_size: None,
            no_shrink: Some(why.clone()),
            no_grow: Some(why),
            max_size: None,
        }
    }
}

/// The headroom added to `used` bytes for a filesystem of `kind` (see the module notes).
pub fn headroom(kind: FsKind, used: u64) -> u64 {
    let share = match kind {
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => used / 10 * 9,
        _ => used / 10,
    };
    share.max(MIN_HEADROOM)
}

/// used + headroom, rounded up to a MiB.
fn with_headroom(kind: FsKind, used: u64) -> u64 {
    used.saturating_add(headroom(kind, used))
        .div_ceil(MIB)
        .saturating_mul(MIB)
}

/// See [`Ability`]. `used_bytes` is what the filesystem holds (its used map's total).
pub fn ability(fs: Option<&FsSummary>, used_bytes: u64, method: &Method) -> Ability {
    ability_with_boot(fs, used_bytes, method, None)
}

/// [`ability`], refined by the filesystem's first sector when the caller has it (it is in
/// every image: the boot sector is always in the used map). Only FAT needs it: how far a FAT
/// volume can grow depends on the size of its allocation table, which the manifest's facts do
/// not hold. Without it a FAT volume is not offered to grow.
pub fn ability_with_boot(
    fs: Option<&FsSummary>,
    used_bytes: u64,
    method: &Method,
    boot: Option<&[u8]>,
) -> Ability {
    let tool = fs.map_or("none", |f| tool_for(f.kind));
    if let Method::Raw { reason } = method {
        return Ability::refused(tool, format!("not resizable: {reason}"));
    }
    let Some(fs) = fs else {
        return Ability::refused(tool, "filesystem not recognised: kept at its size".into());
    };
    let estimate = with_headroom(fs.kind, used_bytes);
    match fs.kind {
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => {
            let mut a = shrinkable(tool, fs, estimate);
            // Without the 64bit feature (which the facts do not record) an ext filesystem
            // counts at most 2^32 blocks; assume it is absent rather than promise too much.
            a.max_size = Some(fs.block_size.saturating_mul(1 << 32));
            a
        }
        FsKind::Ntfs => shrinkable(tool, fs, estimate),
        FsKind::Fat12 => Ability::refused(
            tool,
            "FAT12 is not resized (floppy-sized volumes): kept at its size".into(),
        ),
        FsKind::Fat16 | FsKind::Fat32 => fat::ability(fs, estimate, boot),
    }
}

/// Why this process cannot resize with `tool` (the [`Ability::tool`] a plan names), or None
/// when it can: every resize and check runs on a loop device over the partition's place, which
/// needs root, and the real tools must be installed (the live system ships them).
pub fn unavailable(tool: &str) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("resizing a filesystem needs root (it works on a loop device)".into());
    }
    let programs: &[&str] = match tool {
        "resize2fs" => &["resize2fs", "e2fsck"],
        "ntfsresize" => &["ntfsresize", "ntfsfix"],
        _ => &[],
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| !std::env::split_paths(&path).any(|d| is_executable(&d.join(p))))
        .collect();
    (!missing.is_empty()).then(|| format!("{} not installed here", missing.join(" and ")))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn tool_for(kind: FsKind) -> &'static str {
    match kind {
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => "resize2fs",
        FsKind::Ntfs => "ntfsresize",
        FsKind::Fat12 | FsKind::Fat16 | FsKind::Fat32 => "wraith (FAT)",
    }
}

/// A filesystem that can shrink to `estimate` (capped at its size) and grow without a limit.
fn shrinkable(tool: &'static str, fs: &FsSummary, estimate: u64) -> Ability {
    let no_shrink = (estimate >= fs.size).then(|| {
        format!(
            "its data and headroom need {} of its {}",
            crate::human_bytes(estimate),
            crate::human_bytes(fs.size)
        )
    });
    Ability {
        tool,
        min_size: Some(estimate.min(fs.size)),
        no_shrink,
        no_grow: None,
        max_size: None,
    }
}

/// Resizes the filesystem on `dev` (a block device or a regular file holding exactly the
/// filesystem at offset 0, at least max(old, new) bytes long) from its current size to
/// `new_size` bytes, with the real tool. Checks first; errors name the tool, its exit code and
/// its last stderr lines. `new_size` is rounded down to the filesystem's allocation unit
/// where the tool needs that (ext blocks, NTFS clusters).
pub fn resize(dev: &Path, fs: &FsSummary, new_size: u64, log: &mut dyn FnMut(&str)) -> Result<()> {
    let len = device_len(dev)?;
    if len < new_size.max(fs.size) {
        return Err(Error::Invalid(format!(
            "{} holds {len} bytes; resizing a {}-byte filesystem to {new_size} needs the larger",
            dev.display(),
            fs.size
        )));
    }
    match fs.kind {
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => ext::resize(dev, fs, new_size, log),
        FsKind::Ntfs => ntfs::resize(dev, fs, new_size, log),
        FsKind::Fat16 | FsKind::Fat32 => fat::resize(dev, new_size, log),
        FsKind::Fat12 => Err(Error::Unsupported("resizing FAT12".into())),
    }
}

fn device_len(dev: &Path) -> Result<u64> {
    let d = crate::device::Device::open_read(dev)?;
    Ok(d.identity.size)
}

/// Runs `tool` with `args` (and `input` on stdin), logging the command line. A non-zero exit
/// is an error naming the tool, its exit code and the last lines it printed on stderr (or
/// stdout, where tools such as ntfsresize report their errors).
/// Checks the filesystem on `dev` read-only with its own checker (`e2fsck -fn`, `ntfsfix -n`,
/// `fsck.fat -n`); where the live system has no FAT checker, our own reader must map it.
pub fn check(dev: &Path, fs: &FsSummary) -> Result<()> {
    let d = dev
        .to_str()
        .ok_or_else(|| Error::Invalid(format!("{}: not a UTF-8 path", dev.display())))?;
    let mut quiet = |_: &str| {};
    match fs.kind {
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => {
            run_tool(dev, "e2fsck", &["-fn", d], None, &mut quiet).map(|_| ())
        }
        FsKind::Ntfs => run_tool(dev, "ntfsfix", &["-n", d], None, &mut quiet).map(|_| ()),
        FsKind::Fat12 | FsKind::Fat16 | FsKind::Fat32 => {
            match run_tool(dev, "fsck.fat", &["-n", d], None, &mut quiet) {
                Ok(_) => Ok(()),
                Err(e) if e.to_string().contains("cannot run") => {
                    let d = crate::device::Device::open_read(dev)?;
                    crate::fs::probe(&d).map(|_| ())
                }
                Err(e) => Err(e),
            }
        }
    }
}

pub(crate) fn run_tool(
    dev: &Path,
    tool: &str,
    args: &[&str],
    input: Option<&str>,
    log: &mut dyn FnMut(&str),
) -> Result<String> {
    log(&format!("{tool} {}", args.join(" ")));
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Messages are parsed in places; keep them in English.
        .env("LC_ALL", "C")
        .spawn()
        .map_err(|e| {
            Error::io(
                dev,
                std::io::Error::other(format!("cannot run {tool}: {e}")),
            )
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        // A tool that does not ask exits without reading: a broken pipe here is not an error.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(dev, std::io::Error::other(format!("{tool}: {e}"))))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = if stderr.trim().is_empty() {
        stdout.as_str()
    } else {
        &stderr
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(4)..].join(" | ");
    let code = out
        .status
        .code()
        .map_or_else(|| "a signal".to_string(), |c| c.to_string());
    Err(Error::io(
        dev,
        std::io::Error::other(format!("{tool} exited with {code}: {tail}")),
    ))
}
