//! Running the real external tools, and sparse-aware byte copying between image files.

use crate::Result;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every external program the kit calls, with the Debian package that provides it.
pub const TOOLS: &[(&str, &str)] = &[
    ("sfdisk", "fdisk"),
    ("mkfs.ext4", "e2fsprogs"),
    ("mkfs.ext3", "e2fsprogs"),
    ("mkfs.ext2", "e2fsprogs"),
    ("debugfs", "e2fsprogs"),
    ("e2fsck", "e2fsprogs"),
    ("dumpe2fs", "e2fsprogs"),
    ("mkfs.vfat", "dosfstools"),
    ("fsck.vfat", "dosfstools"),
    ("mkfs.exfat", "exfatprogs"),
    ("mcopy", "mtools"),
    ("mdel", "mtools"),
    ("mdir", "mtools"),
    ("mtype", "mtools"),
    ("mkntfs", "ntfs-3g"),
    ("ntfscp", "ntfs-3g"),
    ("ntfscat", "ntfs-3g"),
    ("ntfsls", "ntfs-3g"),
    ("ntfsfix", "ntfs-3g"),
    ("ntfsinfo", "ntfs-3g"),
    ("ntfsfallocate", "ntfs-3g"),
    ("ntfstruncate", "ntfs-3g"),
    ("mkfs.xfs", "xfsprogs"),
];

/// Finds a program on PATH, falling back to the sbin directories: on Debian a non-root user's
/// PATH lacks /usr/sbin, where sfdisk, mkfs.* and e2fsck live, yet they work fine on files.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Panics with an actionable message when a tool is missing, so a test fails with
/// "missing tool X: run ./build.sh deps" rather than an obscure spawn error.
pub fn require_tools() {
    for (name, pkg) in TOOLS {
        if find_tool(name).is_none() {
            panic!("missing tool {name} (Debian package {pkg}): run ./build.sh deps");
        }
    }
}

/// A Command for `name`, resolved as in [`find_tool`], with an environment that keeps tool
/// behaviour independent of the user's config (mtools reads ~/.mtoolsrc and refuses images
/// whose geometry it dislikes unless told to skip the check).
pub fn tool(name: &str) -> Command {
    let path = find_tool(name).unwrap_or_else(|| PathBuf::from(name));
    let mut c = Command::new(path);
    c.env("MTOOLS_SKIP_CHECK", "1")
        .env("MTOOLSRC", "/dev/null")
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    c
}

/// Runs a command; on spawn failure or non-zero exit the error carries the command line and
/// all of its output. Returns stdout.
pub fn run(cmd: &mut Command) -> Result<String> {
    run_with_stdin(cmd, None)
}

pub fn run_with_stdin(cmd: &mut Command, input: Option<&str>) -> Result<String> {
    let desc = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {desc}: {e} (missing tool? run ./build.sh deps)"))?;
    if let Some(text) = input {
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes())?;
        }
    }
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{desc} failed ({}):\n{stdout}{stderr}", out.status).into());
    }
    Ok(stdout)
}

/// Copy unit. 64 KiB is large enough to be quick and small enough that holes in sparse
/// sources are preserved at a useful granularity.
pub const BLOCK: usize = 64 * 1024;

fn read_full_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], offset + done as u64)? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

/// Bytes of the hole that starts at `offset` in `f` (0 at data, or where holes cannot be
/// found; past the end of the file everything reads as a hole).
fn hole_len(f: &File, offset: u64) -> u64 {
    use std::os::fd::AsRawFd;
    let Ok(off) = libc::off_t::try_from(offset) else {
        return 0;
    };
    // SAFETY: lseek on a descriptor we own; it only moves that descriptor's offset, which the
    // positioned reads and writes here never use.
    let next = unsafe { libc::lseek(f.as_raw_fd(), off, libc::SEEK_DATA) };
    if next >= 0 {
        return (next as u64).saturating_sub(offset);
    }
    if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO) {
        u64::MAX // no data at or after `offset`
    } else {
        0
    }
}

/// Copies `len` bytes of `src` starting at `src_off` into `dst` at `dst_off`, writing only
/// 64 KiB blocks whose content differs from what `dst` already holds. Against a fresh sparse
/// destination that means all-zero blocks are skipped (the result stays sparse); against an
/// existing image it is a correct in-place update that touches only changed blocks.
pub fn copy_range(src: &File, src_off: u64, len: u64, dst: &File, dst_off: u64) -> Result<()> {
    let mut a = vec![0u8; BLOCK];
    let mut b = vec![0u8; BLOCK];
    let mut pos = 0u64;
    while pos < len {
        // A hole in the source over a hole in the destination: nothing to read or write.
        // Skipping it whole keeps multi-GiB sparse fixtures cheap to copy.
        let hole = hole_len(src, src_off + pos).min(hole_len(dst, dst_off + pos));
        if hole >= BLOCK as u64 {
            pos += (hole - hole % BLOCK as u64).min(len - pos);
            continue;
        }
        let n = (len - pos).min(BLOCK as u64) as usize;
        let got = read_full_at(src, &mut a[..n], src_off + pos)?;
        a[got..n].fill(0);
        let have = read_full_at(dst, &mut b[..n], dst_off + pos)?;
        b[have..n].fill(0);
        if a[..n] != b[..n] {
            dst.write_all_at(&a[..n], dst_off + pos)?;
        }
        pos += n as u64;
    }
    Ok(())
}

/// Copies `len` bytes at `start` of `disk` into a new sparse temporary file.
pub fn extract(disk: &Path, start: u64, len: u64) -> Result<tempfile::NamedTempFile> {
    let src = File::open(disk).map_err(|e| format!("open {}: {e}", disk.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("wraith-part-")
        .suffix(".img")
        .tempfile()?;
    tmp.as_file().set_len(len)?;
    copy_range(&src, start, len, tmp.as_file(), 0)?;
    Ok(tmp)
}

/// Writes a whole partition file back into `disk` at `start`, touching only changed blocks.
pub fn write_back(disk: &Path, start: u64, part_file: &Path) -> Result<()> {
    let src = File::open(part_file)?;
    let len = src.metadata()?.len();
    let dst = OpenOptions::new().write(true).read(true).open(disk)?;
    copy_range(&src, 0, len, &dst, start)?;
    dst.sync_all()?;
    Ok(())
}

/// Reads `len` bytes at `offset` (used by tests and by the MBR boot-code writer).
pub fn read_at(path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut v = vec![0u8; len];
    f.read_exact(&mut v)?;
    Ok(v)
}

pub fn write_at(path: &Path, offset: u64, data: &[u8]) -> Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.write_all_at(data, offset)?;
    Ok(())
}

/// Every file below `dir`, recursively (a missing directory has none).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}
