//! An NBD server (the Network Block Device protocol, fixed newstyle negotiation) for one
//! export: any readable disk, in practice a saved image read lazily ([`ImageDisk`]), so qemu-img,
//! qemu-io, nbd-client and the kernel can read a saved disk without restoring it. Structured
//! replies send holes as holes, and the `base:allocation` metadata context answers
//! `NBD_CMD_BLOCK_STATUS`, so a client copies only what the image holds. Without an overlay the
//! export is read-only; with one ([`overlay::Overlay`]) writes go to the overlay file.
//!
//! Must not: write the disk or the repository; trust a client's lengths (options and requests
//! are bounded, nothing is allocated by a length a client sent beyond those bounds); print
//! anything (it reports through [`Notice`]s, the user interface words them); keep running
//! after its [`Cancel`] is set.
//!
//! [`ImageDisk`]: crate::repo::image_disk::ImageDisk

pub mod kernel;
pub mod overlay;

use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::events::Cancel;
use overlay::Overlay;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The largest read or write a client may ask for at once, and the largest payload we
/// advertise: requests past it are refused, so one request never costs more memory.
pub const MAX_REQUEST: u32 = 32 << 20;
/// Connections served at once; one more is closed at once (each costs a thread and, for
/// clients without structured replies, up to one request's buffer).
pub const MAX_CLIENTS: usize = 16;
/// The longest option a client may send during negotiation (export names are at most 4 KiB).
const MAX_OPTION: u32 = 64 << 10;
/// Data chunks of a structured read reply: what is buffered per connection for a read.
const READ_PIECE: u64 = 1 << 20;
/// How far one `NBD_CMD_BLOCK_STATUS` looks (the client asks again for the rest).
const STATUS_SPAN: u64 = 1 << 30;
/// Descriptors in one block-status reply.
const STATUS_MAX_EXTENTS: usize = 1024;
/// The unit in which holes are looked for.
const GRAIN: u64 = overlay::BLOCK;
/// A client that connects and does not finish negotiating in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

const FLAG_FIXED_NEWSTYLE: u16 = 1;
const FLAG_NO_ZEROES: u16 = 2;
const FLAG_C_FIXED_NEWSTYLE: u32 = 1;
const FLAG_C_NO_ZEROES: u32 = 2;

const TF_HAS_FLAGS: u16 = 1;
const TF_READ_ONLY: u16 = 1 << 1;
const TF_SEND_FLUSH: u16 = 1 << 2;
const TF_SEND_FUA: u16 = 1 << 3;
const TF_SEND_TRIM: u16 = 1 << 5;
const TF_SEND_WRITE_ZEROES: u16 = 1 << 6;
const TF_CAN_MULTI_CONN: u16 = 1 << 8;

const OPT_EXPORT_NAME: u32 = 1;
const OPT_ABORT: u32 = 2;
const OPT_LIST: u32 = 3;
const OPT_INFO: u32 = 6;
const OPT_GO: u32 = 7;
const OPT_STRUCTURED_REPLY: u32 = 8;
const OPT_LIST_META_CONTEXT: u32 = 9;
const OPT_SET_META_CONTEXT: u32 = 10;

const REP_ACK: u32 = 1;
const REP_SERVER: u32 = 2;
const REP_INFO: u32 = 3;
const REP_META_CONTEXT: u32 = 4;
const REP_ERR_UNSUP: u32 = (1 << 31) | 1;
const REP_ERR_INVALID: u32 = (1 << 31) | 3;
const REP_ERR_TOO_BIG: u32 = (1 << 31) | 9;

const INFO_EXPORT: u16 = 0;
const INFO_NAME: u16 = 1;
const INFO_DESCRIPTION: u16 = 2;
const INFO_BLOCK_SIZE: u16 = 3;

const CMD_READ: u16 = 0;
const CMD_WRITE: u16 = 1;
const CMD_DISC: u16 = 2;
const CMD_FLUSH: u16 = 3;
const CMD_TRIM: u16 = 4;
const CMD_WRITE_ZEROES: u16 = 6;
const CMD_BLOCK_STATUS: u16 = 7;

const CMD_FLAG_FUA: u16 = 1;
const CMD_FLAG_NO_HOLE: u16 = 1 << 1;
const CMD_FLAG_REQ_ONE: u16 = 1 << 3;

const REPLY_FLAG_DONE: u16 = 1;
const REPLY_TYPE_NONE: u16 = 0;
const REPLY_TYPE_OFFSET_DATA: u16 = 1;
const REPLY_TYPE_OFFSET_HOLE: u16 = 2;
const REPLY_TYPE_BLOCK_STATUS: u16 = 5;
const REPLY_TYPE_ERROR: u16 = (1 << 15) | 1;
const REPLY_TYPE_ERROR_OFFSET: u16 = (1 << 15) | 2;

const STATE_HOLE: u32 = 1;
const STATE_ZERO: u32 = 2;

const BASE_ALLOCATION: &str = "base:allocation";
/// Our id for `base:allocation` in block-status replies.
const BASE_ALLOCATION_ID: u32 = 1;

const EPERM: u32 = 1;
const EIO: u32 = 5;
const EINVAL: u32 = 22;
const ENOSPC: u32 = 28;

/// What is served: one disk under one name.
pub struct Export {
    /// The name clients see in `NBD_OPT_LIST` (the image's name). Any name a client asks
    /// for, the empty default export included, gets this export: there is only one.
    pub name: String,
    /// A line for people (`NBD_INFO_DESCRIPTION`).
    pub description: String,
    pub disk: Arc<dyn ReadAt + Send + Sync>,
    /// Where writes go; without it the export is read-only.
    pub overlay: Option<Arc<Overlay>>,
}

impl Export {
    fn flags(&self) -> u16 {
        // No connection keeps a cache of its own (the image's cache and the overlay are
        // shared), so several connections see each other's flushed writes.
        let base = TF_HAS_FLAGS | TF_SEND_FLUSH | TF_CAN_MULTI_CONN;
        if self.overlay.is_some() {
            base | TF_SEND_FUA | TF_SEND_TRIM | TF_SEND_WRITE_ZEROES
        } else {
            base | TF_READ_ONLY
        }
    }

    fn size(&self) -> u64 {
        self.disk.size()
    }

    fn read(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        match &self.overlay {
            Some(o) => o.read_merged(self.disk.as_ref(), buf, offset),
            None => self.disk.read_exact_at(buf, offset),
        }
    }

    /// Whether `[offset, offset + len)` reads as zeros known without reading: a hole of the
    /// disk that the overlay has not written.
    fn is_hole(&self, offset: u64, len: u64) -> bool {
        self.disk.is_hole(offset, len)
            && self
                .overlay
                .as_ref()
                .is_none_or(|o| !o.any_written(offset, len))
    }

    /// The run starting at `pos` (before `end`) that is all hole or all data: its length and
    /// whether it is a hole. Runs end on [`GRAIN`] boundaries (or at `end`); a data run is
    /// not looked at past `max_data` bytes (the caller takes no more of it at once).
    fn run(&self, pos: u64, end: u64, max_data: u64) -> (u64, bool) {
        let base = pos / GRAIN * GRAIN;
        let stop = |k: u64| (base + k * GRAIN).min(end);
        let kmax = (end - base).div_ceil(GRAIN);
        if self.is_hole(pos, stop(1) - pos) {
            // Holes are checked as whole ranges, so gallop, then narrow down.
            let mut good = 1;
            let mut step = 1;
            while good < kmax {
                let k = (good + step).min(kmax);
                if self.is_hole(pos, stop(k) - pos) {
                    good = k;
                    step *= 2;
                } else if step == 1 {
                    break;
                } else {
                    step = 1;
                }
            }
            (stop(good) - pos, true)
        } else {
            let mut k = 1;
            while k < kmax
                && stop(k) - pos < max_data
                && !self.is_hole(stop(k), stop(k + 1) - stop(k))
            {
                k += 1;
            }
            (stop(k) - pos, false)
        }
    }
}

/// Something the server tells its user interface.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    Connected {
        client: String,
    },
    Disconnected {
        client: String,
        /// Why, when it was not the client's own clean goodbye.
        reason: Option<String>,
    },
    /// A read the server could not answer (a damaged or missing chunk): the client got EIO.
    ReadFailed {
        client: String,
        offset: u64,
        len: u64,
        error: String,
    },
    /// A write, trim or flush to the overlay failed: the client got EIO.
    WriteFailed {
        client: String,
        offset: u64,
        error: String,
    },
    /// A connection past [`MAX_CLIENTS`] was closed.
    Refused {
        client: String,
    },
}

/// Where the server listens.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn try_clone(&self) -> std::io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }
    fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
    fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

impl Listener {
    fn accept(&self) -> std::io::Result<(Stream, String)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept()?;
                s.set_nonblocking(false)?;
                // Replies are whole messages: send them now, not after the next one.
                s.set_nodelay(true)?;
                Ok((Stream::Tcp(s), peer.to_string()))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept()?;
                s.set_nonblocking(false)?;
                Ok((Stream::Unix(s), "local socket client".to_string()))
            }
        }
    }
    fn set_nonblocking(&self) -> std::io::Result<()> {
        match self {
            Listener::Tcp(l) => l.set_nonblocking(true),
            Listener::Unix(l) => l.set_nonblocking(true),
        }
    }
}

/// Serves `export` to every client of `listener`, each on a thread of its own, until
/// `cancel` is set (open connections are then closed) or, with `once`, until the first
/// client has gone (the others are served to their end). The overlay is flushed whenever a
/// connection ends.
pub fn serve(
    listener: &Listener,
    export: &Export,
    notify: &(dyn Fn(Notice) + Sync),
    cancel: &Cancel,
    once: bool,
) -> Result<()> {
    // Polled, so Ctrl-C is noticed without a signal reaching the accepting thread.
    listener
        .set_nonblocking()
        .map_err(|e| Error::io("nbd listener", e))?;
    let open: Mutex<Vec<(u64, Stream)>> = Mutex::new(Vec::new());
    let active = AtomicUsize::new(0);
    let first_gone = AtomicBool::new(false);
    let lock = || open.lock().unwrap_or_else(|p| p.into_inner());
    std::thread::scope(|scope| {
        let mut next_id = 0u64;
        let done = || cancel.is_cancelled() || (once && first_gone.load(Ordering::SeqCst));
        while !done() {
            let (stream, client) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors and the like: pass, and try again shortly.
                    notify(Notice::Disconnected {
                        client: "a client".into(),
                        reason: Some(format!("could not accept the connection: {e}")),
                    });
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
            };
            if active.load(Ordering::SeqCst) >= MAX_CLIENTS {
                stream.shutdown();
                notify(Notice::Refused { client });
                continue;
            }
            let Ok(handle) = stream.try_clone() else {
                continue;
            };
            let id = next_id;
            next_id += 1;
            lock().push((id, handle));
            active.fetch_add(1, Ordering::SeqCst);
            let (active, first_gone, open) = (&active, &first_gone, &open);
            scope.spawn(move || {
                notify(Notice::Connected {
                    client: client.clone(),
                });
                let reason = match stream.try_clone() {
                    Ok(w) => {
                        // An idle client (a mounted nbd device) may stay silent for as long
                        // as it likes once negotiated; during negotiation it may not.
                        let _ = stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
                        let r = BufReader::with_capacity(64 << 10, stream);
                        let mut c = Conn::new(
                            r,
                            BufWriter::with_capacity(64 << 10, w),
                            export,
                            &client,
                            notify,
                        );
                        c.after_negotiation = Some(Box::new(|r: &BufReader<Stream>| {
                            let _ = r.get_ref().set_read_timeout(None);
                        }));
                        c.run().err()
                    }
                    Err(e) => Some(io_err(e)),
                };
                if let Some(o) = &export.overlay {
                    if let Err(e) = o.flush() {
                        notify(Notice::WriteFailed {
                            client: client.clone(),
                            offset: 0,
                            error: format!("saving the overlay map: {e}"),
                        });
                    }
                }
                notify(Notice::Disconnected { client, reason });
                open.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|(i, _)| *i != id);
                first_gone.store(true, Ordering::SeqCst);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
        // Cancelled: close every connection, so their threads end and the scope joins them.
        // With `once`, wait for the others unless cancelled meanwhile.
        while active.load(Ordering::SeqCst) > 0 {
            if cancel.is_cancelled() {
                for (_, s) in lock().iter() {
                    s.shutdown();
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    Ok(())
}

/// Why a connection ended early: said to the user, never to the client.
type ConnResult<T> = std::result::Result<T, String>;

fn io_err(e: std::io::Error) -> String {
    match e.kind() {
        ErrorKind::UnexpectedEof => "the client closed the connection".into(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            "the client did not finish negotiating in time".into()
        }
        _ => format!("connection error: {e}"),
    }
}

/// Serves one client connection given as its two directions, to its end: what the server
/// runs for every client, open for tests and fuzzing with any byte source. Returns why it
/// ended early, if it did.
pub fn serve_connection<R: Read, W: Write>(
    r: R,
    w: W,
    export: &Export,
    client: &str,
    notify: &(dyn Fn(Notice) + Sync),
) -> Option<String> {
    Conn::new(r, w, export, client, notify).run().err()
}

/// Serves a connection already past negotiation: what the kernel's NBD driver speaks once
/// [`kernel::KernelNbd`] handed it one end of a socket pair (no handshake, simple replies).
pub fn serve_transmission<R: Read, W: Write>(
    r: R,
    w: W,
    export: &Export,
    client: &str,
    notify: &(dyn Fn(Notice) + Sync),
) -> Option<String> {
    Conn::new(r, w, export, client, notify).transmit().err()
}

type AfterNegotiation<'a, R> = Box<dyn FnOnce(&R) + 'a>;

struct Conn<'a, R: Read, W: Write> {
    r: R,
    w: W,
    /// Run once the client chose the export (the TCP server lifts the handshake timeout).
    after_negotiation: Option<AfterNegotiation<'a, R>>,
    export: &'a Export,
    client: &'a str,
    notify: &'a (dyn Fn(Notice) + Sync),
    structured: bool,
    /// `base:allocation` was selected: block status may be asked for.
    allocation: bool,
}

/// A request's header.
struct Request {
    flags: u16,
    kind: u16,
    handle: u64,
    offset: u64,
    len: u32,
}

impl<'a, R: Read, W: Write> Conn<'a, R, W> {
    fn new(
        r: R,
        w: W,
        export: &'a Export,
        client: &'a str,
        notify: &'a (dyn Fn(Notice) + Sync),
    ) -> Conn<'a, R, W> {
        Conn {
            r,
            w,
            after_negotiation: None,
            export,
            client,
            notify,
            structured: false,
            allocation: false,
        }
    }

    fn run(&mut self) -> ConnResult<()> {
        if !self.negotiate()? {
            return Ok(());
        }
        if let Some(f) = self.after_negotiation.take() {
            f(&self.r);
        }
        self.transmit()
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> ConnResult<()> {
        self.r.read_exact(buf).map_err(io_err)
    }
    fn u32(&mut self) -> ConnResult<u32> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn u64(&mut self) -> ConnResult<u64> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    /// Reads and drops `n` bytes through a small buffer.
    fn discard(&mut self, mut n: u64) -> ConnResult<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            self.read_exact(&mut buf[..k])?;
            n -= k as u64;
        }
        Ok(())
    }
    fn send(&mut self, parts: &[&[u8]]) -> ConnResult<()> {
        for p in parts {
            self.w.write_all(p).map_err(io_err)?;
        }
        self.w.flush().map_err(io_err)
    }

    /// Option haggling. True when the client chose the export (transmission follows),
    /// false when it left.
    fn negotiate(&mut self) -> ConnResult<bool> {
        let mut hello = Vec::with_capacity(18);
        hello.extend_from_slice(&NBDMAGIC.to_be_bytes());
        hello.extend_from_slice(&IHAVEOPT.to_be_bytes());
        hello.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
        self.send(&[&hello])?;
        let cflags = self.u32()?;
        if cflags & !(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES) != 0 {
            return Err(format!("the client sent unknown flags {cflags:#x}"));
        }
        let no_zeroes = cflags & FLAG_C_NO_ZEROES != 0;
        loop {
            let magic = self.u64()?;
            if magic != IHAVEOPT {
                return Err(format!("the client sent {magic:#x} where an option starts"));
            }
            let opt = self.u32()?;
            let len = self.u32()?;
            if len > MAX_OPTION {
                if opt == OPT_EXPORT_NAME {
                    return Err(format!("the client sent a {len}-byte export name"));
                }
                self.discard(u64::from(len))?;
                self.reply_err(opt, REP_ERR_TOO_BIG, "option too long")?;
                continue;
            }
            let mut data = vec![0u8; len as usize];
            self.read_exact(&mut data)?;
            match opt {
                OPT_EXPORT_NAME => {
                    let mut out = Vec::with_capacity(10 + 124);
                    out.extend_from_slice(&self.export.size().to_be_bytes());
                    out.extend_from_slice(&self.export.flags().to_be_bytes());
                    if !no_zeroes {
                        out.extend_from_slice(&[0u8; 124]);
                    }
                    self.send(&[&out])?;
                    return Ok(true);
                }
                OPT_ABORT => {
                    // The client may already be gone: a failed ack is no error.
                    let _ = self.reply(opt, REP_ACK, &[]);
                    return Ok(false);
                }
                OPT_LIST => {
                    if !data.is_empty() {
                        self.reply_err(opt, REP_ERR_INVALID, "NBD_OPT_LIST takes no data")?;
                        continue;
                    }
                    let name = self.export.name.as_bytes();
                    let mut d = (name.len() as u32).to_be_bytes().to_vec();
                    d.extend_from_slice(name);
                    self.reply(opt, REP_SERVER, &d)?;
                    self.reply(opt, REP_ACK, &[])?;
                }
                OPT_INFO | OPT_GO => {
                    let Some(wanted) = parse_info(&data) else {
                        self.reply_err(opt, REP_ERR_INVALID, "malformed NBD_OPT_INFO/GO")?;
                        continue;
                    };
                    let mut d = INFO_EXPORT.to_be_bytes().to_vec();
                    d.extend_from_slice(&self.export.size().to_be_bytes());
                    d.extend_from_slice(&self.export.flags().to_be_bytes());
                    self.reply(opt, REP_INFO, &d)?;
                    if wanted.contains(&INFO_NAME) {
                        let mut d = INFO_NAME.to_be_bytes().to_vec();
                        d.extend_from_slice(self.export.name.as_bytes());
                        self.reply(opt, REP_INFO, &d)?;
                    }
                    if wanted.contains(&INFO_DESCRIPTION) {
                        let mut d = INFO_DESCRIPTION.to_be_bytes().to_vec();
                        let text = self.export.description.as_bytes();
                        d.extend_from_slice(&text[..text.len().min(4096)]);
                        self.reply(opt, REP_INFO, &d)?;
                    }
                    // Always sent: it tells every client the largest request we take.
                    let mut d = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
                    d.extend_from_slice(&1u32.to_be_bytes());
                    d.extend_from_slice(&(GRAIN as u32).to_be_bytes());
                    d.extend_from_slice(&MAX_REQUEST.to_be_bytes());
                    self.reply(opt, REP_INFO, &d)?;
                    self.reply(opt, REP_ACK, &[])?;
                    if opt == OPT_GO {
                        return Ok(true);
                    }
                }
                OPT_STRUCTURED_REPLY => {
                    if !data.is_empty() {
                        self.reply_err(opt, REP_ERR_INVALID, "takes no data")?;
                        continue;
                    }
                    self.structured = true;
                    self.reply(opt, REP_ACK, &[])?;
                }
                OPT_LIST_META_CONTEXT | OPT_SET_META_CONTEXT => {
                    if !self.structured {
                        self.reply_err(opt, REP_ERR_INVALID, "negotiate structured replies first")?;
                        continue;
                    }
                    let Some(queries) = parse_meta_queries(&data) else {
                        self.reply_err(opt, REP_ERR_INVALID, "malformed metadata context query")?;
                        continue;
                    };
                    let set = opt == OPT_SET_META_CONTEXT;
                    let matched = if set {
                        queries.iter().any(|q| q == BASE_ALLOCATION)
                    } else {
                        queries.is_empty()
                            || queries.iter().any(|q| q == BASE_ALLOCATION || q == "base:")
                    };
                    if set {
                        self.allocation = matched;
                    }
                    if matched {
                        let id = if set { BASE_ALLOCATION_ID } else { 0 };
                        let mut d = id.to_be_bytes().to_vec();
                        d.extend_from_slice(BASE_ALLOCATION.as_bytes());
                        self.reply(opt, REP_META_CONTEXT, &d)?;
                    }
                    self.reply(opt, REP_ACK, &[])?;
                }
                _ => {
                    self.reply_err(opt, REP_ERR_UNSUP, "option not supported by wraith")?;
                }
            }
        }
    }

    fn reply(&mut self, opt: u32, kind: u32, data: &[u8]) -> ConnResult<()> {
        let mut h = Vec::with_capacity(20);
        h.extend_from_slice(&REPLY_MAGIC.to_be_bytes());
        h.extend_from_slice(&opt.to_be_bytes());
        h.extend_from_slice(&kind.to_be_bytes());
        h.extend_from_slice(&(data.len() as u32).to_be_bytes());
        self.send(&[&h, data])
    }

    fn reply_err(&mut self, opt: u32, kind: u32, message: &str) -> ConnResult<()> {
        self.reply(opt, kind, message.as_bytes())
    }

    fn transmit(&mut self) -> ConnResult<()> {
        loop {
            let mut h = [0u8; 28];
            match self.r.read_exact(&mut h) {
                Ok(()) => {}
                // Gone without NBD_CMD_DISC (qemu does so after NBD_CMD_DISC too): done.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(io_err(e)),
            }
            let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
            let be64 = |i: usize| (u64::from(be32(i)) << 32) | u64::from(be32(i + 4));
            if be32(0) != REQUEST_MAGIC {
                return Err(format!(
                    "the client sent {:#x} where a request starts",
                    be32(0)
                ));
            }
            let req = Request {
                flags: u16::from_be_bytes([h[4], h[5]]),
                kind: u16::from_be_bytes([h[6], h[7]]),
                handle: be64(8),
                offset: be64(16),
                len: be32(24),
            };
            match req.kind {
                CMD_READ => self.cmd_read(&req)?,
                CMD_WRITE => self.cmd_write(&req)?,
                CMD_DISC => return Ok(()),
                CMD_FLUSH => {
                    let r = self.flush(&req);
                    self.done(&req, r)?;
                }
                CMD_TRIM | CMD_WRITE_ZEROES => self.cmd_trim_or_zero(&req)?,
                CMD_BLOCK_STATUS => self.cmd_block_status(&req)?,
                _ => self.fail(&req, EINVAL, "unknown command")?,
            }
        }
    }

    /// The request's range, if it lies within the disk.
    fn in_bounds(&self, req: &Request) -> bool {
        req.offset
            .checked_add(u64::from(req.len))
            .is_some_and(|e| e <= self.export.size())
    }

    fn flags_allowed(&self, req: &Request, allowed: u16) -> bool {
        // FUA is accepted (and may be ignored) on every command: clients set it on reads too.
        req.flags & !(allowed | CMD_FLAG_FUA) == 0
    }

    fn simple_reply(&mut self, req: &Request, error: u32, data: &[u8]) -> ConnResult<()> {
        let mut h = Vec::with_capacity(16);
        h.extend_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
        h.extend_from_slice(&error.to_be_bytes());
        h.extend_from_slice(&req.handle.to_be_bytes());
        self.send(&[&h, data])
    }

    fn chunk(&mut self, req: &Request, flags: u16, kind: u16, parts: &[&[u8]]) -> ConnResult<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut h = Vec::with_capacity(20);
        h.extend_from_slice(&STRUCTURED_REPLY_MAGIC.to_be_bytes());
        h.extend_from_slice(&flags.to_be_bytes());
        h.extend_from_slice(&kind.to_be_bytes());
        h.extend_from_slice(&req.handle.to_be_bytes());
        h.extend_from_slice(&(len as u32).to_be_bytes());
        let mut all: Vec<&[u8]> = vec![&h];
        all.extend_from_slice(parts);
        self.send(&all)
    }

    /// An error reply: a structured error chunk with the message when negotiated.
    fn fail(&mut self, req: &Request, error: u32, message: &str) -> ConnResult<()> {
        if self.structured {
            let m = &message.as_bytes()[..message.len().min(1024)];
            self.chunk(
                req,
                REPLY_FLAG_DONE,
                REPLY_TYPE_ERROR,
                &[&error.to_be_bytes(), &(m.len() as u16).to_be_bytes(), m],
            )
        } else {
            self.simple_reply(req, error, &[])
        }
    }

    fn done(&mut self, req: &Request, r: std::result::Result<(), (u32, String)>) -> ConnResult<()> {
        match r {
            Ok(()) => self.simple_reply(req, 0, &[]),
            Err((code, message)) => self.fail(req, code, &message),
        }
    }

    fn cmd_read(&mut self, req: &Request) -> ConnResult<()> {
        if !self.flags_allowed(req, 0) {
            return self.fail(req, EINVAL, "unsupported flags for a read");
        }
        if req.len > MAX_REQUEST {
            return self.fail(req, EINVAL, "read longer than 32 MiB");
        }
        if !self.in_bounds(req) {
            return self.fail(req, EINVAL, "read past the end of the disk");
        }
        if !self.structured {
            // The whole answer must be known before its header: an error after it cannot be
            // told any more. Bounded by MAX_REQUEST.
            let mut buf = vec![0u8; req.len as usize];
            return match self.export.read(&mut buf, req.offset) {
                Ok(()) => self.simple_reply(req, 0, &buf),
                Err(e) => {
                    self.read_failed(req.offset, u64::from(req.len), &e);
                    self.simple_reply(req, EIO, &[])
                }
            };
        }
        let end = req.offset + u64::from(req.len);
        if req.len == 0 {
            return self.chunk(req, REPLY_FLAG_DONE, REPLY_TYPE_NONE, &[]);
        }
        let mut pos = req.offset;
        let mut buf = Vec::new();
        while pos < end {
            let (n, hole) = self.export.run(pos, end, READ_PIECE);
            let n = if hole { n } else { n.min(READ_PIECE) };
            let flags = if pos + n == end { REPLY_FLAG_DONE } else { 0 };
            if hole {
                self.chunk(
                    req,
                    flags,
                    REPLY_TYPE_OFFSET_HOLE,
                    &[&pos.to_be_bytes(), &(n as u32).to_be_bytes()],
                )?;
            } else {
                buf.resize(n as usize, 0);
                // Read before the chunk's header goes out, so a failure is an error chunk,
                // never a chunk cut short.
                if let Err(e) = self.export.read(&mut buf, pos) {
                    self.read_failed(pos, n, &e);
                    let m = e.to_string();
                    let m = &m.as_bytes()[..m.len().min(1024)];
                    return self.chunk(
                        req,
                        REPLY_FLAG_DONE,
                        REPLY_TYPE_ERROR_OFFSET,
                        &[
                            &EIO.to_be_bytes(),
                            &(m.len() as u16).to_be_bytes(),
                            m,
                            &pos.to_be_bytes(),
                        ],
                    );
                }
                self.chunk(
                    req,
                    flags,
                    REPLY_TYPE_OFFSET_DATA,
                    &[&pos.to_be_bytes(), &buf],
                )?;
            }
            pos += n;
        }
        Ok(())
    }

    fn read_failed(&self, offset: u64, len: u64, e: &Error) {
        (self.notify)(Notice::ReadFailed {
            client: self.client.to_string(),
            offset,
            len,
            error: e.to_string(),
        });
    }

    fn write_failed(&self, offset: u64, e: &Error) -> (u32, String) {
        (self.notify)(Notice::WriteFailed {
            client: self.client.to_string(),
            offset,
            error: e.to_string(),
        });
        (EIO, e.to_string())
    }

    fn cmd_write(&mut self, req: &Request) -> ConnResult<()> {
        if req.len > MAX_REQUEST {
            // The payload must still be taken off the wire to find the next request.
            self.discard(u64::from(req.len))?;
            return self.fail(req, EINVAL, "write longer than 32 MiB");
        }
        let mut data = vec![0u8; req.len as usize];
        self.read_exact(&mut data)?;
        let r = self.write(req, &data);
        self.done(req, r)
    }

    fn write(&self, req: &Request, data: &[u8]) -> std::result::Result<(), (u32, String)> {
        let Some(o) = &self.export.overlay else {
            return Err((
                EPERM,
                "read-only export (serve with --writable-overlay)".into(),
            ));
        };
        if !self.flags_allowed(req, 0) {
            return Err((EINVAL, "unsupported flags for a write".into()));
        }
        if !self.in_bounds(req) {
            return Err((ENOSPC, "write past the end of the disk".into()));
        }
        o.write(self.export.disk.as_ref(), data, req.offset)
            .map_err(|e| self.write_failed(req.offset, &e))?;
        if req.flags & CMD_FLAG_FUA != 0 {
            o.flush().map_err(|e| self.write_failed(req.offset, &e))?;
        }
        Ok(())
    }

    fn flush(&self, req: &Request) -> std::result::Result<(), (u32, String)> {
        match &self.export.overlay {
            Some(o) => o.flush().map_err(|e| self.write_failed(req.offset, &e)),
            None => Ok(()),
        }
    }

    fn cmd_trim_or_zero(&mut self, req: &Request) -> ConnResult<()> {
        let r = (|| {
            let Some(o) = &self.export.overlay else {
                return Err((
                    EPERM,
                    "read-only export (serve with --writable-overlay)".into(),
                ));
            };
            let allowed = if req.kind == CMD_WRITE_ZEROES {
                CMD_FLAG_NO_HOLE
            } else {
                0
            };
            if !self.flags_allowed(req, allowed) {
                return Err((EINVAL, "unsupported flags".into()));
            }
            if !self.in_bounds(req) {
                return Err((ENOSPC, "past the end of the disk".into()));
            }
            // A trim is a hint that may be ignored: the bytes stay as they read. Zeros are
            // written into the overlay a piece at a time.
            if req.kind == CMD_WRITE_ZEROES {
                o.write_zeroes(self.export.disk.as_ref(), req.offset, u64::from(req.len))
                    .map_err(|e| self.write_failed(req.offset, &e))?;
            }
            if req.flags & CMD_FLAG_FUA != 0 {
                o.flush().map_err(|e| self.write_failed(req.offset, &e))?;
            }
            Ok(())
        })();
        self.done(req, r)
    }

    fn cmd_block_status(&mut self, req: &Request) -> ConnResult<()> {
        if !self.structured || !self.allocation {
            return self.fail(req, EINVAL, "no metadata context was selected");
        }
        if !self.flags_allowed(req, CMD_FLAG_REQ_ONE) {
            return self.fail(req, EINVAL, "unsupported flags for block status");
        }
        if req.len == 0 || !self.in_bounds(req) {
            return self.fail(req, EINVAL, "block status past the end of the disk");
        }
        let end = req.offset + u64::from(req.len).min(STATUS_SPAN);
        let one = req.flags & CMD_FLAG_REQ_ONE != 0;
        let mut d = BASE_ALLOCATION_ID.to_be_bytes().to_vec();
        let mut pos = req.offset;
        let mut count = 0;
        while pos < end && count < STATUS_MAX_EXTENTS && !(one && count == 1) {
            let (n, hole) = self.export.run(pos, end, u64::MAX);
            let state = if hole { STATE_HOLE | STATE_ZERO } else { 0 };
            d.extend_from_slice(&(n as u32).to_be_bytes());
            d.extend_from_slice(&state.to_be_bytes());
            pos += n;
            count += 1;
        }
        self.chunk(req, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, &[&d])
    }
}

/// The information requests of NBD_OPT_INFO/GO, if the option is well formed.
fn parse_info(d: &[u8]) -> Option<Vec<u16>> {
    let n = u32::from_be_bytes(d.get(..4)?.try_into().ok()?) as usize;
    let rest = d.get(4usize.checked_add(n)?..)?;
    let count = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let list = rest.get(2..)?;
    if list.len() != count * 2 {
        return None;
    }
    Some(
        list.chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect(),
    )
}

/// The queries of NBD_OPT_LIST/SET_META_CONTEXT (after the export name), if well formed.
fn parse_meta_queries(d: &[u8]) -> Option<Vec<String>> {
    let n = u32::from_be_bytes(d.get(..4)?.try_into().ok()?) as usize;
    let mut rest = d.get(4usize.checked_add(n)?..)?;
    let count = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    rest = &rest[4..];
    // Not allocated by `count`: each query takes at least 4 bytes of the (bounded) option.
    let mut out = Vec::new();
    for _ in 0..count {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let q = rest.get(4..4usize.checked_add(len)?)?;
        out.push(String::from_utf8_lossy(q).into_owned());
        rest = &rest[4 + len..];
    }
    rest.is_empty().then_some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A disk whose second half is a hole, to check runs without a repository.
    struct Half(Vec<u8>);
    impl ReadAt for Half {
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
            self.0.read_exact_at(buf, offset)
        }
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn is_hole(&self, offset: u64, len: u64) -> bool {
            offset >= self.size() / 2 && offset + len <= self.size()
        }
    }

    #[test]
    fn runs_split_data_from_holes_on_grain_boundaries() {
        let size = 1 << 20;
        let mut v = vec![0u8; size];
        v[..size / 2].fill(7);
        let e = Export {
            name: "t".into(),
            description: String::new(),
            disk: Arc::new(Half(v)),
            overlay: None,
        };
        let end = size as u64;
        assert_eq!(e.run(100, end, u64::MAX), (end / 2 - 100, false));
        assert_eq!(e.run(100, end, 10_000), (3 * GRAIN - 100, false));
        assert_eq!(e.run(end / 2, end, u64::MAX), (end / 2, true));
        assert_eq!(e.run(end / 2 + 5, end - 3, u64::MAX), (end / 2 - 8, true));
    }

    #[test]
    fn malformed_options_are_refused_without_panicking() {
        assert_eq!(parse_info(&[0, 0, 0, 1, b'a', 0, 1, 0, 3]), Some(vec![3]));
        assert_eq!(parse_info(&[0, 0, 0, 9, b'a', 0, 1, 0, 3]), None);
        assert_eq!(parse_info(&[255, 255, 255, 255]), None);
        let mut q = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 15];
        q.extend_from_slice(b"base:allocation");
        assert_eq!(parse_meta_queries(&q), Some(vec![BASE_ALLOCATION.into()]));
        assert_eq!(parse_meta_queries(&q[..q.len() - 1]), None);
        assert_eq!(parse_meta_queries(&[0, 0, 0, 0, 255, 255, 255, 255]), None);
    }
}
