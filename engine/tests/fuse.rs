//! `fuse`: the read-only FUSE file server, through the real kernel. The served file reads as
//! the image byte for byte, says it is read-only and refuses writes; the kernel mounts an ext4
//! partition of it through a read-only loop device and its files are the source tree's; a
//! failing reader is EIO for that range alone and a notice naming the offset; concurrent
//! readers get the right bytes; a killed server leaves a dead mount that a lazy unmount
//! removes; nothing stays in the mount table. Root, /dev/fuse and loop devices.
//!
//! `FuseTree`: a partition's filesystem (FAT32 by mcopy, ext4 by mkfs -d, the gpt fixture's
//! FAT32/ext4/NTFS) walked with std::fs gives exactly the source's names, bytes, times, modes,
//! symlinks and hard links; writes are refused; names the kernel cannot take and files the
//! readers cannot decode are left out or refused with a notice.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::{BufRead, Read};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use wraith_engine::device::{Device, ReadAt};
use wraith_engine::fuse::{FuseFile, FuseNotice, FuseTree};
use wraith_engine::loopdev::LoopDev;
use wraith_testkit::Prng;

/// Root, /dev/fuse and (when `loops`) the loop driver; says why not otherwise.
fn can_run(what: &str, loops: bool) -> bool {
    let missing = if !nix::unistd::geteuid().is_root() {
        Some("root")
    } else if !Path::new("/dev/fuse").exists() {
        Some("/dev/fuse")
    } else if loops && !Path::new("/dev/loop-control").exists() {
        Some("loop devices (/dev/loop-control)")
    } else {
        None
    };
    let Some(m) = missing else { return true };
    assert!(
        std::env::var_os("WRAITH_NO_SKIP").is_none(),
        "{what} needs {m} and WRAITH_NO_SKIP is set"
    );
    eprintln!("SKIPPED {what}: needs {m}");
    false
}

fn have_tools(what: &str, tools: &[&str]) -> bool {
    for t in tools {
        if wraith_testkit::find_tool(t).is_none() {
            wraith_testkit::skip_missing_tool(t, what);
            return false;
        }
    }
    true
}

fn run(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Whether anything is mounted at `point` (or below it).
fn mounted_under(point: &Path) -> Vec<String> {
    let p = point.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&p)))
        .map(str::to_string)
        .collect()
}

/// Unmounts (lazily) when dropped, so a failing assertion leaves no mount behind.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let c = CString::new(self.0.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

type Notify = Arc<dyn Fn(FuseNotice) + Send + Sync>;

/// The notices told, and the callback that records them.
fn notices() -> (Arc<Mutex<Vec<FuseNotice>>>, Notify) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (seen, Arc::new(move |n| s.lock().unwrap().push(n)))
}

/// The source tree: small files, a nested directory, an empty file and a multi-MiB file of
/// random bytes (spanning many FUSE reads and loop requests).
fn make_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut p = Prng::new(17);
    let mut files = BTreeMap::new();
    files.insert("hello.txt".to_string(), b"hello through fuse\n".to_vec());
    files.insert("empty".to_string(), Vec::new());
    files.insert("big.bin".to_string(), p.bytes(5 << 20 | 1234));
    files.insert(
        "sub/deeper/notes.txt".to_string(),
        wraith_testkit::text(3, 70_000),
    );
    files.insert("sub/odd size".to_string(), p.bytes(4097));
    for (name, data) in &files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    files
}

/// Every regular file under `root`, by relative path (lost+found skipped).
fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == "lost+found" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

const PART_START: u64 = 1 << 20;
const PART_LEN: u64 = 24 << 20;

/// A 32 MiB MBR disk image (sfdisk) whose one partition, at 1 MiB, holds an ext4 filesystem
/// made with `mkfs.ext4 -d` from the source tree.
struct Fixture {
    dir: tempfile::TempDir,
    files: BTreeMap<String, Vec<u8>>,
    image: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let files = make_tree(&tree);
    let fs = dir.path().join("fs.img");
    std::fs::File::create(&fs)
        .unwrap()
        .set_len(PART_LEN)
        .unwrap();
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "fused", "-d"])
        .arg(&tree)
        .arg(&fs));
    let image = dir.path().join("disk.img");
    let f = std::fs::File::create(&image).unwrap();
    f.set_len(32 << 20).unwrap();
    let mut sfdisk = Command::new("sfdisk")
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .arg(&image)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let script = format!(
            "label: dos\nstart={}, size={}, type=83\n",
            PART_START / 512,
            PART_LEN / 512
        );
        sfdisk
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
    }
    assert!(
        sfdisk.wait().unwrap().success(),
        "sfdisk on {}",
        image.display()
    );
    f.write_all_at(&std::fs::read(&fs).unwrap(), PART_START)
        .unwrap();
    Fixture { dir, files, image }
}

#[test]
fn the_served_file_reads_as_the_image_and_refuses_writes() {
    let what = "FUSE file read";
    if !can_run(what, false) || !have_tools(what, &["mkfs.ext4", "sfdisk"]) {
        return;
    }
    let fx = fixture();
    let want = std::fs::read(&fx.image).unwrap();
    let mnt = fx.dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let (seen, notify) = notices();
    let disk = Arc::new(Device::open_read(&fx.image).unwrap());
    let fuse = FuseFile::mount(&mnt, "disk.img", disk, notify).unwrap();
    assert_eq!(fuse.file(), mnt.join("disk.img"));

    let got = std::fs::read(fuse.file()).unwrap();
    assert!(
        got == want,
        "the FUSE file differs from {}",
        fx.image.display()
    );

    let meta = std::fs::metadata(fuse.file()).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.len(), want.len() as u64);
    assert_eq!(meta.permissions().mode() & 0o7777, 0o444);
    let names: Vec<_> = std::fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["disk.img"]);
    assert!(std::fs::metadata(mnt.join("other")).is_err());

    let w = std::fs::OpenOptions::new().write(true).open(fuse.file());
    let err = w.expect_err("a write open of the served file succeeded");
    assert!(
        matches!(err.raw_os_error(), Some(libc::EROFS | libc::EACCES)),
        "write open: {err}"
    );
    assert!(std::fs::write(mnt.join("new"), b"x").is_err());
    assert!(std::fs::remove_file(fuse.file()).is_err());
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    assert!(
        std::fs::read(&fx.image).unwrap() == want,
        "the source image changed"
    );

    drop(fuse);
    assert_eq!(mounted_under(&mnt), Vec::<String>::new());
}

#[test]
fn the_kernel_mounts_a_partition_of_the_served_file() {
    let what = "ext4 through FUSE and a loop device";
    if !can_run(what, true) || !have_tools(what, &["mkfs.ext4", "sfdisk", "mount"]) {
        return;
    }
    let fx = fixture();
    let mnt = fx.dir.path().join("mnt");
    let part = fx.dir.path().join("part");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::create_dir(&part).unwrap();
    let (seen, notify) = notices();
    let disk = Arc::new(Device::open_read(&fx.image).unwrap());
    let fuse = FuseFile::mount(&mnt, "disk.img", disk, notify).unwrap();
    {
        let lo = LoopDev::attach_readonly(&fuse.file(), PART_START, PART_LEN).unwrap();
        let size = Device::open_read(lo.path()).unwrap().size();
        assert_eq!(size, PART_LEN, "the loop device is the partition's range");
        assert_read_only(lo.path());
        run(Command::new("mount")
            .args(["-o", "ro,noload", "-t", "ext4"])
            .arg(lo.path())
            .arg(&part));
        let guard = Unmount(part.clone());
        let got = read_tree(&part);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            fx.files.keys().collect::<Vec<_>>()
        );
        for (name, data) in &fx.files {
            assert!(
                got[name] == *data,
                "{name} differs through FUSE + loop + ext4"
            );
        }
        run(Command::new("umount").arg(&part));
        drop(guard);
        drop(lo);
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    drop(fuse);
    assert_eq!(mounted_under(fx.dir.path()), Vec::<String>::new());
}

/// Dropping the server while a loop device still holds the file returns at once (the mount is
/// detached lazily, the connection aborted): the device then fails its reads rather than
/// hanging, and once it goes, nothing is left mounted.
#[test]
fn dropping_the_server_under_a_loop_device_does_not_hang() {
    use std::os::unix::fs::OpenOptionsExt;
    if !can_run("dropping a FUSE server in use", true) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = Prng::new(21).bytes(16 << 20);
    let disk: Arc<dyn ReadAt + Send + Sync> = Arc::new(data.clone());
    let (_seen, notify) = notices();
    let fuse = FuseFile::mount(dir.path(), "img", disk, notify).unwrap();
    let lo = LoopDev::attach_readonly(&fuse.file(), 1 << 20, 8 << 20).unwrap();
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(lo.path())
        .unwrap();
    // O_DIRECT needs an aligned buffer: a page inside a larger one.
    let mut raw = vec![0u8; 3 * 4096];
    let at = raw.as_ptr().align_offset(4096);
    dev.read_exact_at(&mut raw[at..at + 4096], 4 << 20).unwrap();
    assert!(raw[at..at + 4096] == data[(5 << 20)..(5 << 20) + 4096]);

    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(fuse);
        tx.send(()).unwrap();
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("dropping the FUSE server hung while a loop device held its file");
    let err = dev
        .read_exact_at(&mut raw[at..at + 4096], 6 << 20)
        .expect_err("the loop device read through a stopped server");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    drop(dev);
    drop(lo);
    // The lazily detached mount goes with its last user; the loop device lets go
    // asynchronously.
    for _ in 0..100 {
        if mounted_under(dir.path()).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(mounted_under(dir.path()), Vec::<String>::new());
}

/// Unmounted by hand and something else mounted in its place: dropping the server leaves that
/// other mount alone.
#[test]
fn dropping_the_server_leaves_a_later_mount_alone() {
    if !can_run("dropping a FUSE server unmounted by hand", false)
        || !have_tools("a mount over a FUSE mount point", &["mount", "umount"])
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk: Arc<dyn ReadAt + Send + Sync> = Arc::new(vec![7u8; 4096]);
    let (_seen, notify) = notices();
    let fuse = FuseFile::mount(dir.path(), "img", disk, notify).unwrap();
    run(Command::new("umount").arg(dir.path()));
    run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "other"])
        .arg(dir.path()));
    let _guard = Unmount(dir.path().to_path_buf());
    std::fs::write(dir.path().join("kept"), b"tmpfs").unwrap();
    drop(fuse);
    assert_eq!(std::fs::read(dir.path().join("kept")).unwrap(), b"tmpfs");
    let left = mounted_under(dir.path());
    assert!(left.len() == 1 && left[0].contains(" - tmpfs "), "{left:?}");
}

/// The kernel says the device is read-only, and a write to it fails.
fn assert_read_only(dev: &Path) {
    use std::os::fd::AsRawFd;
    const BLKROGET: libc::c_ulong = 0x125E;
    let f = std::fs::File::open(dev).unwrap();
    let mut ro: libc::c_int = 0;
    // SAFETY: BLKROGET writes one int.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKROGET, &mut ro) };
    assert_eq!(rc, 0, "BLKROGET on {}", dev.display());
    assert_eq!(ro, 1, "{} is not read-only", dev.display());
    // Recent kernels let a read-only device be opened for writing; the write itself fails.
    if let Ok(w) = std::fs::OpenOptions::new().write(true).open(dev) {
        assert!(
            w.write_all_at(&[0u8; 512], 0)
                .and_then(|()| w.sync_all())
                .is_err(),
            "{} took a write",
            dev.display()
        );
    }
}

/// Bytes in memory, failing for one range as a damaged chunk of an image would.
struct Failing {
    data: Vec<u8>,
    bad: std::ops::Range<u64>,
}

impl ReadAt for Failing {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> wraith_engine::Result<()> {
        let end = offset + buf.len() as u64;
        if offset < self.bad.end && self.bad.start < end {
            return Err(wraith_engine::Error::Corrupt {
                what: "the test image".into(),
                offset: self.bad.start,
                detail: "a damaged chunk".into(),
            });
        }
        self.data.read_exact_at(buf, offset)
    }

    fn size(&self) -> u64 {
        self.data.len() as u64
    }
}

#[test]
fn a_failing_read_is_eio_for_its_range_and_a_notice() {
    if !can_run("FUSE read errors", false) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = Prng::new(5).bytes(8 << 20);
    let bad = (3 << 20)..(3 << 20) + 4096;
    let disk = Arc::new(Failing {
        data: data.clone(),
        bad: bad.clone(),
    });
    let (seen, notify) = notices();
    let fuse = FuseFile::mount(dir.path(), "img", disk, notify).unwrap();
    let f = std::fs::File::open(fuse.file()).unwrap();

    let mut buf = vec![0u8; 4096];
    let err = f
        .read_exact_at(&mut buf, bad.start)
        .expect_err("the damaged range read");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");

    // Around it, and far from it, everything still reads.
    for (at, len) in [
        (bad.start - 4096, 4096),
        (bad.end, 4096),
        (0, 1 << 20),
        (6 << 20, 2 << 20),
    ] {
        let mut got = vec![0u8; len];
        f.read_exact_at(&mut got, at)
            .unwrap_or_else(|e| panic!("reading {len} bytes at {at}: {e}"));
        assert!(
            got[..] == data[at as usize..at as usize + len],
            "bytes at {at}"
        );
    }

    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "no notice for the failed read");
    for n in &seen {
        let FuseNotice::ReadFailed { offset, len, error } = n else {
            panic!("an unexpected notice: {n:?}");
        };
        assert!(
            *offset < bad.end && bad.start < offset + len,
            "a notice for {len} bytes at {offset}, outside the damaged range"
        );
        assert!(error.contains("the test image"), "{error}");
    }
    drop(f);
    drop(fuse);
    assert_eq!(mounted_under(dir.path()), Vec::<String>::new());
}

#[test]
fn concurrent_readers_get_their_own_bytes() {
    if !can_run("concurrent FUSE reads", false) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = Arc::new(Prng::new(9).bytes(32 << 20));
    let (seen, notify) = notices();
    let disk: Arc<dyn ReadAt + Send + Sync> = Arc::new(data.to_vec());
    let fuse = FuseFile::mount(dir.path(), "img", disk, notify).unwrap();
    let file = fuse.file();
    let readers: Vec<_> = (0..6u64)
        .map(|t| {
            let (file, data) = (file.clone(), data.clone());
            std::thread::spawn(move || {
                let f = std::fs::File::open(&file).unwrap();
                let mut p = Prng::new(100 + t);
                let mut buf = vec![0u8; 300_000];
                for _ in 0..40 {
                    let len = 1 + p.below(buf.len() as u64) as usize;
                    let at = p.below(data.len() as u64 - len as u64);
                    f.read_exact_at(&mut buf[..len], at).unwrap();
                    assert!(
                        buf[..len] == data[at as usize..at as usize + len],
                        "reader {t}: {len} bytes at {at} differ"
                    );
                }
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    assert!(seen.lock().unwrap().is_empty());
    drop(fuse);
    assert_eq!(mounted_under(dir.path()), Vec::<String>::new());
}

/// Set in the child process of the next test: where to serve, until killed.
const CHILD_ENV: &str = "WRAITH_FUSE_TEST_CHILD";

#[test]
fn child_serving_until_killed() {
    let Some(point) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let disk: Arc<dyn ReadAt + Send + Sync> = Arc::new(b"served by the child".to_vec());
    let fuse = FuseFile::mount(Path::new(&point), "img", disk, Arc::new(|_| {})).unwrap();
    println!("READY {}", fuse.file().display());
    std::thread::sleep(std::time::Duration::from_secs(120));
}

#[test]
fn a_killed_server_leaves_a_mount_that_a_lazy_unmount_removes() {
    if !can_run("a killed FUSE server", false) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_serving_until_killed", "--nocapture"])
        .env(CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("READY") {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("the child ended without serving");
        }
    }
    let _guard = Unmount(dir.path().to_path_buf());
    let file = dir.path().join("img");
    assert_eq!(std::fs::read(&file).unwrap(), b"served by the child");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut rest = String::new();
    let _ = out.read_to_string(&mut rest);

    // Attributes may still come from the kernel's cache: an open needs the server.
    let err = std::fs::File::open(&file).expect_err("the dead mount still answers");
    assert_eq!(err.raw_os_error(), Some(libc::ENOTCONN), "{err}");
    assert_eq!(mounted_under(dir.path()).len(), 1);
    let c = CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    assert_eq!(mounted_under(dir.path()), Vec::<String>::new());
}

/// A measurement, not a check of speed: sequential reads of a 256 MiB file through the FUSE
/// file against the same reader called directly (the bytes are still compared). Run with
/// `cargo test --release -p wraith-engine --test fuse -- --ignored --nocapture`.
#[test]
#[ignore]
fn sequential_throughput_through_fuse() {
    if !can_run("FUSE throughput", true) {
        return;
    }
    const SIZE: usize = 256 << 20;
    const CHUNK: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    {
        let f = std::fs::File::create(&path).unwrap();
        let mut p = Prng::new(1);
        let mut buf = vec![0u8; CHUNK];
        for i in 0..SIZE / CHUNK {
            p.fill(&mut buf);
            f.write_all_at(&buf, (i * CHUNK) as u64).unwrap();
        }
    }
    let dev = Arc::new(Device::open_read(&path).unwrap());
    let mut buf = vec![0u8; CHUNK];
    let mut want = vec![0u8; CHUNK];
    // Warm the backing file's cache, so both passes read the same memory.
    for i in 0..SIZE / CHUNK {
        dev.read_exact_at(&mut buf, (i * CHUNK) as u64).unwrap();
    }
    let t = std::time::Instant::now();
    for i in 0..SIZE / CHUNK {
        dev.read_exact_at(&mut buf, (i * CHUNK) as u64).unwrap();
    }
    let direct = t.elapsed();

    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let (_seen, notify) = notices();
    let fuse = FuseFile::mount(&mnt, "big", dev.clone(), notify).unwrap();
    let readahead = {
        use std::os::unix::fs::MetadataExt;
        let d = std::fs::metadata(&mnt).unwrap().dev();
        let p = format!(
            "/sys/class/bdi/{}:{}/read_ahead_kb",
            libc::major(d),
            libc::minor(d)
        );
        std::fs::read_to_string(p).unwrap_or_default()
    };
    let mut f = std::fs::File::open(fuse.file()).unwrap();
    let mut through = std::time::Duration::ZERO;
    for i in 0..SIZE / CHUNK {
        let t = std::time::Instant::now();
        f.read_exact(&mut buf).unwrap();
        through += t.elapsed();
        dev.read_exact_at(&mut want, (i * CHUNK) as u64).unwrap();
        assert!(buf == want, "chunk {i} differs through FUSE");
    }
    drop(f);
    drop(fuse);

    // What a mounted partition sees: a loop device over a fresh mount's file (nothing of it
    // cached yet).
    let (_seen, notify) = notices();
    let fuse = FuseFile::mount(&mnt, "big", dev.clone(), notify).unwrap();
    let lo = LoopDev::attach_readonly(&fuse.file(), 0, SIZE as u64).unwrap();
    let mut l = std::fs::File::open(lo.path()).unwrap();
    let t = std::time::Instant::now();
    let mut n = 0;
    while n < SIZE {
        l.read_exact(&mut buf).unwrap();
        n += CHUNK;
    }
    let via_loop = t.elapsed();
    drop(l);
    drop(lo);
    drop(fuse);

    let mib = (SIZE >> 20) as f64;
    eprintln!("readahead of the FUSE mount: {} KiB", readahead.trim());
    eprintln!(
        "256 MiB sequential, 1 MiB reads: direct {:.0} MiB/s ({direct:?}), through FUSE {:.0} \
         MiB/s ({through:?}), loop device over a fresh FUSE file {:.0} MiB/s ({via_loop:?})",
        mib / direct.as_secs_f64(),
        mib / through.as_secs_f64(),
        mib / via_loop.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// FuseTree: a partition's files through Wraith's own readers

/// A partition of an image file, read with pread: what `wraith mount` hands the tree server.
struct PartFile {
    file: std::fs::File,
    start: u64,
    len: u64,
}

impl ReadAt for PartFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> wraith_engine::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        assert!(
            end.is_some_and(|e| e <= self.len),
            "read past the partition"
        );
        self.file
            .read_exact_at(buf, self.start + offset)
            .map_err(|e| wraith_engine::Error::io("the test image", e))
    }
    fn size(&self) -> u64 {
        self.len
    }
}

fn part_of(image: &Path, start: u64, len: u64) -> Arc<dyn ReadAt + Send + Sync> {
    Arc::new(PartFile {
        file: std::fs::File::open(image).unwrap(),
        start,
        len,
    })
}

/// Every entry under `root` by relative path: regular files' bytes, directories as "dir",
/// symlinks as "-> target"; std::fs all the way, as a user's tools see the mount.
fn walk_all(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                out.insert(rel, b"dir".to_vec());
                walk(root, &path, out);
            } else if t.is_symlink() {
                let to = std::fs::read_link(&path).unwrap();
                let mut v = b"-> ".to_vec();
                v.extend_from_slice(to.as_os_str().as_encoded_bytes());
                out.insert(rel, v);
            } else {
                let data = std::fs::read(&path);
                out.insert(
                    rel,
                    data.unwrap_or_else(|e| panic!("{}: {e}", path.display())),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Every change under a mounted tree is refused as read-only, and nothing changed.
fn assert_tree_refuses_writes(root: &Path, file: &Path) {
    use std::fs::OpenOptions;
    let before = std::fs::read(file).unwrap();
    let erofs = |r: std::io::Result<()>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{what}: {e}");
    };
    erofs(
        OpenOptions::new().write(true).open(file).map(|_| ()),
        "opening a file for writing",
    );
    erofs(
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(root.join("new-file"))
            .map(|_| ()),
        "creating a file",
    );
    erofs(
        std::fs::create_dir(root.join("new-dir")),
        "making a directory",
    );
    erofs(std::fs::remove_file(file), "removing a file");
    erofs(
        std::fs::rename(file, root.join("renamed")),
        "renaming a file",
    );
    erofs(
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o777)),
        "changing a mode",
    );
    assert_eq!(std::fs::read(file).unwrap(), before, "the file changed");
}

#[test]
fn a_tree_serves_each_partition_of_the_gpt_fixture() {
    if !can_run("FuseTree over gpt_disk", false)
        || !have_tools("FuseTree over gpt_disk", &["mkfs.vfat", "mcopy", "mkntfs"])
    {
        return;
    }
    let disk = wraith_testkit::gpt_disk();
    for part in &disk.parts {
        let dir = tempfile::tempdir().unwrap();
        let _guard = Unmount(dir.path().to_path_buf());
        let (seen, notify) = notices();
        let tree = FuseTree::mount(
            dir.path(),
            part_of(&disk.path, part.start, part.len),
            notify,
        )
        .unwrap_or_else(|e| panic!("partition {} ({:?}): {e}", part.number, part.fs));
        assert_eq!(mounted_under(dir.path()).len(), 1);

        // The fixture lists every regular file it wrote (NTFS's own $ files are not user
        // files, and must not show).
        let got = read_tree(dir.path());
        let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(&got),
            names(&part.files),
            "partition {} ({:?}): the names served",
            part.number,
            part.fs
        );
        for (name, want) in &part.files {
            assert!(
                got[name] == *want,
                "partition {} ({:?}): {name} differs",
                part.number,
                part.fs
            );
        }
        let (first, _) = part.files.iter().next().unwrap();
        assert_tree_refuses_writes(dir.path(), &dir.path().join(first));
        assert!(
            seen.lock().unwrap().is_empty(),
            "{:?}",
            seen.lock().unwrap()
        );
        drop(tree);
        assert_eq!(mounted_under(dir.path()), Vec::<String>::new());
    }
}

/// Sets a file's modification time (seconds since 1970).
fn set_mtime(path: &Path, secs: u64, nanos: u32) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
    // futimens needs no write access: directories take it too.
    std::fs::File::open(path).unwrap().set_modified(t).unwrap();
}

fn mtime_of(path: &Path) -> (i64, i64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.mtime(), m.mtime_nsec())
}

#[test]
fn a_fat32_tree_has_the_names_bytes_and_times_mcopy_wrote() {
    let what = "FuseTree over FAT32";
    if !can_run(what, false) || !have_tools(what, &["mkfs.vfat", "mcopy", "mmd"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let mut p = Prng::new(0xfa7);
    // Relative path, bytes, mtime (even seconds: FAT keeps two-second steps).
    let files: Vec<(&str, Vec<u8>, u64)> = vec![
        (
            "notes.txt",
            b"lower-case 8.3 name\n".to_vec(),
            1_600_000_000,
        ),
        ("README", b"upper-case 8.3 name\n".to_vec(), 1_600_000_002),
        (
            "A long name with spaces.text",
            b"long name\n".to_vec(),
            1_650_000_004,
        ),
        (
            "Grüße aus Köln.txt",
            "non-ASCII\n".as_bytes().to_vec(),
            1_700_000_006,
        ),
        ("empty-one", Vec::new(), 1_700_000_008),
        ("empty-two", Vec::new(), 1_700_000_010),
        (
            "Some Dir/inner/deep file.bin",
            p.bytes(70_001),
            1_500_000_012,
        ),
        (
            "Some Dir/big random.bin",
            p.bytes(5 << 20 | 777),
            1_500_000_014,
        ),
    ];
    for (rel, data, t) in &files {
        let path = src.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
        set_mtime(&path, *t, 0);
    }
    let img = work.path().join("fat.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(48 << 20)
        .unwrap();
    run(Command::new("mkfs.vfat")
        .args(["-F", "32", "-n", "MYLABEL"])
        .arg(&img));
    // Top-level entries one by one, directories recursively; -m keeps the mtimes. TZ=UTC:
    // FAT stores local time, and the reader reads it as UTC.
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        run(Command::new("mcopy")
            .env("TZ", "UTC")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-s", "-m", "-i"])
            .arg(&img)
            .arg(e.path())
            .arg("::/"));
    }
    let size = std::fs::metadata(&img).unwrap().len();
    let dir = work.path().join("mnt");
    std::fs::create_dir(&dir).unwrap();
    let _guard = Unmount(dir.clone());
    let (seen, notify) = notices();
    let tree = FuseTree::mount(&dir, part_of(&img, 0, size), notify).unwrap();

    let got = walk_all(&dir);
    let mut want = BTreeMap::new();
    for (rel, data, _) in &files {
        want.insert(rel.to_string(), data.clone());
    }
    for d in ["Some Dir", "Some Dir/inner"] {
        want.insert(d.to_string(), b"dir".to_vec());
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "names as mcopy wrote them, no volume label entry"
    );
    for (rel, data, t) in &files {
        let path = dir.join(rel);
        assert!(got[*rel] == *data, "{rel}: bytes differ");
        assert_eq!(mtime_of(&path), (*t as i64, 0), "{rel}: mtime");
        let m = std::fs::metadata(&path).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o444, "{rel}: mode");
    }
    // Two empty files share FAT's cluster 0: they must still be two files to the kernel.
    use std::os::unix::fs::MetadataExt;
    let ino = |r: &str| std::fs::metadata(dir.join(r)).unwrap().ino();
    assert_ne!(ino("empty-one"), ino("empty-two"));
    let d = std::fs::metadata(dir.join("Some Dir")).unwrap();
    assert_eq!(d.permissions().mode() & 0o7777, 0o555);
    // Looking a name up again (kernel caches aside) answers the same node.
    assert_eq!(ino("notes.txt"), ino("notes.txt"));
    assert_tree_refuses_writes(&dir, &dir.join("notes.txt"));
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    drop(tree);
    assert_eq!(mounted_under(&dir), Vec::<String>::new());
}

#[test]
fn an_ext4_tree_keeps_links_modes_holes_and_times() {
    let what = "FuseTree over ext4";
    if !can_run(what, false) || !have_tools(what, &["mkfs.ext4"]) {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("etc/conf.d")).unwrap();
    std::fs::create_dir_all(src.join("bin")).unwrap();
    let mut p = Prng::new(0xe4);
    let secret = src.join("etc/secret");
    std::fs::write(&secret, b"only for root\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let tool = src.join("bin/tool");
    std::fs::write(&tool, p.bytes(300_000)).unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(src.join("etc/conf.d/a.conf"), b"a = 1\n").unwrap();
    std::fs::hard_link(src.join("etc/conf.d/a.conf"), src.join("etc/also-a.conf")).unwrap();
    std::os::unix::fs::symlink("../bin/tool", src.join("etc/tool-link")).unwrap();
    std::os::unix::fs::symlink("/nowhere/at/all", src.join("dangling")).unwrap();
    // Sparse: 8 MiB with data only at 1 MiB and at the end.
    let sparse = src.join("sparse.img");
    {
        let f = std::fs::File::create(&sparse).unwrap();
        f.set_len(8 << 20).unwrap();
        f.write_all_at(&p.bytes(5000), 1 << 20).unwrap();
        f.write_all_at(b"tail", (8 << 20) - 4).unwrap();
    }
    // Enough names that listing takes many READDIR calls, each resuming where the last ended.
    std::fs::create_dir(src.join("many")).unwrap();
    for i in 0..1500 {
        std::fs::write(src.join(format!("many/file number {i:04}")), i.to_string()).unwrap();
    }
    let odd = src.join("name with\nnewline and \u{00e9}");
    std::fs::write(&odd, b"odd name\n").unwrap();
    for (i, e) in walkdir(&src).iter().enumerate() {
        if !e.is_symlink() {
            set_mtime(e, 1_234_567_890 + i as u64 * 1000, 123_456_789 + i as u32);
        }
    }
    let img = work.path().join("ext4.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-I", "256", "-d"])
        .arg(&src)
        .arg(&img));
    let dir = work.path().join("mnt");
    std::fs::create_dir(&dir).unwrap();
    let _guard = Unmount(dir.clone());
    let (seen, notify) = notices();
    let tree = FuseTree::mount(&dir, part_of(&img, 0, 64 << 20), notify).unwrap();

    let mut got = walk_all(&dir);
    got.remove("lost+found");
    let want = walk_all(&src);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (rel, data) in &want {
        assert!(got[rel] == *data, "{rel}: bytes or link target differ");
        let (a, b) = (dir.join(rel), src.join(rel));
        let (ma, mb) = (
            std::fs::symlink_metadata(&a).unwrap(),
            std::fs::symlink_metadata(&b).unwrap(),
        );
        assert_eq!(ma.mode(), mb.mode(), "{rel}: mode (type and permissions)");
        // A directory's size is its own filesystem's business.
        if !mb.is_dir() {
            assert_eq!(ma.len(), mb.len(), "{rel}: size");
        }
        assert_eq!((ma.uid(), ma.gid()), (mb.uid(), mb.gid()), "{rel}: owner");
        // mkfs.ext4 -d keeps whole seconds only.
        if !mb.is_symlink() {
            assert_eq!(mtime_of(&a).0, mtime_of(&b).0, "{rel}: mtime");
        }
    }
    let m = |r: &str| std::fs::metadata(dir.join(r)).unwrap();
    assert_eq!(m("etc/secret").mode() & 0o7777, 0o600);
    assert_eq!(m("bin/tool").mode() & 0o7777, 0o755);
    assert_eq!(m("etc/also-a.conf").nlink(), 2);
    assert_eq!(
        m("etc/also-a.conf").ino(),
        m("etc/conf.d/a.conf").ino(),
        "hard links are one node"
    );
    // Following the symlink goes through the mount to the file.
    assert!(std::fs::read(dir.join("etc/tool-link")).unwrap() == std::fs::read(&tool).unwrap());

    // Memory follows what the kernel holds: once it forgets the nodes (its caches dropped),
    // the server keeps few; walking again numbers them anew and serves the same tree.
    let held = || {
        let st = nix::sys::statfs::statfs(&dir).unwrap();
        st.files()
    };
    let walked = held();
    assert!(
        walked > 1500,
        "{walked} nodes held after a walk of 1500 files"
    );
    std::fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
    let t = std::time::Instant::now();
    while held() > 100 && t.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        held() <= 100,
        "{} nodes still held after the kernel forgot them",
        held()
    );
    let mut again = walk_all(&dir);
    again.remove("lost+found");
    assert!(again == got, "the tree walked again differs");
    assert_eq!(
        m("etc/also-a.conf").ino(),
        m("etc/conf.d/a.conf").ino(),
        "hard links are one node after forgetting"
    );
    assert_tree_refuses_writes(&dir, &dir.join("bin/tool"));
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    drop(tree);
    assert_eq!(mounted_under(&dir), Vec::<String>::new());
}

/// Every path under `root` (not following symlinks), parents before children.
fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).unwrap() {
        let path = e.unwrap().path();
        out.push(path.clone());
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            out.extend(walkdir(&path));
        }
    }
    out
}

#[test]
fn a_tree_over_no_known_filesystem_is_refused_and_mounts_nothing() {
    if !can_run("FuseTree over random bytes", false) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let junk: Arc<dyn ReadAt + Send + Sync> = Arc::new(Prng::new(5).bytes(4 << 20));
    let (_, notify) = notices();
    let err = FuseTree::mount(dir.path(), junk, notify)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no ext2/3/4, FAT or NTFS"), "{err}");
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert_eq!(mounted_under(dir.path()), Vec::<String>::new());
}

#[test]
fn names_the_kernel_cannot_take_are_left_out_with_a_notice() {
    let what = "FuseTree over crafted ext2 names";
    if !can_run(what, false) || !have_tools(what, &["mkfs.ext2"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir(&src).unwrap();
    // Names of the same length as what they become once the image is edited: no checksums
    // on ext2 directory blocks, so the edit stands as a crafted image would.
    for (name, data) in [
        ("QslashQnameQ", "becomes a/name/\n"),
        ("QQ", "becomes ..\n"),
        ("Q", "becomes .\n"),
        ("kept.txt", "kept\n"),
    ] {
        std::fs::write(src.join(name), data).unwrap();
    }
    let img = work.path().join("ext2.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    run(Command::new("mkfs.ext2")
        .args(["-q", "-F", "-d"])
        .arg(&src)
        .arg(&img));
    let mut bytes = std::fs::read(&img).unwrap();
    let mut edit = |from: &[u8], to: &[u8], len_byte: u8| {
        // An ext2 directory record: inode(4) rec_len(2) name_len(1) type(1) name.
        let at = bytes
            .windows(from.len() + 2)
            .position(|w| w[0] == len_byte && w[2..] == *from)
            .unwrap_or_else(|| panic!("{from:?} not found in the image"));
        bytes[at + 2..at + 2 + to.len()].copy_from_slice(to);
    };
    edit(b"QslashQnameQ", b"a/name/\0\0\0\0\0", 12);
    edit(b"QQ", b"..", 2);
    edit(b"Q", b".", 1);
    // The name_len of the slashed one stays 12: "a/name/" then NULs.
    std::fs::write(&img, &bytes).unwrap();

    let dir = work.path().join("mnt");
    std::fs::create_dir(&dir).unwrap();
    let _guard = Unmount(dir.clone());
    let (seen, notify) = notices();
    let tree = FuseTree::mount(&dir, part_of(&img, 0, 8 << 20), notify).unwrap();
    let mut got = walk_all(&dir);
    got.remove("lost+found");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        vec!["kept.txt"],
        "only the sound name is served"
    );
    assert!(got["kept.txt"] == b"kept\n");
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|n| matches!(
            n,
            FuseNotice::Skipped { path, why } if path.starts_with("/a/name/") && why.contains('/')
        )),
        "{seen:?}"
    );
    drop(tree);
    assert_eq!(mounted_under(&dir), Vec::<String>::new());
}

/// Reading one large file of ext4 and of FAT32 through FuseTree (fresh mount, nothing cached):
/// `cargo test --release -p wraith-engine --test fuse -- --ignored --nocapture tree_throughput`.
#[test]
#[ignore]
fn tree_throughput() {
    let what = "FuseTree throughput";
    if !can_run(what, false) || !have_tools(what, &["mkfs.ext4", "mkfs.vfat", "mcopy"]) {
        return;
    }
    const LEN: usize = 192 << 20;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let data = Prng::new(3).bytes(LEN);
    std::fs::write(src.join("big.bin"), &data).unwrap();
    for fs in ["ext4", "vfat"] {
        let img = work.path().join(format!("{fs}.img"));
        std::fs::File::create(&img)
            .unwrap()
            .set_len(256 << 20)
            .unwrap();
        if fs == "ext4" {
            run(Command::new("mkfs.ext4")
                .args(["-q", "-F", "-d"])
                .arg(&src)
                .arg(&img));
        } else {
            run(Command::new("mkfs.vfat").args(["-F", "32"]).arg(&img));
            run(Command::new("mcopy")
                .args(["-i"])
                .arg(&img)
                .arg(src.join("big.bin"))
                .arg("::/"));
        }
        let dir = work.path().join(format!("mnt-{fs}"));
        std::fs::create_dir(&dir).unwrap();
        let _guard = Unmount(dir.clone());
        let (_, notify) = notices();
        let tree = FuseTree::mount(&dir, part_of(&img, 0, 256 << 20), notify).unwrap();
        let t = std::time::Instant::now();
        let mut f = std::fs::File::open(dir.join("big.bin")).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0usize;
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            assert!(buf[..n] == data[at..at + n], "{fs}: bytes at {at}");
            at += n;
        }
        assert_eq!(at, LEN);
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "{fs}: {} MiB through FuseTree in {secs:.2} s: {:.0} MiB/s",
            LEN >> 20,
            (LEN >> 20) as f64 / secs
        );
        drop(f);
        drop(tree);
    }
}

#[test]
fn a_file_the_readers_cannot_decode_is_refused_on_open_with_a_notice() {
    let what = "FuseTree over an ext4 with an encrypted-flagged file";
    if !can_run(what, false) || !have_tools(what, &["mkfs.ext4", "debugfs"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("locked.bin"), vec![7u8; 20_000]).unwrap();
    std::fs::write(src.join("open.txt"), b"readable\n").unwrap();
    let img = work.path().join("ext4.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&src)
        .arg(&img));
    // EXTENTS (0x80000) kept, ENCRYPT (0x800) added: what an fscrypt file looks like without
    // its key.
    run(Command::new("debugfs")
        .args(["-w", "-R", "set_inode_field /locked.bin flags 0x80800"])
        .arg(&img));
    let dir = work.path().join("mnt");
    std::fs::create_dir(&dir).unwrap();
    let _guard = Unmount(dir.clone());
    let (seen, notify) = notices();
    let tree = FuseTree::mount(&dir, part_of(&img, 0, 16 << 20), notify).unwrap();

    // Listed and described; its bytes refused, said to the caller; the rest still served.
    assert_eq!(
        std::fs::metadata(dir.join("locked.bin")).unwrap().len(),
        20_000
    );
    let err = std::fs::read(dir.join("locked.bin")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP), "{err}");
    assert_eq!(std::fs::read(dir.join("open.txt")).unwrap(), b"readable\n");
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|n| matches!(
            n,
            FuseNotice::FileUnreadable { path, .. } if path == "/locked.bin"
        )),
        "{seen:?}"
    );
    drop(tree);
    assert_eq!(mounted_under(&dir), Vec::<String>::new());
}
