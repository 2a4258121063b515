//! `wraith serve` with real clients: Wraith's own `http://` client restoring and running jobs
//! through it, and curl for what a web client relies on (ranges, HEAD, listings, refusals).
//! The repository is made by a real `wraith save` of mkfs-made disks; restored disks are
//! checked with fsck and their files, and against a restore from the directory itself.
#![allow(clippy::panic, clippy::unwrap_used)] // test helpers report failures by panicking

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use wraith_testkit::{self as kit, assert_same_filesystems, MIB};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn wraith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .env("WRAITH_NET_RETRY_SECS", "2")
        .stdin(Stdio::null())
        .output()
        .expect("running wraith")
}

fn ok(args: &[&str]) -> Output {
    let o = wraith(args);
    assert!(
        o.status.success(),
        "wraith {args:?} failed: {}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    o
}

/// A running `wraith serve`, stopped with SIGTERM when dropped.
struct Serve {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
    started: Value,
    out: BufReader<std::process::ChildStdout>,
}

impl Serve {
    fn start(repo: &Path, extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wraith"))
            .args(["--json", "serve", s(repo), "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting wraith serve");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("the start line");
        let started: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("start line {line:?}: {e}"));
        assert_eq!(started["result"], "serving", "{started}");
        let url = started["url"].as_str().expect("url").to_string();
        let base = url.strip_suffix("/repo").expect("/repo URL").to_string();
        Serve {
            child,
            base,
            started,
            out,
        }
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().expect("wait for serve")
    }

    /// The room's rows as the server shows them.
    fn room(&self) -> Vec<Value> {
        let o = curl(&["-s", &format!("{}/room", self.base)]);
        serde_json::from_slice::<Vec<Value>>(&o.stdout).expect("room JSON")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--max-time", "20"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("curl runs")
}

/// (status, headers, body) of a curl request.
fn http(args: &[&str]) -> (u16, String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("head");
    let body = dir.path().join("body");
    let mut a = vec!["-s", "-D", s(&head), "-o", s(&body)];
    a.extend_from_slice(args);
    let o = curl(&a);
    assert!(o.status.success(), "curl {args:?}: {}", text(&o.stderr));
    let head = std::fs::read_to_string(&head).unwrap();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        head.to_ascii_lowercase(),
        std::fs::read(&body).unwrap_or_default(),
    )
}

fn have_curl() -> bool {
    if kit::find_tool("curl").is_none() {
        kit::skip_missing_tool("curl", "the wraith serve tests");
        return false;
    }
    true
}

/// A repository with one image `pc1` of the GPT fixture disk, saved by `wraith save`.
fn saved_repo(root: &Path) -> (kit::Disk, PathBuf) {
    let disk = kit::gpt_disk();
    let repo = root.join("repo");
    ok(&["save", s(&disk.path), &format!("{}:pc1", s(&repo))]);
    (disk, repo)
}

fn result_line(o: &Output) -> Value {
    let out = text(&o.stdout);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("WRAITH-RESULT "))
        .unwrap_or_else(|| panic!("no result line: {out}\n{}", text(&o.stderr)));
    serde_json::from_str(line).unwrap()
}

#[test]
fn a_room_restores_through_serve_and_its_jobs_keep_their_results_in_the_repository() {
    kit::require_tools();
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (disk, repo) = saved_repo(dir.path());
    let jobs = repo.join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    let job_target = dir.path().join("job-target.img");
    std::fs::write(
        jobs.join("52-54-00-12-34-56.toml"),
        format!(
            "action = \"restore\"\nrepository = \"http://{{server}}/repo\"\nimage = \"pc1\"\n\
             target = \"{}\"\nverify = true\nafter = \"none\"\n",
            s(&job_target)
        ),
    )
    .unwrap();
    std::fs::write(
        jobs.join("default.toml"),
        "action = \"verify\"\nrepository = \"http://{server}/repo\"\nimage = \"pc1\"\nafter = \"none\"\n",
    )
    .unwrap();
    let mut serve = Serve::start(&repo, &[]);
    let url = format!("{}/repo", serve.base);
    assert_eq!(
        serve.started["jobs"]["machines"],
        serde_json::json!(["52:54:00:12:34:56"])
    );
    assert_eq!(serve.started["jobs"]["default"], true);

    // A technician's restore, through the server, and the same restore from the directory.
    let list = ok(&["--json", "list", &url]);
    let list: Value = serde_json::from_str(text(&list.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(list["images"].as_array().map(Vec::len), Some(1), "{list}");
    let over_http = kit::blank_disk(disk.size);
    ok(&[
        "restore",
        &format!("{url}:pc1"),
        s(&over_http.path),
        "--yes",
    ]);
    assert_same_filesystems(&disk, &over_http.path);
    let local = kit::blank_disk(disk.size);
    ok(&[
        "restore",
        &format!("{}:pc1", s(&repo)),
        s(&local.path),
        "--yes",
    ]);
    assert!(
        std::fs::read(&over_http.path).unwrap() == std::fs::read(&local.path).unwrap(),
        "the disk restored through serve differs from one restored from the directory"
    );

    // The machine's own job: a restore that keeps its result and log in results/.
    let o = wraith(&[
        "job",
        "--file",
        &format!("{}/jobs/52:54:00:12:34:56.toml", serve.base),
    ]);
    let r = result_line(&o);
    assert_eq!(r["result"], "ok", "{r}\n{}", text(&o.stderr));
    assert_eq!(r["verified"], true, "{r}");
    assert_eq!(o.status.code(), Some(0));
    assert_same_filesystems(&disk, &job_target);
    let kept: Vec<String> = std::fs::read_dir(repo.join("results"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        kept.iter().any(|n| n.ends_with("-restore.json")),
        "{kept:?}"
    );
    assert!(kept.iter().any(|n| n.ends_with("-restore.log")), "{kept:?}");
    let json_name = kept.iter().find(|n| n.ends_with(".json")).unwrap();
    let stored: Value =
        serde_json::from_slice(&std::fs::read(repo.join("results").join(json_name)).unwrap())
            .unwrap();
    assert_eq!(stored["result"], "ok");
    assert!(
        std::fs::read_dir(repo.join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "tmp/ is left empty"
    );

    // Any other machine gets the default job, with the server's address filled in.
    let (status, head, body) = http(&[&format!("{}/jobs/AA-BB-CC-DD-EE-FF.toml", serve.base)]);
    assert_eq!(status, 200);
    let host = serve.base.strip_prefix("http://").unwrap();
    assert!(
        text(&body).contains(&format!("repository = \"http://{host}/repo\"")),
        "{}",
        text(&body)
    );
    assert!(head.contains("x-wraith-progress: http://"), "{head}");
    let (status, _, _) = http(&[&format!("{}/jobs/not-a-mac.toml", serve.base)]);
    assert_eq!(status, 404);
    // The jobs directory is not part of the repository's view.
    let (status, _, _) = http(&[&format!("{url}/jobs/default.toml")]);
    assert_eq!(status, 404);

    // The room saw the machine fetch its job, report its progress and end.
    let room = serve.room();
    let me = room
        .iter()
        .find(|r| r["mac"] == "52:54:00:12:34:56")
        .unwrap_or_else(|| panic!("{room:?}"));
    assert_eq!(me["state"], "done", "{me}");
    assert_eq!(me["ip"], "127.0.0.1");
    assert_eq!(me["percent"], 100.0, "{me}");
    assert!(me["served"].as_u64().unwrap() > 0, "{me}");

    // The room also comes out as JSON lines.
    let status = serve.stop();
    assert!(status.success(), "serve stops cleanly on SIGTERM: {status}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut serve.out, &mut rest).unwrap();
    assert!(
        rest.lines()
            .any(|l| l.contains("\"event\":\"client\"") && l.contains("\"done\"")),
        "{rest}"
    );
}

#[test]
fn web_clients_get_ranges_listings_and_clear_refusals() {
    kit::require_tools();
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_disk, repo) = saved_repo(dir.path());
    std::fs::write(dir.path().join("secret"), b"not for the room").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret"), repo.join("escape")).unwrap();
    let serve = Serve::start(&repo, &[]);
    let url = format!("{}/repo", serve.base);
    let cfg = std::fs::read(repo.join("wraith-repo.json")).unwrap();
    let len = cfg.len();

    let (st, head, body) = http(&["-r", "2-9", &format!("{url}/wraith-repo.json")]);
    assert_eq!(st, 206);
    assert_eq!(body, &cfg[2..10]);
    assert!(
        head.contains(&format!("content-range: bytes 2-9/{len}")),
        "{head}"
    );
    let (st, _, body) = http(&[
        "-r",
        &format!("{}-", len - 3),
        &format!("{url}/wraith-repo.json"),
    ]);
    assert_eq!((st, body.as_slice()), (206, &cfg[len - 3..]));
    let (st, head, _) = http(&["-r", &format!("{len}-"), &format!("{url}/wraith-repo.json")]);
    assert_eq!(st, 416);
    assert!(
        head.contains(&format!("content-range: bytes */{len}")),
        "{head}"
    );
    let (st, head, body) = http(&["-I", &format!("{url}/wraith-repo.json")]);
    assert_eq!(st, 200);
    // curl -I writes the head where the body would go: no file bytes come with it.
    assert!(!text(&body).contains(text(&cfg).trim()), "HEAD sent a body");
    assert!(head.contains(&format!("content-length: {len}")), "{head}");
    assert!(
        head.contains("etag: \"") && head.contains("last-modified: "),
        "{head}"
    );
    assert!(head.contains("accept-ranges: bytes"), "{head}");

    // A large pack streams whole and in ranges, byte for byte.
    let pack = kit::files_under(&repo.join("packs"))
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let rel = pack
        .strip_prefix(&repo)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let bytes = std::fs::read(&pack).unwrap();
    let (st, _, body) = http(&[&format!("{url}/{rel}")]);
    assert_eq!(st, 200);
    assert!(body == bytes, "the pack came back different");
    let mid = bytes.len() / 3;
    let (st, _, body) = http(&[
        "-r",
        &format!("{mid}-{}", mid + 700_000),
        &format!("{url}/{rel}"),
    ]);
    assert_eq!(st, 206);
    assert!(body == bytes[mid..(mid + 700_001).min(bytes.len())]);

    // Listings: WebDAV PROPFIND (what Wraith asks first) and an HTML index.
    let (st, _, body) = http(&["-X", "PROPFIND", "-H", "Depth: 1", &format!("{url}/")]);
    assert_eq!(st, 207);
    let xml = text(&body);
    for want in [
        "<D:href>/repo/</D:href>",
        "<D:href>/repo/wraith-repo.json</D:href>",
        "<D:href>/repo/packs/</D:href>",
    ] {
        assert!(xml.contains(want), "{want} missing: {xml}");
    }
    assert!(
        !xml.contains("escape"),
        "a symlink out of the repository is not listed: {xml}"
    );
    let (st, _, _) = http(&["-X", "PROPFIND", &format!("{url}/")]);
    assert_eq!(st, 403, "Depth: infinity is refused");
    let (st, head, body) = http(&[&format!("{url}/packs/")]);
    assert_eq!(st, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(text(&body).contains("<a href=\""), "{}", text(&body));
    let (st, head, _) = http(&[&format!("{url}/packs")]);
    assert_eq!(st, 301);
    assert!(head.contains("location: /repo/packs/"), "{head}");

    // Nothing outside the repository, by any spelling.
    for path in [
        "/repo/../secret",
        "/repo/%2e%2e/secret",
        "/repo/a%2f..%2f..%2fsecret",
        "/repo/escape",
    ] {
        let (st, _, body) = http(&["--path-as-is", &format!("{}{path}", serve.base)]);
        assert_eq!(st, 403, "{path}: {}", text(&body));
        assert!(!text(&body).contains("not for the room"));
    }

    // Writes: only the results of jobs, never replacing anything.
    let before = kit::files_under(&repo);
    let put = |path: &str| http(&["-X", "PUT", "--data-binary", "x", &format!("{url}/{path}")]);
    for path in [
        "images/evil.manifest",
        "wraith-repo.json",
        "results/direct.json",
        "tmp/../x",
    ] {
        let (st, _, body) = put(path);
        assert_eq!(st, 403, "PUT {path}: {}", text(&body));
        assert!(text(&body).contains("read-only"), "{}", text(&body));
    }
    let (st, _, _) = http(&["-X", "DELETE", &format!("{url}/wraith-repo.json")]);
    assert_eq!(st, 403);
    let (st, _, _) = http(&["-X", "MKCOL", &format!("{url}/images/new/")]);
    assert_eq!(st, 403);
    let (st, _, _) = http(&["-X", "PROPPATCH", &format!("{url}/")]);
    assert_eq!(st, 405);
    assert_eq!(std::fs::read(repo.join("wraith-repo.json")).unwrap(), cfg);
    // The job's sequence, by hand: PUT into tmp/, MOVE into results/ once, never twice.
    let (st, _, _) = put("tmp/abc-1-0.tmp");
    assert_eq!(st, 201);
    let mv = |dest: &str| {
        http(&[
            "-X",
            "MOVE",
            "-H",
            &format!("Destination: {dest}"),
            "-H",
            "Overwrite: F",
            &format!("{url}/tmp/abc-1-0.tmp"),
        ])
    };
    assert_eq!(mv(&format!("{url}/images/pc1/x.manifest")).0, 403);
    assert_eq!(mv(&format!("{url}/results/one.json")).0, 201);
    assert_eq!(std::fs::read(repo.join("results/one.json")).unwrap(), b"x");
    put("tmp/abc-1-0.tmp");
    assert_eq!(mv(&format!("{url}/results/one.json")).0, 412);
    assert_eq!(std::fs::read(repo.join("results/one.json")).unwrap(), b"x");
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'x'; 17 << 20]).unwrap();
    let (st, _, _) = http(&[
        "-X",
        "PUT",
        "--data-binary",
        &format!("@{}", s(&big)),
        &format!("{url}/tmp/big.tmp"),
    ]);
    assert_eq!(st, 413, "uploads are bounded");
    let after: Vec<PathBuf> = kit::files_under(&repo)
        .into_iter()
        .filter(|p| !p.starts_with(repo.join("results")) && !p.starts_with(repo.join("tmp")))
        .collect();
    assert_eq!(after, before, "nothing but results/ and tmp/ changed");
}

#[test]
fn network_boot_scripts_name_the_server_and_a_job_only_for_machines_that_have_one() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let boot = dir.path().join("pxe");
    std::fs::create_dir(&boot).unwrap();
    let kernel = kit::Prng::new(7).bytes(3 << 20);
    std::fs::write(boot.join("vmlinuz"), &kernel).unwrap();
    std::fs::write(boot.join("initramfs.zst"), b"initramfs").unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    std::fs::write(jobs.join("525400000001.toml"), "action = \"verify\"\n").unwrap();
    let serve = Serve::start(
        &repo,
        &[
            "--boot-dir",
            s(&boot),
            "--jobs",
            s(&jobs),
            "--kernel-args",
            "wraith.keymap=de",
        ],
    );
    let b = &serve.base;
    assert_eq!(serve.started["ipxe"], format!("{b}/boot/wraith.ipxe"));

    let (st, _, first) = http(&[&format!("{b}/boot/wraith.ipxe")]);
    assert_eq!(st, 200);
    assert_eq!(
        text(&first).lines().find(|l| l.starts_with("chain")),
        Some(format!("chain {b}/boot/wraith.ipxe?mac=${{mac:hexhyp}}").as_str())
    );
    let (_, _, with) = http(&[&format!("{b}/boot/wraith.ipxe?mac=52-54-00-00-00-01")]);
    let with = text(&with);
    assert!(with.starts_with("#!ipxe\n"), "{with}");
    assert!(
        with.contains(&format!(
            "kernel {b}/boot/vmlinuz initrd=initramfs.zst console=ttyS0,115200 console=tty0 BOOTIF=01-52-54-00-00-00-01 wraith.job={b}/jobs/52-54-00-00-00-01.toml wraith.keymap=de\n"
        )),
        "{with}"
    );
    assert!(
        with.contains(&format!("initrd {b}/boot/initramfs.zst\nboot\n")),
        "{with}"
    );
    let (_, _, without) = http(&[&format!("{b}/boot/wraith.ipxe?mac=52:54:00:00:00:02")]);
    assert!(!text(&without).contains("wraith.job"), "{}", text(&without));
    let (st, _, _) = http(&[&format!("{b}/jobs/52-54-00-00-00-02.toml")]);
    assert_eq!(st, 404, "no default.toml: no job");

    let (st, _, k) = http(&[&format!("{b}/boot/vmlinuz")]);
    assert_eq!(st, 200);
    assert!(k == kernel, "the kernel is served as it is");
    let (st, _, _) = http(&[&format!("{b}/boot/other")]);
    assert_eq!(st, 404);

    let room = serve.room();
    let rows: Vec<&Value> = room
        .iter()
        .filter(|r| r["mac"] == "52:54:00:00:00:01")
        .collect();
    assert_eq!(rows.len(), 1, "{room:?}");
    assert_eq!(rows[0]["state"], "booting", "{room:?}");
}

#[test]
fn many_clients_read_at_once() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let data = kit::Prng::new(3).bytes(8 * MIB as usize);
    std::fs::write(repo.join("blob"), &data).unwrap();
    let serve = Serve::start(&repo, &[]);
    let url = format!("{}/repo/blob", serve.base);
    // A room: 40 machines with 8 reads each in flight, every read checked.
    let threads: Vec<_> = (0..40)
        .map(|m| {
            let (url, data) = (url.clone(), data.clone());
            std::thread::spawn(move || {
                let mut cmd = Command::new("curl");
                cmd.args(["--parallel", "--parallel-max", "8"]);
                let mut want = Vec::new();
                let out = tempfile::tempdir().unwrap();
                for i in 0..8u64 {
                    let start = (m * 8 + i) * 20_011 % (data.len() as u64 - 300_000);
                    let end = start + 256 * 1024 + i * 1000;
                    let f = out.path().join(format!("r{i}"));
                    if i > 0 {
                        cmd.arg("--next");
                    }
                    cmd.args([
                        "-s",
                        "--fail",
                        "--max-time",
                        "60",
                        "-r",
                        &format!("{start}-{end}"),
                    ]);
                    cmd.args(["-o", f.to_str().unwrap(), &url]);
                    want.push((f, start as usize, end as usize + 1));
                }
                let o = cmd.output().unwrap();
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                for (f, a, b) in want {
                    assert!(
                        std::fs::read(&f).unwrap() == data[a..b],
                        "machine {m}: range {a}-{b}"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client's reads");
    }
}

/// `wraith serve --multicast`: the session starts once the room joined, one stream feeds every
/// machine, and each ends with the image (the same disk as a restore from the directory). The
/// session's report, printed by serve, says the image went out about once, and the room view
/// shows the machines done by multicast.
#[test]
fn serve_multicast_feeds_the_room_one_stream() {
    kit::require_tools();
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (disk, repo) = saved_repo(dir.path());
    // A control port of this test's own: other test binaries may run a session meanwhile.
    let port = (20000 + std::process::id() % 20000 * 2).to_string();
    let mut serve = Serve::start(
        &repo,
        &[
            "--interface",
            "lo",
            "--multicast",
            "pc1",
            "--clients",
            "2",
            "--wait",
            "60",
            "--rate",
            "200",
            "--port",
            &port,
        ],
    );
    let mut line = String::new();
    serve.out.read_line(&mut line).unwrap();
    let session: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(session["event"], "multicast", "{session}");
    let url = session["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("mcast://127.0.0.1:") && url.ends_with("/pc1"),
        "{url}"
    );

    let targets: Vec<_> = (0..2).map(|_| kit::blank_disk(disk.size)).collect();
    let receivers: Vec<_> = targets
        .iter()
        .map(|t| {
            Command::new(env!("CARGO_BIN_EXE_wraith"))
                .args(["--json", "restore", &url, s(&t.path), "--yes"])
                .args(["--interface", "lo", "--port", &port])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for r in receivers {
        let o = r.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{}\n{}",
            text(&o.stdout),
            text(&o.stderr)
        );
    }
    let reference = kit::blank_disk(disk.size);
    ok(&[
        "restore",
        &format!("{}:pc1", s(&repo)),
        s(&reference.path),
        "--yes",
    ]);
    for t in &targets {
        assert!(
            std::fs::read(&t.path).unwrap() == std::fs::read(&reference.path).unwrap(),
            "a multicast target differs from a restore from the directory"
        );
        assert_same_filesystems(&disk, &t.path);
    }

    // What serve printed: the stream started, the machines' rows, the session's report.
    let mut started = false;
    let mut done_rows = 0;
    let report = loop {
        line.clear();
        assert!(
            serve.out.read_line(&mut line).unwrap() > 0,
            "serve ended early"
        );
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        match v["event"].as_str() {
            Some("multicast_started") => started = true,
            Some("client")
                if v["state"] == "done"
                    && v["detail"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("multicast done") =>
            {
                done_rows += 1
            }
            Some("multicast_ended") => break v["report"].clone(),
            _ => {}
        }
    };
    assert!(started && done_rows > 0, "no stream start or no done row");
    let sent = report["bytes_sent"].as_f64().unwrap();
    let stored = report["stored_bytes"].as_f64().unwrap();
    assert!(
        sent < 1.2 * stored,
        "the stream sent {sent} bytes for {stored} stored: not once for the room"
    );
    let clients = report["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2, "{report}");
    for c in clients {
        assert!(
            c["chunks_multicast"].as_u64().unwrap() > 10 * c["chunks_http"].as_u64().unwrap(),
            "the stream, not HTTP, carried the image: {c}"
        );
    }
    assert!(serve.stop().success());
}
