//! `wraith nbd`: a saved image served by the command, read by real NBD clients (qemu-img,
//! qemu-io; nbd-client and mount where the kernel has the nbd module): the copy a client
//! makes holds every file of the saved disk; with `--writable-overlay` a client's writes read
//! back on a new connection and after serving the overlay again, while the repository stays
//! byte-identical; an overlay of another image is refused.
#![allow(clippy::unwrap_used, clippy::panic)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use wraith_engine::device::ReadAt;
use wraith_engine::repo::image_disk::ImageDisk;
use wraith_engine::repo::Repository;
use wraith_testkit as kit;

fn wraith_ok(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "wraith {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn have(tools: &[&str], what: &str) -> bool {
    for t in tools {
        if kit::find_tool(t).is_none() {
            kit::skip_missing_tool(t, what);
            return false;
        }
    }
    true
}

/// A running `wraith nbd` and the URL it printed.
struct Server {
    child: Child,
    url: String,
    stderr: std::thread::JoinHandle<String>,
}

fn serve(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wraith"))
        .arg("--json")
        .arg("nbd")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            all.push_str(&l);
            all.push('\n');
        }
        all
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.is_empty() {
        let code = child.wait().unwrap();
        panic!(
            "wraith nbd {args:?} did not start ({code}): {}",
            stderr.join().unwrap()
        );
    }
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["result"], "serving", "{v}");
    let url = v["urls"][0].as_str().unwrap().to_string();
    Server { child, url, stderr }
}

impl Server {
    /// Ctrl-C, as a technician stops it: exit code 0. Returns what it said on stderr.
    fn stop(mut self) -> String {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let code = self.child.wait().unwrap();
        let err = self.stderr.join().unwrap();
        assert!(code.success(), "wraith nbd ended with {code}: {err}");
        err
    }
    /// With --once: it ends by itself after its client.
    fn wait(mut self) -> String {
        let code = self.child.wait().unwrap();
        let err = self.stderr.join().unwrap();
        assert!(code.success(), "wraith nbd ended with {code}: {err}");
        err
    }
}

fn run(tool: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new(tool).args(args).output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn run_ok(tool: &str, args: &[&str]) -> String {
    let (ok, out) = run(tool, args);
    assert!(ok, "{tool} {args:?}: {out}");
    out
}

/// The image's bytes, read by the engine (what every client must see without an overlay).
fn image_bytes(repo: &Path, name: &str) -> Vec<u8> {
    let r = Arc::new(Repository::open(repo).unwrap());
    let image = r.resolve(name, None).unwrap();
    let d = ImageDisk::open(r, &image).unwrap();
    d.read_vec(0, d.size() as usize).unwrap()
}

/// Every file of the repository with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn an_image_served_once_over_tcp_copies_with_every_file_of_the_saved_disk() {
    if !have(&["qemu-img"], "nbd over tcp") {
        return;
    }
    let disk = kit::gpt_disk();
    let repo = tempfile::tempdir().unwrap();
    wraith_ok(&["save", s(&disk.path), &format!("{}:pc", s(repo.path()))]);
    // Port 0: any free port; the URL printed names it.
    let server = serve(&[
        &format!("{}:pc", s(repo.path())),
        "--listen",
        "127.0.0.1:0",
        "--once",
    ]);
    assert!(server.url.starts_with("nbd://127.0.0.1:"), "{}", server.url);
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("copy.img");
    run_ok(
        "qemu-img",
        &["convert", "-f", "raw", "-O", "raw", &server.url, s(&copy)],
    );
    let said = server.wait();
    assert!(said.contains("connected"), "{said}");
    assert!(std::fs::read(&copy).unwrap() == image_bytes(repo.path(), "pc"));
    kit::assert_same_filesystems(&disk, &copy);
}

#[test]
fn writes_through_an_overlay_read_back_and_survive_a_restart_while_the_repository_is_untouched() {
    if !have(&["qemu-img", "qemu-io"], "nbd overlay") {
        return;
    }
    let disk = kit::mbr_disk();
    let repo = tempfile::tempdir().unwrap();
    let spec = format!("{}:pc", s(repo.path()));
    wraith_ok(&["save", s(&disk.path), &spec]);
    let before = snapshot(repo.path());
    let original = image_bytes(repo.path(), "pc");
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("nbd.sock");
    let ov = work.path().join("changes.ovl");

    // Read-only by default: a write is refused.
    let server = serve(&[&spec, "--socket", s(&sock)]);
    assert_eq!(
        server.url,
        format!("nbd+unix:///pc?socket={}", sock.display())
    );
    let (ok, out) = run(
        "qemu-io",
        &["-f", "raw", "-c", "write -P 0xab 1M 64k", &server.url],
    );
    // qemu sees the read-only flag and does not even open the export for writing.
    assert!(
        !ok && (out.contains("Permission denied") || out.contains("read-only")),
        "{out}"
    );
    let copy = work.path().join("ro.img");
    run_ok(
        "qemu-img",
        &["convert", "-f", "raw", "-O", "raw", &server.url, s(&copy)],
    );
    assert!(
        std::fs::read(&copy).unwrap() == original,
        "a read-only export changed"
    );
    server.stop();
    assert!(!sock.exists(), "the socket is removed at the end");

    let server = serve(&[&spec, "--socket", s(&sock), "--writable-overlay", s(&ov)]);
    run_ok(
        "qemu-io",
        &["-f", "raw", "-c", "write -P 0xab 1M 64k", &server.url],
    );
    // Unaligned, across a 4 KiB block edge: the rest of both blocks keeps the image's bytes.
    run_ok(
        "qemu-io",
        &["-f", "raw", "-c", "write -P 0xcd 12000 500", &server.url],
    );
    // NBD_CMD_WRITE_ZEROES, unaligned at both ends, over data the image holds.
    let (zat, zlen) = (2 * (1 << 20) + 1000, 300_000);
    run_ok(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            &format!("write -z {zat} {zlen}"),
            &server.url,
        ],
    );
    assert!(
        original[zat..zat + zlen].iter().any(|b| *b != 0),
        "the zeroed range held data"
    );
    let mut want = original.clone();
    want[1 << 20..(1 << 20) + (64 << 10)].fill(0xab);
    want[12000..12500].fill(0xcd);
    want[zat..zat + zlen].fill(0);
    let copy = work.path().join("copy.img");
    run_ok(
        "qemu-img",
        &["convert", "-f", "raw", "-O", "raw", &server.url, s(&copy)],
    );
    assert!(
        std::fs::read(&copy).unwrap() == want,
        "a new connection reads the writes"
    );
    server.stop();
    assert!(snapshot(repo.path()) == before, "the repository changed");

    // Served again over the same overlay (over TCP this time): the writes are there.
    let server = serve(&[
        &spec,
        "--listen",
        "127.0.0.1:0",
        "--writable-overlay",
        s(&ov),
    ]);
    let again = work.path().join("again.img");
    run_ok(
        "qemu-img",
        &["convert", "-f", "raw", "-O", "raw", &server.url, s(&again)],
    );
    server.stop();
    assert!(
        std::fs::read(&again).unwrap() == want,
        "the overlay kept the writes"
    );
    assert!(snapshot(repo.path()) == before, "the repository changed");

    // Another image (a second save of the disk) does not take this overlay.
    let other = format!("{}:other", s(repo.path()));
    wraith_ok(&["save", s(&disk.path), &other]);
    let o = Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args([
            "nbd",
            &other,
            "--socket",
            s(&sock),
            "--writable-overlay",
            s(&ov),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("made for image pc@"), "{err}");
    assert!(!sock.exists(), "no socket is left by a refused start");
    // Nor is an overlay put inside the repository.
    let inside = repo.path().join("changes.ovl");
    let o = Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args([
            "nbd",
            &spec,
            "--socket",
            s(&sock),
            "--writable-overlay",
            s(&inside),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!inside.exists());
}

#[test]
fn the_kernel_nbd_client_mounts_a_served_image() {
    if !Path::new("/dev/nbd0").exists() {
        // Not a failure under WRAITH_NO_SKIP: this host's kernel has no nbd module at all.
        eprintln!("SKIPPED the kernel nbd client test: /dev/nbd0 does not exist (no nbd module)");
        return;
    }
    if !have(&["nbd-client", "mount"], "nbd kernel client") {
        return;
    }
    let disk = kit::gpt_disk();
    let repo = tempfile::tempdir().unwrap();
    wraith_ok(&["save", s(&disk.path), &format!("{}:pc", s(repo.path()))]);
    let server = serve(&[&format!("{}:pc", s(repo.path())), "--listen", "127.0.0.1:0"]);
    let port = server
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    run_ok("nbd-client", &["127.0.0.1", port, "-N", "pc", "/dev/nbd0"]);
    let root = disk.part(2);
    let mnt = tempfile::tempdir().unwrap();
    let (ok, out) = run(
        "mount",
        &[
            "-o",
            &format!("ro,loop,offset={},sizelimit={}", root.start, root.len),
            "/dev/nbd0",
            s(mnt.path()),
        ],
    );
    let mut bad = Vec::new();
    if ok {
        for (name, data) in &root.files {
            if std::fs::read(mnt.path().join(name)).ok().as_ref() != Some(data) {
                bad.push(name.clone());
            }
        }
        run("umount", &[s(mnt.path())]);
    }
    run("nbd-client", &["-d", "/dev/nbd0"]);
    server.stop();
    assert!(ok, "mount: {out}");
    assert!(
        bad.is_empty(),
        "files differ through the nbd device: {bad:?}"
    );
}
