//! A repository in a directory of a mounted filesystem: a USB drive, a local disk, or an
//! SMB/NFS share mounted by the system. Files are written to `tmp/` first, flushed, then
//! renamed into place, and the directory is flushed, so a crash or a pulled cable leaves either
//! the old state or the new one.

use super::store::Store;
use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct LocalDir {
    root: PathBuf,
    /// Large files (packs) are written around the page cache: see [`crate::direct`]. Off for
    /// network shares, whose speed is the network's and whose direct I/O support varies.
    direct: bool,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl LocalDir {
    pub fn new(root: &Path) -> Self {
        LocalDir {
            root: root.to_path_buf(),
            direct: true,
        }
    }
    /// A directory on a mounted network share: every write goes through the page cache.
    pub fn cached(root: &Path) -> Self {
        LocalDir {
            root: root.to_path_buf(),
            direct: false,
        }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

fn sync_dir(dir: &Path) {
    // Some filesystems (vfat over some stacks, SMB) refuse fsync on a directory; the rename is
    // still ordered after the file's own fsync, which is what protects the data.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Store for LocalDir {
    fn location(&self) -> String {
        self.root.display().to_string()
    }
    fn local_dir(&self) -> Option<std::path::PathBuf> {
        Some(self.root.clone())
    }
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let p = self.p(path);
        fs::read(&p).map_err(|e| not_found_or_io(&p, e))
    }
    fn read_into(&self, path: &str, buf: &mut Vec<u8>) -> Result<()> {
        let p = self.p(path);
        if self.direct {
            // Whole packs (verify) are read around the page cache: filling the cache costs
            // more CPU than the read itself (here 2.6 s of sys time per 2 GB buffered, 0.13 s
            // direct), and a verify never reads a pack twice.
            match crate::direct::read_file(&p, buf) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(not_found_or_io(&p, e)),
            }
        }
        let f = File::open(&p).map_err(|e| not_found_or_io(&p, e))?;
        let size = f.metadata().map_err(|e| Error::io(&p, e))?.len();
        let len = usize::try_from(size)
            .map_err(|_| Error::Invalid(format!("{}: too large", p.display())))?;
        // Only newly grown bytes are zeroed: the read below overwrites all of them anyway.
        buf.truncate(len);
        buf.resize(len, 0);
        f.read_exact_at(buf, 0).map_err(|e| Error::io(&p, e))
    }
    fn read_at(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_at_into(path, offset, len, &mut buf)?;
        Ok(buf)
    }
    fn read_at_into(&self, path: &str, offset: u64, len: usize, buf: &mut Vec<u8>) -> Result<()> {
        let p = self.p(path);
        let f = File::open(&p).map_err(|e| not_found_or_io(&p, e))?;
        let size = f.metadata().map_err(|e| Error::io(&p, e))?.len();
        if offset.checked_add(len as u64).is_none_or(|end| end > size) {
            return Err(Error::corrupt(
                p.display().to_string(),
                offset,
                format!("file is {size} bytes, {len} bytes wanted at offset {offset} (truncated?)"),
            ));
        }
        // Chunks (restore) are read around the page cache like whole packs (see read_into).
        if self.direct
            && crate::direct::read_range(&p, offset, len, buf).map_err(|e| Error::io(&p, e))?
        {
            return Ok(());
        }
        // Only newly grown bytes are zeroed: the read below overwrites all of them anyway.
        buf.truncate(len);
        buf.resize(len, 0);
        f.read_exact_at(buf, offset).map_err(|e| Error::io(&p, e))
    }
    fn prefetch(&self, path: &str, offset: u64, len: u64) {
        use std::os::fd::AsRawFd;
        if self.direct {
            // Large reads go around the cache (read_into, read_at_into): filling it ahead
            // would be wasted.
            return;
        }
        // Readahead of one large read keeps only a few MiB in flight; this asks the kernel to
        // fetch the whole range now, while the caller still works on earlier data.
        if let Ok(f) = File::open(self.p(path)) {
            // SAFETY: advice on an open descriptor; no memory is passed.
            unsafe {
                libc::posix_fadvise(
                    f.as_raw_fd(),
                    offset as libc::off_t,
                    len as libc::off_t,
                    libc::POSIX_FADV_WILLNEED,
                )
            };
        }
    }
    fn size(&self, path: &str) -> Result<u64> {
        let p = self.p(path);
        fs::metadata(&p)
            .map(|m| m.len())
            .map_err(|e| not_found_or_io(&p, e))
    }
    fn exists(&self, path: &str) -> Result<bool> {
        Ok(self.p(path).exists())
    }
    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let p = self.p(dir);
        let rd = match fs::read_dir(&p) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&p, e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&p, e))?;
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
        out.sort();
        Ok(out)
    }
    fn put_new(&self, path: &str, data: &[u8]) -> Result<bool> {
        let dest = self.p(path);
        if dest.exists() {
            return Ok(false);
        }
        let tmpdir = self.p("tmp");
        fs::create_dir_all(&tmpdir).map_err(|e| Error::io(&tmpdir, e))?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let tmp = tmpdir.join(format!(
            "{}-{}.tmp",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> std::io::Result<()> {
            if self.direct && data.len() >= crate::direct::MIN_DIRECT {
                // None: the filesystem refuses O_DIRECT, written through the cache below.
                if let Some(f) = crate::direct::create_new(&tmp)? {
                    crate::direct::write_new_file(&f, data)?;
                    return f.sync_all();
                }
            }
            let mut f = File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(full_or_io(&dest, e));
        }
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&dest, e));
        }
        if let Some(parent) = dest.parent() {
            sync_dir(parent);
        }
        Ok(true)
    }
    fn remove(&self, path: &str) -> Result<()> {
        let p = self.p(path);
        fs::remove_file(&p).map_err(|e| Error::io(&p, e))
    }
}

fn not_found_or_io(p: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound {
            what: p.display().to_string(),
        }
    } else {
        Error::io(p, e)
    }
}

fn full_or_io(p: &Path, e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
        Error::io(
            p,
            std::io::Error::new(e.kind(), "the repository's drive is full"),
        )
    } else {
        Error::io(p, e)
    }
}
