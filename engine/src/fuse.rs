//! A read-only FUSE server of our own with two kinds of tree behind one protocol server:
//! [`FuseFile`], a directory holding one regular file whose bytes are a [`ReadAt`] (a saved
//! image read lazily), so that loop devices can be laid over partition ranges of that file on a
//! kernel without NBD; and [`FuseTree`], the files of one partition's filesystem served through
//! Wraith's own read-only readers (`fs::reader`), for filesystems the kernel has no driver for.
//! It speaks the kernel's FUSE protocol on /dev/fuse itself (no libfuse, no fusermount: the live
//! binary is static and runs as root), answering only what a read-only tree needs.
//!
//! Must not: write anything anywhere (every change is refused with EROFS), trust a request's
//! lengths beyond the protocol's bounds, hand the kernel a name read from a disk that could
//! confuse it ("/", NUL, ".", ".."), print (failures go to the caller's notice callback), or
//! leave a mount or a thread behind once dropped. Nothing here keeps a killed process's mount
//! alive: the kernel then leaves a dead mount that `umount2(MNT_DETACH)` removes.

use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::fs::reader::{self, Entry, EntryKind, FileData};
use crate::fs::{FsKind, FsReader};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
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
    /// A file of a served tree (`path` from its root) could not be opened or read: its reader
    /// got EIO (EOPNOTSUPP for a file the readers cannot decode); other files are still served.
    FileUnreadable { path: String, error: String },
    /// An entry of a served tree left out of its directory, its name being one the kernel
    /// cannot take (`path` from the root, the name shown lossily).
    Skipped { path: String, why: String },
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
const READLINK: u32 = 5;
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

/// A mounted single-file read-only filesystem; unmounted, its threads stopped and joined, when
/// dropped.
pub struct FuseFile {
    mount: Mounted,
    name: String,
}

impl std::fmt::Debug for FuseFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FuseFile")
            .field("point", &self.mount.point)
            .field("name", &self.name)
            .finish()
    }
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
        let bad_name = name.is_empty() || name.len() > 255 || name == "." || name == "..";
        if bad_name || name.contains(['/', '\0']) {
            return Err(Error::Invalid(format!(
                "{name:?} cannot be the name of the file served at {}",
                point.display()
            )));
        }
        // SAFETY: plain syscalls without arguments.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let file = Arc::new(OneFile {
            name: name.as_bytes().to_vec(),
            size: disk.size(),
            time,
            uid,
            gid,
            disk,
            notify,
        });
        let mount = Mounted::start(point, Arc::new(move |s: &Server| s.serve(&*file)))?;
        Ok(FuseFile {
            mount,
            name: name.to_string(),
        })
    }

    /// `point/name`.
    pub fn file(&self) -> PathBuf {
        self.mount.point.join(&self.name)
    }
}

/// A partition's filesystem mounted read-only through Wraith's own readers; unmounted, its
/// threads stopped and joined, when dropped.
pub struct FuseTree {
    mount: Mounted,
    kind: FsKind,
}

impl std::fmt::Debug for FuseTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FuseTree")
            .field("point", &self.mount.point)
            .field("kind", &self.kind)
            .finish()
    }
}

impl FuseTree {
    /// Mounts at `point` (an existing directory) the filesystem found on `part` (the bytes of
    /// one partition), read-only, through Wraith's own readers. Fails clearly when `part`
    /// holds no filesystem the readers know.
    pub fn mount(
        point: &Path,
        part: Arc<dyn ReadAt + Send + Sync>,
        notify: Arc<dyn Fn(FuseNotice) + Send + Sync>,
    ) -> Result<FuseTree> {
        // Opened here once to fail before mounting anything; each worker opens its own (the
        // readers borrow the partition, and opening is cheap).
        let (kind, root) = {
            let fs = reader::open(&*part).map_err(|e| {
                Error::Invalid(format!("nothing to serve at {}: {e}", point.display()))
            })?;
            (fs.kind(), fs.root()?)
        };
        let mut table = Table {
            nodes: HashMap::new(),
            by_name: HashMap::new(),
            by_id: HashMap::new(),
            next: ROOT_ID + 1,
            dirs: VecDeque::new(),
        };
        table.nodes.insert(
            ROOT_ID,
            Node {
                parent: ROOT_ID,
                entry: root,
                lookups: 1,
            },
        );
        let tree = Arc::new(Tree {
            part,
            notify,
            // FAT's ids are first clusters: every empty file shares 0.
            links: !matches!(kind, FsKind::Fat12 | FsKind::Fat16 | FsKind::Fat32),
            table: Mutex::new(table),
        });
        let worker = move |s: &Server| match reader::open(&*tree.part) {
            Ok(fs) => s.serve(&TreeWorker {
                tree: &tree,
                fs: &*fs,
                open: RefCell::new(VecDeque::new()),
            }),
            Err(e) => s.init_outcome(Err(format!("the filesystem did not open again: {e}"))),
        };
        let mount = Mounted::start(point, Arc::new(worker))?;
        Ok(FuseTree { mount, kind })
    }

    /// The filesystem served.
    pub fn kind(&self) -> FsKind {
        self.kind
    }

    /// Where it is mounted.
    pub fn point(&self) -> &Path {
        &self.mount.point
    }
}

/// A FUSE mount and its workers; unmounted, the workers stopped and joined, when dropped.
struct Mounted {
    point: PathBuf,
    /// The mount's device number: Drop unmounts `point` only while it is still this mount.
    dev: Option<u64>,
    /// Readable once the workers must stop.
    stop: Arc<OwnedFd>,
    threads: Vec<JoinHandle<()>>,
}

/// What every worker shares. Only the workers hold the /dev/fuse descriptor, so it closes (and
/// the kernel aborts the connection) as soon as the last of them ends, whatever the reason.
struct Server {
    dev: OwnedFd,
    stop: Arc<OwnedFd>,
    /// Told the outcome of INIT, once, so that `mount` returns with the filesystem usable.
    init_done: Mutex<Option<mpsc::Sender<std::result::Result<(), String>>>>,
}

type Worker = Arc<dyn Fn(&Server) + Send + Sync>;

impl Mounted {
    /// Mounts a FUSE filesystem at `point` and starts the workers, each running `worker`
    /// (which serves requests until told to stop); returns once the kernel's INIT is answered.
    fn start(point: &Path, worker: Worker) -> Result<Mounted> {
        let at = |e: std::io::Error| Error::io(point, e);
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
                std::io::Error::new(e.kind(), format!("mounting the FUSE server: {e}")),
            ));
        }

        let (tx, rx) = mpsc::channel();
        let server = Arc::new(Server {
            dev,
            stop: stop.clone(),
            init_done: Mutex::new(Some(tx)),
        });
        let mut mounted = Mounted {
            point: point.to_path_buf(),
            dev: None,
            stop,
            threads: Vec::new(),
        };
        for i in 0..WORKERS {
            let s = server.clone();
            let w = worker.clone();
            let t = std::thread::Builder::new()
                .name(format!("wraith-fuse-{i}"))
                .spawn(move || w(&s));
            match t {
                Ok(t) => mounted.threads.push(t),
                // Dropping `mounted` unmounts and stops the threads already started.
                Err(e) => return Err(at(e)),
            }
        }
        drop(server);
        let failed = |why: String| {
            Error::io(
                point,
                std::io::Error::other(format!("the FUSE server did not start: {why}")),
            )
        };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {
                use std::os::unix::fs::MetadataExt;
                mounted.dev = std::fs::metadata(point).ok().map(|m| m.dev());
                Ok(mounted)
            }
            Ok(Err(why)) => Err(failed(why)),
            Err(_) => Err(failed("the kernel sent no INIT request".into())),
        }
    }
}

impl Drop for Mounted {
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

/// An answer of a backend: a value or an errno.
type Answer<T> = std::result::Result<T, i32>;

/// What the kernel sees of one node (`struct fuse_attr`).
#[derive(Clone, Copy, Debug)]
struct Attr {
    ino: u64,
    size: u64,
    atime: (u64, u32),
    mtime: (u64, u32),
    ctime: (u64, u32),
    /// File type and permission bits.
    mode: u32,
    nlink: u32,
    uid: u32,
    gid: u32,
}

impl Attr {
    fn put(&self, out: &mut Vec<u8>) {
        let blocks = self.size.div_ceil(512);
        for v in [
            self.ino,
            self.size,
            blocks,
            self.atime.0,
            self.mtime.0,
            self.ctime.0,
        ] {
            put64(out, v);
        }
        for v in [
            self.atime.1,
            self.mtime.1,
            self.ctime.1,
            self.mode,
            self.nlink,
            self.uid,
            self.gid,
            0,
            4096,
            0,
        ] {
            put32(out, v);
        }
    }

    /// `d_type` of a directory entry: the file type bits, shifted.
    fn dtype(&self) -> u32 {
        (self.mode & libc::S_IFMT) >> 12
    }
}

/// One kind of read-only tree behind the protocol server. A node is the kernel's node id.
trait Backend {
    fn attr(&self, node: u64) -> Answer<Attr>;
    /// The child `name` of directory `parent`.
    fn lookup(&self, parent: u64, name: &[u8]) -> Answer<Attr>;
    /// Opening a node for reading (the protocol layer has refused writing already).
    fn open(&self, node: u64) -> Answer<()>;
    fn opendir(&self, node: u64) -> Answer<()>;
    /// Up to `buf.len()` bytes from `offset`; fewer only at the end of the file.
    fn read(&self, node: u64, offset: u64, buf: &mut [u8]) -> Answer<usize>;
    /// The entries of a directory from the `skip`-th on (`.` and `..` first), handed to `put`
    /// (inode, name, d_type) until it says the answer is full.
    fn readdir(
        &self,
        node: u64,
        skip: u64,
        put: &mut dyn FnMut(u64, &[u8], u32) -> bool,
    ) -> Answer<()>;
    fn readlink(&self, node: u64) -> Answer<Vec<u8>>;
    /// The kernel dropped `n` references to `node` (LOOKUP answers).
    fn forget(&self, _node: u64, _n: u64) {}
    /// Total bytes and number of nodes, for STATFS.
    fn usage(&self) -> (u64, u64);
}

impl Server {
    fn serve(&self, b: &dyn Backend) {
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
            let Some((unique, reply)) = self.handle(b, req, &mut body, &mut data) else {
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
    fn handle(
        &self,
        b: &dyn Backend,
        req: &[u8],
        body: &mut Vec<u8>,
        data: &mut [u8],
    ) -> Option<(u64, Reply)> {
        let len = u32_at(req, 0)? as usize;
        if len != req.len() || len < IN_HEADER {
            return None;
        }
        let opcode = u32_at(req, 4)?;
        let unique = u64_at(req, 8)?;
        let node = u64_at(req, 16)?;
        let arg = &req[IN_HEADER..];
        body.clear();
        let answer = match opcode {
            INIT => return Some((unique, self.init(arg, body))),
            FORGET => {
                if let Some(n) = u64_at(arg, 0) {
                    b.forget(node, n);
                }
                return Some((unique, Reply::None));
            }
            BATCH_FORGET => {
                let count = u32_at(arg, 0).unwrap_or(0) as usize;
                // Bounded by what the kernel sent, whatever the count says.
                for one in arg[8.min(arg.len())..].chunks_exact(16).take(count) {
                    if let (Some(ino), Some(n)) = (u64_at(one, 0), u64_at(one, 8)) {
                        b.forget(ino, n);
                    }
                }
                return Some((unique, Reply::None));
            }
            INTERRUPT => return Some((unique, Reply::None)),
            LOOKUP => match arg.iter().position(|&c| c == 0) {
                Some(end) => b.lookup(node, &arg[..end]).map(|a| {
                    for v in [a.ino, 0, VALID_SECS, VALID_SECS] {
                        put64(body, v);
                    }
                    put32(body, 0);
                    put32(body, 0);
                    a.put(body);
                }),
                None => Err(libc::EINVAL),
            },
            GETATTR => b.attr(node).map(|a| {
                put64(body, VALID_SECS);
                put32(body, 0);
                put32(body, 0);
                a.put(body);
            }),
            OPEN => match u32_at(arg, 0).map(|f| f as i32) {
                Some(f) if f & libc::O_ACCMODE != libc::O_RDONLY || f & libc::O_TRUNC != 0 => {
                    Err(libc::EROFS)
                }
                // The bytes never change while mounted: the page cache stays valid across
                // opens.
                Some(_) => b.open(node).map(|()| open_out(body, FOPEN_KEEP_CACHE)),
                None => Err(libc::EINVAL),
            },
            READ => match (u64_at(arg, 8), u32_at(arg, 16)) {
                (Some(offset), Some(size)) => {
                    let len = size.min(MAX_READ) as usize;
                    match b.read(node, offset, &mut data[OUT_HEADER..OUT_HEADER + len]) {
                        Ok(n) => return Some((unique, Reply::Data(n.min(len)))),
                        Err(e) => Err(e),
                    }
                }
                _ => Err(libc::EINVAL),
            },
            OPENDIR => b.opendir(node).map(|()| open_out(body, 0)),
            READDIR => match (u64_at(arg, 8), u32_at(arg, 16)) {
                (Some(offset), Some(size)) => {
                    // The offset of an entry is the index of the next one: where a later call
                    // resumes.
                    let mut next = offset;
                    b.readdir(node, offset, &mut |ino, name, kind| {
                        let rec = (24 + name.len()).next_multiple_of(8);
                        if body.len() + rec > size as usize {
                            return false;
                        }
                        next += 1;
                        put64(body, ino);
                        put64(body, next);
                        put32(body, name.len() as u32);
                        put32(body, kind);
                        body.extend_from_slice(name);
                        body.resize(body.len().next_multiple_of(8), 0);
                        true
                    })
                }
                _ => Err(libc::EINVAL),
            },
            READLINK => b.readlink(node).map(|t| body.extend_from_slice(&t)),
            STATFS => {
                let (bytes, nodes) = b.usage();
                for v in [bytes.div_ceil(4096), 0, 0, nodes, 0] {
                    put64(body, v);
                }
                for v in [4096, 255, 4096, 0, 0, 0, 0, 0, 0, 0] {
                    put32(body, v);
                }
                Ok(())
            }
            ACCESS => match u32_at(arg, 0) {
                Some(m) if m & libc::W_OK as u32 != 0 => Err(libc::EROFS),
                Some(m) if m & libc::X_OK as u32 != 0 => b.attr(node).and_then(|a| {
                    let dir = a.mode & libc::S_IFMT == libc::S_IFDIR;
                    if dir || a.mode & 0o111 != 0 {
                        Ok(())
                    } else {
                        Err(libc::EACCES)
                    }
                }),
                Some(_) => Ok(()),
                None => Err(libc::EINVAL),
            },
            RELEASE | RELEASEDIR | FLUSH | FSYNC | FSYNCDIR | DESTROY => Ok(()),
            GETXATTR => Err(libc::ENODATA),
            // No attributes: a size query gets 0, a list gets nothing.
            LISTXATTR => match u32_at(arg, 0) {
                Some(0) => {
                    put32(body, 0);
                    put32(body, 0);
                    Ok(())
                }
                Some(_) => Ok(()),
                None => Err(libc::EINVAL),
            },
            SETATTR | SYMLINK | MKNOD | MKDIR | UNLINK | RMDIR | RENAME | LINK | WRITE
            | SETXATTR | REMOVEXATTR | CREATE | FALLOCATE | RENAME2 | COPY_FILE_RANGE | TMPFILE => {
                Err(libc::EROFS)
            }
            _ => Err(libc::ENOSYS),
        };
        let reply = match answer {
            Ok(()) => Reply::Body,
            Err(e) => Reply::Error(e),
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
}

fn open_out(body: &mut Vec<u8>, flags: u32) {
    put64(body, 0);
    put32(body, flags);
    put32(body, 0);
}

/// `struct fuse_out_header`.
fn header(h: &mut [u8], len: usize, error: i32, unique: u64) {
    h[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    h[4..8].copy_from_slice(&error.to_ne_bytes());
    h[8..16].copy_from_slice(&unique.to_ne_bytes());
}

// ---------------------------------------------------------------------------------------------
// One file

/// [`FuseFile`]'s tree: a root directory holding one file.
struct OneFile {
    name: Vec<u8>,
    size: u64,
    time: u64,
    uid: u32,
    gid: u32,
    disk: Arc<dyn ReadAt + Send + Sync>,
    notify: Arc<dyn Fn(FuseNotice) + Send + Sync>,
}

impl Backend for OneFile {
    fn attr(&self, node: u64) -> Answer<Attr> {
        let (mode, nlink, size) = match node {
            ROOT_ID => (libc::S_IFDIR | 0o555, 2, 0),
            FILE_ID => (libc::S_IFREG | 0o444, 1, self.size),
            _ => return Err(libc::ENOENT),
        };
        let t = (self.time, 0);
        Ok(Attr {
            ino: node,
            size,
            atime: t,
            mtime: t,
            ctime: t,
            mode,
            nlink,
            uid: self.uid,
            gid: self.gid,
        })
    }

    fn lookup(&self, parent: u64, name: &[u8]) -> Answer<Attr> {
        match parent {
            ROOT_ID if name == self.name => self.attr(FILE_ID),
            ROOT_ID => Err(libc::ENOENT),
            _ => Err(libc::ENOTDIR),
        }
    }

    fn open(&self, node: u64) -> Answer<()> {
        match node {
            FILE_ID => Ok(()),
            ROOT_ID => Err(libc::EISDIR),
            _ => Err(libc::ENOENT),
        }
    }

    fn opendir(&self, node: u64) -> Answer<()> {
        match node {
            ROOT_ID => Ok(()),
            _ => Err(libc::ENOTDIR),
        }
    }

    fn read(&self, node: u64, offset: u64, buf: &mut [u8]) -> Answer<usize> {
        if node != FILE_ID {
            return Err(libc::EISDIR);
        }
        if offset >= self.size {
            return Ok(0);
        }
        let len = (buf.len() as u64).min(self.size - offset) as usize;
        match self.disk.read_exact_at(&mut buf[..len], offset) {
            Ok(()) => Ok(len),
            Err(e) => {
                (self.notify)(FuseNotice::ReadFailed {
                    offset,
                    len: len as u64,
                    error: e.to_string(),
                });
                Err(libc::EIO)
            }
        }
    }

    fn readdir(
        &self,
        node: u64,
        skip: u64,
        put: &mut dyn FnMut(u64, &[u8], u32) -> bool,
    ) -> Answer<()> {
        if node != ROOT_ID {
            return Err(libc::ENOTDIR);
        }
        let dt = |m: u32| (m & libc::S_IFMT) >> 12;
        let entries: [(u64, &[u8], u32); 3] = [
            (ROOT_ID, b".", dt(libc::S_IFDIR)),
            (ROOT_ID, b"..", dt(libc::S_IFDIR)),
            (FILE_ID, &self.name, dt(libc::S_IFREG)),
        ];
        for (ino, name, kind) in entries.iter().skip(skip.min(3) as usize) {
            if !put(*ino, name, *kind) {
                break;
            }
        }
        Ok(())
    }

    fn readlink(&self, _node: u64) -> Answer<Vec<u8>> {
        Err(libc::EINVAL)
    }

    fn usage(&self) -> (u64, u64) {
        (self.size, 2)
    }
}

// ---------------------------------------------------------------------------------------------
// A filesystem's tree

/// Directory listings kept: a listing is read once however many READDIR calls it takes.
const DIRS_CACHED: usize = 64;
/// Files a worker keeps open (their maps built), so consecutive reads do not rebuild them.
const FILES_OPEN: usize = 8;
/// The longest name the kernel takes.
const NAME_MAX: usize = 255;

/// [`FuseTree`]'s state shared by every worker.
struct Tree {
    part: Arc<dyn ReadAt + Send + Sync>,
    notify: Arc<dyn Fn(FuseNotice) + Send + Sync>,
    /// Whether equal entry ids are one file (hard links): ext and NTFS, not FAT.
    links: bool,
    table: Mutex<Table>,
}

/// Our inode numbers. A number is given to a name when its directory is listed; a node is
/// kept only while the kernel holds it (from LOOKUP until FORGET), so memory follows what the
/// kernel caches, not how much of the tree was ever listed. A name keeps its number while its
/// node lives or its directory's listing is cached.
struct Table {
    nodes: HashMap<u64, Node>,
    /// The number of a name in a directory, while its node lives (and, for the other names of
    /// a hard-linked file, after: they can only ever name that file).
    by_name: HashMap<(u64, Vec<u8>), u64>,
    /// The number given to a file id (hard links: ext and NTFS).
    by_id: HashMap<u64, u64>,
    next: u64,
    /// Recently listed directories and their children, most recent last.
    dirs: VecDeque<(u64, Arc<Children>)>,
}

type Children = Vec<(u64, Entry)>;

struct Node {
    parent: u64,
    entry: Entry,
    /// LOOKUP answers the kernel has not forgotten yet.
    lookups: u64,
}

impl Table {
    /// The path of `ino` from the root, for notices.
    fn path(&self, ino: u64) -> String {
        let mut parts = Vec::new();
        let mut at = ino;
        while at != ROOT_ID && parts.len() < reader::MAX_DEPTH {
            let Some(n) = self.nodes.get(&at) else { break };
            parts.push(n.entry.name_lossy());
            at = n.parent;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// The number of `entry` listed in `parent`: the one it has, or a new one.
    fn number(&mut self, parent: u64, entry: &Entry, links: bool) -> u64 {
        if let Some(&ino) = self.by_name.get(&(parent, entry.name.clone())) {
            return ino;
        }
        let linked = links && entry.kind != EntryKind::Dir && entry.nlink > 1;
        if let Some(&ino) = linked.then(|| self.by_id.get(&entry.id)).flatten() {
            return ino;
        }
        let ino = self.next;
        self.next += 1;
        if linked {
            self.by_id.insert(entry.id, ino);
        }
        ino
    }

    /// One more LOOKUP answered with `ino` for `name` in `parent`.
    fn looked_up(&mut self, parent: u64, ino: u64, entry: &Entry) -> Attr {
        self.by_name.insert((parent, entry.name.clone()), ino);
        let node = self.nodes.entry(ino).or_insert_with(|| Node {
            parent,
            entry: entry.clone(),
            lookups: 0,
        });
        node.lookups += 1;
        attr_of(ino, &node.entry)
    }

    /// The kernel dropped `n` of its references to `ino`.
    fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT_ID {
            return;
        }
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        node.lookups = node.lookups.saturating_sub(n);
        if node.lookups > 0 {
            return;
        }
        if let Some(node) = self.nodes.remove(&ino) {
            self.by_name.remove(&(node.parent, node.entry.name));
            if self.by_id.get(&node.entry.id) == Some(&ino) {
                self.by_id.remove(&node.entry.id);
            }
        }
    }
}

/// One worker's view: the shared state and its own reader of the partition.
struct TreeWorker<'a> {
    tree: &'a Tree,
    fs: &'a dyn FsReader,
    /// Files recently opened by this worker, most recent first.
    open: RefCell<VecDeque<(u64, FileData<'a>)>>,
}

fn time(t: Option<reader::Time>) -> (u64, u32) {
    // Times before 1970 go as negative numbers: the kernel reads these fields as signed.
    t.map_or((0, 0), |t| (t.secs as u64, t.nsecs.min(999_999_999)))
}

fn attr_of(ino: u64, e: &Entry) -> Attr {
    let ext_mode = e.mode.unwrap_or(0);
    // The type always follows the entry's kind, whatever the mode says: the kernel must never
    // see a node change type, nor a directory that is not one to us.
    let (kind, perm, size) = match e.kind {
        EntryKind::Dir => (libc::S_IFDIR, 0o555, e.size),
        EntryKind::File => (libc::S_IFREG, 0o444, e.size),
        EntryKind::Symlink => (
            libc::S_IFLNK,
            0o777,
            e.target.as_ref().map_or(e.size, |t| t.len() as u64),
        ),
        EntryKind::Other => match ext_mode & libc::S_IFMT {
            t @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO | libc::S_IFSOCK) => (t, 0o444, 0),
            _ => (libc::S_IFREG, 0o444, e.size),
        },
    };
    let perm = e.mode.map_or(perm, |m| m & 0o7777);
    Attr {
        ino,
        size,
        atime: time(e.atime.or(e.mtime)),
        mtime: time(e.mtime),
        ctime: time(e.ctime.or(e.mtime)),
        mode: kind | perm,
        nlink: e.nlink.max(1),
        uid: e.uid.unwrap_or(0),
        gid: e.gid.unwrap_or(0),
    }
}

impl TreeWorker<'_> {
    fn table(&self) -> MutexGuard<'_, Table> {
        // A worker that panicked holding it left nothing half-done worth refusing over.
        self.tree
            .table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn entry(&self, ino: u64) -> Answer<Entry> {
        self.table()
            .nodes
            .get(&ino)
            .map(|n| n.entry.clone())
            .ok_or(libc::ENOENT)
    }

    fn unreadable(&self, ino: u64, e: &Error) -> i32 {
        let path = self.table().path(ino);
        (self.tree.notify)(FuseNotice::FileUnreadable {
            path,
            error: e.to_string(),
        });
        match e {
            Error::Unsupported(_) => libc::EOPNOTSUPP,
            _ => libc::EIO,
        }
    }

    /// The children of directory `dir`, listed (and numbered) on first use.
    fn children(&self, dir: u64) -> Answer<Arc<Children>> {
        let entry = {
            let mut t = self.table();
            if let Some(i) = t.dirs.iter().position(|(d, _)| *d == dir) {
                let hit = t.dirs.remove(i).ok_or(libc::EIO)?;
                let list = hit.1.clone();
                t.dirs.push_back(hit);
                return Ok(list);
            }
            t.nodes
                .get(&dir)
                .map(|n| n.entry.clone())
                .ok_or(libc::ENOENT)?
        };
        if entry.kind != EntryKind::Dir {
            return Err(libc::ENOTDIR);
        }
        // Read without the lock: other workers go on meanwhile.
        let listed = self.fs.list(&entry).map_err(|e| self.unreadable(dir, &e))?;
        let mut t = self.table();
        let mut kids = Vec::with_capacity(listed.len());
        let mut skipped = Vec::new();
        for e in listed {
            let name = &e.name;
            let why = if name.is_empty() || name == b"." || name == b".." {
                None
            } else if name.contains(&b'/') || name.contains(&0) {
                Some("the name holds '/' or NUL")
            } else if name.len() > NAME_MAX {
                Some("the name is longer than 255 bytes")
            } else {
                kids.push((t.number(dir, &e, self.tree.links), e));
                continue;
            };
            if let Some(why) = why {
                let path = format!("{}/{}", t.path(dir).trim_end_matches('/'), e.name_lossy());
                skipped.push(FuseNotice::Skipped {
                    path,
                    why: why.to_string(),
                });
            }
        }
        let kids = Arc::new(kids);
        // Another worker may have listed it meanwhile: one copy is kept.
        if !t.dirs.iter().any(|(d, _)| *d == dir) {
            t.dirs.push_back((dir, kids.clone()));
            if t.dirs.len() > DIRS_CACHED {
                t.dirs.pop_front();
            }
        }
        // Told without the lock: a callback that looks at the mount must not wait on us.
        drop(t);
        for n in skipped {
            (self.tree.notify)(n);
        }
        Ok(kids)
    }
}

impl Backend for TreeWorker<'_> {
    fn attr(&self, node: u64) -> Answer<Attr> {
        self.entry(node).map(|e| attr_of(node, &e))
    }

    fn lookup(&self, parent: u64, name: &[u8]) -> Answer<Attr> {
        {
            let mut t = self.table();
            if let Some(&ino) = t.by_name.get(&(parent, name.to_vec())) {
                if let Some(n) = t.nodes.get_mut(&ino) {
                    n.lookups += 1;
                    return Ok(attr_of(ino, &n.entry));
                }
            }
        }
        let kids = self.children(parent)?;
        let (ino, e) = kids
            .iter()
            .find(|(_, e)| e.name == name)
            .ok_or(libc::ENOENT)?;
        Ok(self.table().looked_up(parent, *ino, e))
    }

    fn forget(&self, node: u64, n: u64) {
        self.table().forget(node, n);
    }

    fn open(&self, node: u64) -> Answer<()> {
        let e = self.entry(node)?;
        match e.kind {
            EntryKind::Dir => return Err(libc::EISDIR),
            EntryKind::Symlink => return Err(libc::ELOOP),
            EntryKind::File | EntryKind::Other => {}
        }
        if let Some(why) = &e.unsupported {
            return Err(self.unreadable(node, &Error::Unsupported(why.clone())));
        }
        self.file(node, &e).map(|_| ())
    }

    fn opendir(&self, node: u64) -> Answer<()> {
        match self.entry(node)?.kind {
            EntryKind::Dir => Ok(()),
            _ => Err(libc::ENOTDIR),
        }
    }

    fn read(&self, node: u64, offset: u64, buf: &mut [u8]) -> Answer<usize> {
        let e = self.entry(node)?;
        match e.kind {
            EntryKind::Dir => return Err(libc::EISDIR),
            EntryKind::Symlink => return Err(libc::EINVAL),
            EntryKind::File | EntryKind::Other => {}
        }
        self.file(node, &e)?;
        let open = self.open.borrow();
        let Some((_, data)) = open.front() else {
            return Err(libc::EIO);
        };
        let size = data.size();
        if offset >= size {
            return Ok(0);
        }
        let len = (buf.len() as u64).min(size - offset) as usize;
        match data.read_exact_at(&mut buf[..len], offset) {
            Ok(()) => Ok(len),
            Err(err) => {
                drop(open);
                Err(self.unreadable(node, &err))
            }
        }
    }

    fn readdir(
        &self,
        node: u64,
        skip: u64,
        put: &mut dyn FnMut(u64, &[u8], u32) -> bool,
    ) -> Answer<()> {
        let kids = self.children(node)?;
        let parent = self.table().nodes.get(&node).map_or(ROOT_ID, |n| n.parent);
        let dir = libc::S_IFDIR >> 12;
        let mut at = skip;
        if at == 0 {
            if !put(node, b".", dir) {
                return Ok(());
            }
            at = 1;
        }
        if at == 1 {
            if !put(parent, b"..", dir) {
                return Ok(());
            }
            at = 2;
        }
        for (ino, e) in kids.iter().skip((at - 2) as usize) {
            if !put(*ino, &e.name, attr_of(*ino, e).dtype()) {
                break;
            }
        }
        Ok(())
    }

    fn readlink(&self, node: u64) -> Answer<Vec<u8>> {
        let e = self.entry(node)?;
        match (e.kind, e.target) {
            (EntryKind::Symlink, Some(t)) => Ok(t),
            (EntryKind::Symlink, None) => Err(libc::EIO),
            _ => Err(libc::EINVAL),
        }
    }

    fn usage(&self) -> (u64, u64) {
        (self.tree.part.size(), self.table().nodes.len() as u64)
    }
}

impl<'a> TreeWorker<'a> {
    /// Makes `node`'s bytes the front of this worker's open files, opening it if needed.
    fn file(&self, node: u64, e: &Entry) -> Answer<()> {
        let mut open = self.open.borrow_mut();
        if let Some(i) = open.iter().position(|(n, _)| *n == node) {
            let hit = open.remove(i).ok_or(libc::EIO)?;
            open.push_front(hit);
            return Ok(());
        }
        drop(open);
        let fs: &'a dyn FsReader = self.fs;
        let data = fs.open(e).map_err(|err| self.unreadable(node, &err))?;
        let mut open = self.open.borrow_mut();
        open.push_front((node, data));
        open.truncate(FILES_OPEN);
        Ok(())
    }
}
