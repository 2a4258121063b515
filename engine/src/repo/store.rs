//! Where repository files live. The repository speaks only in relative paths ("packs/ab/…")
//! through [`Store`], so each kind of location (a directory, HTTP/WebDAV, SMB and NFS shares)
//! is one file without touching the format code.

use crate::error::Result;

pub trait Store: Send + Sync {
    /// A description for messages ("/mnt/usb/images").
    fn location(&self) -> String;
    fn read(&self, path: &str) -> Result<Vec<u8>>;
    /// [`Store::read`] into `buf` (replacing its contents), for callers that reuse one buffer
    /// for many files.
    fn read_into(&self, path: &str, buf: &mut Vec<u8>) -> Result<()> {
        *buf = self.read(path)?;
        Ok(())
    }
    /// `len` bytes at `offset` of a file.
    fn read_at(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>>;
    /// [`Store::read_at`] into `buf` (replacing its contents), for callers that reuse one
    /// buffer for many reads.
    fn read_at_into(&self, path: &str, offset: u64, len: usize, buf: &mut Vec<u8>) -> Result<()> {
        *buf = self.read_at(path, offset, len)?;
        Ok(())
    }
    /// A hint that `len` bytes at `offset` of a file (`len` 0: the whole file) will be read
    /// soon, so the location can start fetching them while earlier data is being decoded.
    /// Never fails: a hint that cannot be given is simply not given.
    fn prefetch(&self, _path: &str, _offset: u64, _len: u64) {}
    fn size(&self, path: &str) -> Result<u64>;
    fn exists(&self, path: &str) -> Result<bool>;
    /// Names (not paths) of the entries of a directory; empty if it does not exist.
    fn list(&self, dir: &str) -> Result<Vec<String>>;
    /// Writes a whole file so that it appears complete or not at all (temporary file, flush,
    /// rename). Never replaces an existing file: `Ok(false)` when it already exists.
    fn put_new(&self, path: &str, data: &[u8]) -> Result<bool>;
    fn remove(&self, path: &str) -> Result<()>;
    /// How many reads a restore or verify should keep in flight: 1 for a local disk (one
    /// reader streams best), more for a network location where each request waits a round trip.
    fn parallel_reads(&self) -> usize {
        1
    }
    /// Fails, with a message saying why and what to do, when this location cannot be written.
    /// A save checks it before reading the disk.
    fn check_writable(&self) -> Result<()> {
        Ok(())
    }
    /// A network location: its server may vanish mid-save, so work is made durable in
    /// smaller steps.
    fn remote(&self) -> bool {
        false
    }
    /// Where this location tells what happens on the way that the user should know (a
    /// server that stopped answering and is being retried, and when it answers again), for
    /// a job to listen to while it runs. None for a location that has nothing to tell.
    fn notices(&self) -> Option<&crate::events::Notices> {
        None
    }
    /// The directory on this machine the files are in, when they are in one (a local
    /// repository, or a mounted share): what the interlocks compare a target with.
    fn local_dir(&self) -> Option<std::path::PathBuf> {
        None
    }
    /// How the location is reached, when that is worth telling ("SMB 3.1.1", "NFS 4.2").
    fn connection(&self) -> Option<String> {
        None
    }
}
