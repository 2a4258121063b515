//! A read-only FUSE file server of our own: it mounts a directory holding one regular file whose
//! bytes are a [`ReadAt`] (a saved image read lazily), so that loop devices can be laid over
//! partition ranges of that file on a kernel without NBD. It speaks the kernel's FUSE protocol
//! on /dev/fuse itself (no libfuse, no fusermount: the live binary is static and runs as root),
//! answering only what a read-only single-file tree needs.
//!
//! Must not: write anything anywhere (every change is refused with EROFS), trust a request's
//! lengths beyond the protocol's bounds, print (read failures go to the caller's notice
//! callback), or leave a mount or a thread behind once dropped. Nothing here keeps a killed
//! process's mount alive: the kernel then leaves a dead mount that `umount2(MNT_DETACH)` removes.

use crate::device::ReadAt;
use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the FUSE server tells the user interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FuseNotice {
    /// The reader failed for `len` bytes at `offset` of the file: the reader of the file got
    /// EIO for that request; other ranges are still served.
    ReadFailed {
        offset: u64,
        len: u64,
        error: String,
    },
}

/// Workers reading the same /dev/fuse descriptor, so a loop device's readahead requests are
/// served in parallel.
const WORKERS: usize = 4;
/// The largest READ answered (also the mount's max_read and the readahead window): large
/// requests keep the per-request round trip small against the bytes moved.
const MAX_READ: u32 = 1 << 20;
/// Nothing is ever written; the kernel still wants a value and sizes its checks on it.
const MAX_WRITE: u32 = 4096;
/// Requests other than WRITE are small (a name, a few fields); the kernel refuses a read of
/// /dev/fuse with a buffer under 8 KiB or under max_write plus headers, and answers E2BIG
/// itself for a request that would not fit.
const REQUEST_BUF: usize = 64 * 1024 + 4096;
/// The protocol minor we speak: every structure used here has its present size since 7.23,
/// and max_pages arrived in 7.28.
const OUR_MINOR: u32 = 31;
const OLDEST_MINOR: u32 = 23;
/// The image never changes while mounted: the kernel may keep names and attributes this long.
const VALID_SECS: u64 = 3600;

/// `f_type` of a FUSE filesystem in statfs.
const FUSE_SUPER_MAGIC: libc::__fsword_t = 0x6573_5546;

const ROOT_ID: u64 = 1;
const FILE_ID: u64 = 2;

const IN_HEADER: usize = 40;
const OUT_HEADER: usize = 16;

// Opcodes of <linux/fuse.h>.
const LOOKUP: u32 = 1;
const FORGET: u32 = 2;
const GETATTR: u32 = 3;
const SETATTR: u32 = 4;
const SYMLINK: u32 = 6;
const MKNOD: u32 = 8;
const MKDIR: u32 = 9;
const UNLINK: u32 = 10;
const RMDIR: u32 = 11;
const RENAME: u32 = 12;
const LINK: u32 = 13;
const OPEN: u32 = 14;
const READ: u32 = 15;
const WRITE: u32 = 16;
const STATFS: u32 = 17;
const RELEASE: u32 = 18;
const FSYNC: u32 = 20;
const SETXATTR: u32 = 21;
const GETXATTR: u32 = 22;
const LISTXATTR: u32 = 23;
const REMOVEXATTR: u32 = 24;
const FLUSH: u32 = 25;
const INIT: u32 = 26;
const OPENDIR: u32 = 27;
const READDIR: u32 = 28;
const RELEASEDIR: u32 = 29;
const FSYNCDIR: u32 = 30;
const ACCESS: u32 = 34;
const CREATE: u32 = 35;
const INTERRUPT: u32 = 36;
const DESTROY: u32 = 38;
const BATCH_FORGET: u32 = 42;
const FALLOCATE: u32 = 43;
const RENAME2: u32 = 45;
const COPY_FILE_RANGE: u32 = 47;
const TMPFILE: u32 = 51;

// INIT flags.
const ASYNC_READ: u32 = 1 << 0;
const MAX_PAGES: u32 = 1 << 22;

const FOPEN_KEEP_CACHE: u32 = 1 << 1;
const DT_DIR: u32 = 4;
const DT_REG: u32 = 8;

/// A mounted single-file read-only filesystem; unmounted, its threads stopped and joined, when
/// dropped.
pub struct FuseFile {
    point: PathBuf,
    name: String,
    /// The mount's device number: Drop unmounts `point` only while it is still this mount.
    dev: Option<u64>,
    /// Readable once the workers must stop.
    stop: Arc<OwnedFd>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for FuseFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FuseFile")
            .field("point", &self.point)
            .field("name", &self.name)
            .finish()
    }
}

/// What every worker shares. Only the workers hold the /dev/fuse descriptor, so it closes (and
/// the kernel aborts the connection) as soon as the last of them ends, whatever the reason.
struct Server {
    dev: OwnedFd,
    stop: Arc<OwnedFd>,
    name: Vec<u8>,
    size: u64,
    time: u64,
    uid: u32,
    gid: u32,
    disk: Arc<dyn ReadAt + Send + Sync>,
    notify: Arc<dyn Fn(FuseNotice) + Send + Sync>,
    /// Told the outcome of INIT, once, so that `mount` returns with the filesystem usable.
    init_done: Mutex<Option<mpsc::Sender<std::result::Result<(), String>>>>,
}

impl FuseFile {
    /// Mounts at `point` (an existing directory) a read-only filesystem whose root holds one
    /// regular file `name` (mode 0444, size = disk.size()), its bytes read through `disk`.
    /// Served by worker threads; returns once the mount is in place.
    pub fn mount(
        point: &Path,
        name: &str,
        disk: Arc<dyn ReadAt + Send + Sync>,
        notify: Arc<dyn Fn(FuseNotice) + Send + Sync>,
    ) -> Result<FuseFile> {
        let at = |e: std::io::Error| Error::io(point, e);
        let bad_name = name.is_empty() || name.len() > 255 || name == "." || name == "..";
        if bad_name || name.contains(['/', '\0']) {
            return Err(Error::Invalid(format!(
                "{name:?} cannot be the name of the file served at {}",
                point.display()
            )));
        }
        // Close-on-exec: a child (mount, a tool) holding the descriptor would keep the
        // connection alive after we are gone. Non-blocking: workers wait in poll, where the
        // stop event can reach them.
        // SAFETY: a NUL-terminated path; the result is checked.
        let raw = unsafe {
            libc::open(
                c"/dev/fuse".as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if raw < 0 {
            return Err(Error::io("/dev/fuse", std::io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a descriptor we just opened and own.
        let dev = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: plain syscall; the result is checked.
        let ev = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if ev < 0 {
            return Err(at(std::io::Error::last_os_error()));
        }
        // SAFETY: `ev` is a descriptor we just opened and own.
        let stop = Arc::new(unsafe { OwnedFd::from_raw_fd(ev) });

        // SAFETY: plain syscalls without arguments.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let opts = format!(
            "fd={},rootmode=40000,user_id={uid},group_id={gid},allow_other,default_permissions,\
             max_read={MAX_READ}",
            dev.as_raw_fd()
        );
        let c = |s: &[u8]| CString::new(s).map_err(|e| Error::Invalid(e.to_string()));
        let target = c(point.as_os_str().as_encoded_bytes())?;
        let opts = c(opts.as_bytes())?;
        // SAFETY: valid C strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                c"wraith".as_ptr(),
                target.as_ptr(),
                c"fuse".as_ptr(),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
                opts.as_ptr().cast(),
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(Error::io(
                point,
                std::io::Error::new(e.kind(), format!("mounting the FUSE file server: {e}")),
            ));
        }

        let (tx, rx) = mpsc::channel();
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let server = Arc::new(Server {
            dev,
            stop: stop.clone(),
            name: name.as_bytes().to_vec(),
            size: disk.size(),
            time,
            uid,
            gid,
            disk,
            notify,
            init_done: Mutex::new(Some(tx)),
        });
        let mut file = FuseFile {
            point: point.to_path_buf(),
            name: name.to_string(),
            dev: None,
            stop,
            threads: Vec::new(),
        };
        for i in 0..WORKERS {
            let s = server.clone();
            let t = std::thread::Builder::new()
                .name(format!("wraith-fuse-{i}"))
                .spawn(move || s.serve());
            match t {
                Ok(t) => file.threads.push(t),
                // Dropping `file` unmounts and stops the threads already started.
                Err(e) => return Err(at(e)),
            }
        }
        drop(server);
        let failed = |why: String| {
            Error::io(
                point,
                std::io::Error::other(format!("the FUSE file server did not start: {why}")),
            )
        };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {
                use std::os::unix::fs::MetadataExt;
                file.dev = std::fs::metadata(point).ok().map(|m| m.dev());
                Ok(file)
            }
            Ok(Err(why)) => Err(failed(why)),
            Err(_) => Err(failed("the kernel sent no INIT request".into())),
        }
    }

    /// `point/name`.
    pub fn file(&self) -> PathBuf {
        self.point.join(&self.name)
    }
}

impl Drop for FuseFile {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        if let Ok(p) = CString::new(self.point.as_os_str().as_encoded_bytes()) {
            // Something else mounted there since ours went (unmounted by hand) is not ours to
            // remove. Device numbers of such filesystems are reused at once, so the kind is
            // checked too; a dead FUSE mount answers neither.
            let mut fs = std::mem::MaybeUninit::<libc::statfs>::zeroed();
            // SAFETY: a valid C string and room for one statfs.
            let kind = (unsafe { libc::statfs(p.as_ptr(), fs.as_mut_ptr()) } == 0)
                // SAFETY: statfs succeeded and filled it.
                .then(|| unsafe { fs.assume_init() }.f_type);
            let now = std::fs::metadata(&self.point).ok().map(|m| m.dev());
            let ours = match (self.dev, now, kind) {
                (None, _, _) | (_, None, _) | (_, _, None) => true,
                (d, n, Some(k)) => d == n && k == FUSE_SUPER_MAGIC,
            };
            // Lazy: a mount still in use (a loop device over the file) is detached at once
            // and goes when its last user does; once the workers stop, such a user reads EIO.
            if ours {
                // SAFETY: a valid C string. Failing means it is already gone: nothing to do.
                unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let one = 1u64.to_ne_bytes();
        // SAFETY: an eventfd takes an 8-byte counter increment from a valid buffer.
        unsafe { libc::write(self.stop.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Reads a native-endian integer the kernel wrote; `None` past the end of what it sent.
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_ne_bytes());
}

fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_ne_bytes());
}

/// What a request gets back.
enum Reply {
    /// No answer: FORGET, BATCH_FORGET, INTERRUPT, or nothing trustworthy to answer to.
    None,
    Error(i32),
    /// The answer's body, built in the body buffer.
    Body,
    /// READ: `len` bytes of data in the read buffer after the header.
    Data(usize),
}

impl Server {
    fn serve(&self) {
        let mut req = vec![0u8; REQUEST_BUF];
        let mut body = Vec::with_capacity(256);
        let mut data = vec![0u8; OUT_HEADER + MAX_READ as usize];
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.dev.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.stop.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfd structures.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if n < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return;
            }
            if fds[1].revents != 0 {
                return;
            }
            if fds[0].revents == 0 {
                continue;
            }
            // SAFETY: reads into a buffer of its stated length.
            let got =
                unsafe { libc::read(self.dev.as_raw_fd(), req.as_mut_ptr().cast(), req.len()) };
            if got < 0 {
                match std::io::Error::last_os_error().raw_os_error() {
                    // Another worker took it; a request interrupted before we read it.
                    Some(libc::EAGAIN | libc::EINTR | libc::ENOENT) => continue,
                    // ENODEV: unmounted or aborted. Anything else: the channel is unusable.
                    _ => return,
                }
            }
            let req = &req[..got as usize];
            let Some((unique, reply)) = self.handle(req, &mut body, &mut data) else {
                continue;
            };
            let out: &mut [u8] = match reply {
                Reply::None => continue,
                Reply::Error(errno) => {
                    header(&mut data[..OUT_HEADER], OUT_HEADER, -errno, unique);
                    &mut data[..OUT_HEADER]
                }
                Reply::Body => {
                    let len = OUT_HEADER + body.len();
                    data[OUT_HEADER..len].copy_from_slice(&body);
                    header(&mut data[..OUT_HEADER], len, 0, unique);
                    &mut data[..len]
                }
                Reply::Data(n) => {
                    header(&mut data[..OUT_HEADER], OUT_HEADER + n, 0, unique);
                    &mut data[..OUT_HEADER + n]
                }
            };
            // SAFETY: writes from a buffer of its stated length.
            let w = unsafe { libc::write(self.dev.as_raw_fd(), out.as_ptr().cast(), out.len()) };
            if w < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENODEV) {
                return;
            }
            // Other write errors (ENOENT: the request was interrupted meanwhile) concern that
            // request alone.
        }
    }

    /// The request's unique id and its answer; `None` when the request is too malformed to
    /// answer at all.
    fn handle(&self, req: &[u8], body: &mut Vec<u8>, data: &mut [u8]) -> Option<(u64, Reply)> {
        let len = u32_at(req, 0)? as usize;
        if len != req.len() || len < IN_HEADER {
            return None;
        }
        let opcode = u32_at(req, 4)?;
        let unique = u64_at(req, 8)?;
        let node = u64_at(req, 16)?;
        let arg = &req[IN_HEADER..];
        body.clear();
        let reply = match opcode {
            INIT => self.init(arg, body),
            FORGET | BATCH_FORGET | INTERRUPT => Reply::None,
            LOOKUP => self.lookup(node, arg, body),
            GETATTR => match self.attr(node) {
                Some(a) => {
                    put64(body, VALID_SECS);
                    put32(body, 0);
                    put32(body, 0);
                    body.extend_from_slice(&a);
                    Reply::Body
                }
                None => Reply::Error(libc::ENOENT),
            },
            OPEN => self.open(node, arg, body),
            READ => self.read(node, arg, data),
            OPENDIR => {
                if node == ROOT_ID {
                    open_out(body, 0)
                } else {
                    Reply::Error(libc::ENOTDIR)
                }
            }
            READDIR => self.readdir(node, arg, body),
            STATFS => {
                let blocks = self.size.div_ceil(4096);
                for v in [blocks, 0, 0, 2, 0] {
                    put64(body, v);
                }
                for v in [4096, 255, 4096, 0, 0, 0, 0, 0, 0, 0] {
                    put32(body, v);
                }
                Reply::Body
            }
            ACCESS => match u32_at(arg, 0) {
                Some(m) if m & libc::W_OK as u32 != 0 => Reply::Error(libc::EROFS),
                Some(m) if m & libc::X_OK as u32 != 0 && node == FILE_ID => {
                    Reply::Error(libc::EACCES)
                }
                Some(_) => Reply::Body,
                None => Reply::Error(libc::EINVAL),
            },
            RELEASE | RELEASEDIR | FLUSH | FSYNC | FSYNCDIR | DESTROY => Reply::Body,
            GETXATTR => Reply::Error(libc::ENODATA),
            // No attributes: a size query gets 0, a list gets nothing.
            LISTXATTR => match u32_at(arg, 0) {
                Some(0) => {
                    put32(body, 0);
                    put32(body, 0);
                    Reply::Body
                }
                Some(_) => Reply::Body,
                None => Reply::Error(libc::EINVAL),
            },
            SETATTR | SYMLINK | MKNOD | MKDIR | UNLINK | RMDIR | RENAME | LINK | WRITE
            | SETXATTR | REMOVEXATTR | CREATE | FALLOCATE | RENAME2 | COPY_FILE_RANGE | TMPFILE => {
                Reply::Error(libc::EROFS)
            }
            _ => Reply::Error(libc::ENOSYS),
        };
        Some((unique, reply))
    }

    fn init(&self, arg: &[u8], body: &mut Vec<u8>) -> Reply {
        let (Some(major), Some(minor), Some(readahead), Some(flags)) = (
            u32_at(arg, 0),
            u32_at(arg, 4),
            u32_at(arg, 8),
            u32_at(arg, 12),
        ) else {
            self.init_outcome(Err("the kernel's INIT request is too short".into()));
            return Reply::Error(libc::EIO);
        };
        if major != 7 || minor < OLDEST_MINOR {
            self.init_outcome(Err(format!(
                "the kernel speaks FUSE {major}.{minor}; 7.{OLDEST_MINOR} or later is needed"
            )));
            return Reply::Error(libc::EPROTO);
        }
        // SAFETY: plain query.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u32;
        let max_pages = (MAX_READ / page).clamp(1, u16::MAX as u32) as u16;
        put32(body, 7);
        put32(body, minor.min(OUR_MINOR));
        put32(body, readahead.min(MAX_READ));
        put32(body, flags & (ASYNC_READ | MAX_PAGES));
        // max_background, congestion_threshold: room for the loop device's readahead.
        body.extend_from_slice(&16u16.to_ne_bytes());
        body.extend_from_slice(&12u16.to_ne_bytes());
        put32(body, MAX_WRITE);
        put32(body, 1); // time_gran: nanoseconds
        body.extend_from_slice(&max_pages.to_ne_bytes());
        body.extend_from_slice(&0u16.to_ne_bytes()); // map_alignment
        put32(body, 0); // flags2
        body.extend_from_slice(&[0u8; 28]);
        self.init_outcome(Ok(()));
        Reply::Body
    }

    fn init_outcome(&self, r: std::result::Result<(), String>) {
        if let Some(tx) = self.init_done.lock().ok().and_then(|mut g| g.take()) {
            let _ = tx.send(r);
        }
    }

    /// `struct fuse_attr` of a node.
    fn attr(&self, node: u64) -> Option<[u8; 88]> {
        let (mode, nlink, size) = match node {
            ROOT_ID => (libc::S_IFDIR | 0o555, 2, 0),
            FILE_ID => (libc::S_IFREG | 0o444, 1, self.size),
            _ => return None,
        };
        let mut a = Vec::with_capacity(88);
        for v in [
            node,
            size,
            size.div_ceil(512),
            self.time,
            self.time,
            self.time,
        ] {
            put64(&mut a, v);
        }
        for v in [0, 0, 0, mode, nlink, self.uid, self.gid, 0, 4096, 0] {
            put32(&mut a, v);
        }
        a.try_into().ok()
    }

    fn lookup(&self, node: u64, arg: &[u8], body: &mut Vec<u8>) -> Reply {
        if node != ROOT_ID {
            return Reply::Error(libc::ENOTDIR);
        }
        let Some(end) = arg.iter().position(|&b| b == 0) else {
            return Reply::Error(libc::EINVAL);
        };
        if arg[..end] != self.name[..] {
            return Reply::Error(libc::ENOENT);
        }
        let Some(a) = self.attr(FILE_ID) else {
            return Reply::Error(libc::EIO);
        };
        for v in [FILE_ID, 0, VALID_SECS, VALID_SECS] {
            put64(body, v);
        }
        put32(body, 0);
        put32(body, 0);
        body.extend_from_slice(&a);
        Reply::Body
    }

    fn open(&self, node: u64, arg: &[u8], body: &mut Vec<u8>) -> Reply {
        let Some(flags) = u32_at(arg, 0) else {
            return Reply::Error(libc::EINVAL);
        };
        let flags = flags as i32;
        match node {
            FILE_ID if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0 => {
                Reply::Error(libc::EROFS)
            }
            // The bytes never change while mounted: the page cache stays valid across opens.
            FILE_ID => open_out(body, FOPEN_KEEP_CACHE),
            ROOT_ID => Reply::Error(libc::EISDIR),
            _ => Reply::Error(libc::ENOENT),
        }
    }

    fn read(&self, node: u64, arg: &[u8], data: &mut [u8]) -> Reply {
        let (Some(offset), Some(size)) = (u64_at(arg, 8), u32_at(arg, 16)) else {
            return Reply::Error(libc::EINVAL);
        };
        if node != FILE_ID {
            return Reply::Error(libc::EISDIR);
        }
        if offset >= self.size {
            return Reply::Data(0);
        }
        let len = (size.min(MAX_READ) as u64).min(self.size - offset) as usize;
        match self
            .disk
            .read_exact_at(&mut data[OUT_HEADER..OUT_HEADER + len], offset)
        {
            Ok(()) => Reply::Data(len),
            Err(e) => {
                (self.notify)(FuseNotice::ReadFailed {
                    offset,
                    len: len as u64,
                    error: e.to_string(),
                });
                Reply::Error(libc::EIO)
            }
        }
    }

    fn readdir(&self, node: u64, arg: &[u8], body: &mut Vec<u8>) -> Reply {
        let (Some(offset), Some(size)) = (u64_at(arg, 8), u32_at(arg, 16)) else {
            return Reply::Error(libc::EINVAL);
        };
        if node != ROOT_ID {
            return Reply::Error(libc::ENOTDIR);
        }
        let entries: [(u64, &[u8], u32); 3] = [
            (ROOT_ID, b".", DT_DIR),
            (ROOT_ID, b"..", DT_DIR),
            (FILE_ID, &self.name, DT_REG),
        ];
        // The offset of an entry is the index of the next one: where a later call resumes.
        for (i, (ino, name, kind)) in entries.iter().enumerate().skip(offset.min(3) as usize) {
            let rec = (24 + name.len()).next_multiple_of(8);
            if body.len() + rec > size as usize {
                break;
            }
            put64(body, *ino);
            put64(body, i as u64 + 1);
            put32(body, name.len() as u32);
            put32(body, *kind);
            body.extend_from_slice(name);
            body.resize(body.len().next_multiple_of(8), 0);
        }
        Reply::Body
    }
}

fn open_out(body: &mut Vec<u8>, flags: u32) -> Reply {
    put64(body, 0);
    put32(body, flags);
    put32(body, 0);
    Reply::Body
}

/// `struct fuse_out_header`.
fn header(h: &mut [u8], len: usize, error: i32, unique: u64) {
    h[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    h[4..8].copy_from_slice(&error.to_ne_bytes());
    h[8..16].copy_from_slice(&unique.to_ne_bytes());
}
