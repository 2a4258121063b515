//! Network repositories from the real live system: the guest (QEMU user networking, the host's
//! loopback is 10.0.2.2) saves a disk to a real Samba share through the live kernel's CIFS
//! client, lists the same repository over NFSv4 from a real NFS-Ganesha, and restores it from
//! nginx serving the directory as a plain static web site. A second test kills smbd in the
//! middle of a save and checks that a re-run completes and reuses what was stored. Results
//! are checked from the host: the repository verifies, the restored disk has the same table,
//! passes fsck and holds identical files.
//!
//! The build machine's own kernel has no CIFS/NFS client, which is why these run in the guest.
//! `#[ignore]`d like the other VM tests; `./build.sh test` runs them with `--ignored`.
#![allow(clippy::panic)] // tests report failures by panicking

use qemu_tests::{artifact, Boot, Bus, Vm, VmBuilder};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use wraith_testkit::servers::{Ganesha, Nginx, Samba};
use wraith_testkit::{self as kit, files_under, FsType, Prng, Table, MIB};

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
const STEP_TIMEOUT: Duration = Duration::from_secs(400);
const USER: &str = "tech";
const PASSWORD: &str = "s3cret-Pa55word";

/// The live system with a shell on the serial console and `disks` attached on virtio.
fn shell_vm(disks: &[(&Path, &str)]) -> Vm {
    let kernel = artifact("WRAITH_KERNEL", "out/pxe/vmlinuz").unwrap_or_else(|e| panic!("{e}"));
    let initramfs =
        artifact("WRAITH_INITRAMFS", "out/pxe/initramfs.zst").unwrap_or_else(|e| panic!("{e}"));
    let mut b = VmBuilder::new(Boot::Kernel {
        kernel,
        initramfs,
        append: "console=ttyS0,115200 panic=-1 wraith.shell wraith.wait=0".into(),
    })
    .memory(384);
    for (path, serial) in disks {
        b = b.disk(path, Bus::Virtio, serial);
    }
    let mut vm = b.start().unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for("WRAITH-READY", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for("net: eth0: 10.0.2.15/24", Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{e}"));
    vm
}

/// Types `cmd` in the guest's shell, followed by an echo of its exit code tagged `tag`.
fn start(vm: &mut Vm, tag: &str, cmd: &str) -> usize {
    let before = vm.output().len();
    vm.send(&format!("{cmd}; echo \"@@{tag}=$?@@\"\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    before
}

/// Waits for the exit code of the command [`start`]ed with `tag`; returns it with what the
/// console printed since (carriage returns removed).
fn finish(vm: &mut Vm, tag: &str, before: usize) -> (i32, String) {
    // The echoed command line shows `$?` literally; only the real line has digits.
    let needles: Vec<String> = (0..=255).map(|c| format!("@@{tag}={c}@@")).collect();
    let refs: Vec<&str> = needles.iter().map(String::as_str).collect();
    let (code, secs) = vm
        .wait_for_any(&refs, STEP_TIMEOUT)
        .unwrap_or_else(|e| panic!("{tag}: {e}"));
    let out = vm.output()[before..].replace('\r', "");
    eprintln!("{tag}: exit {code} at {secs:.1} s\n{out}");
    (code as i32, out)
}

/// Runs `cmd` in the guest's shell and waits for its exit code.
fn run(vm: &mut Vm, tag: &str, cmd: &str) -> (i32, String) {
    let before = start(vm, tag, cmd);
    finish(vm, tag, before)
}

/// The one JSON object `wraith --json` printed on stdout in `out`.
fn json_result(out: &str) -> serde_json::Value {
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"") && l.contains("\"result\""))
        .unwrap_or_else(|| panic!("no JSON result in:\n{out}"));
    // The serial console is shared with the kernel: a message it prints at that moment (the
    // target's partitions being re-read after the restore closed it) can land on the same line
    // right after the object. Only the object itself is wraith's.
    serde_json::Deserializer::from_str(line)
        .into_iter::<serde_json::Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no JSON object at the start of: {line}"))
}

/// The host's own wraith (built by `./build.sh all` for the initramfs).
fn host_wraith() -> PathBuf {
    artifact("WRAITH_BIN", "target/release/wraith").unwrap_or_else(|e| panic!("{e}"))
}

fn host(args: &[&str]) -> std::process::Output {
    let out = Command::new(host_wraith())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("wraith: {e}"));
    eprintln!(
        "host wraith {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// No file under `dir` holds `secret`.
fn assert_nowhere(dir: &Path, secret: &str) {
    for entry in files_under(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the password is stored in {}",
            entry.display()
        );
    }
}

/// The restored `copy` has the source's partition table, its last data partition grown when
/// the copy is a larger disk, as the default layout does (these tests run as root: their
/// servers need it), and each filesystem passes fsck and holds exactly the source's files.
fn assert_restored(src: &kit::Disk, copy: &Path) {
    let last = src.parts.iter().map(|p| p.number).max().unwrap_or(1);
    kit::assert_default_layout(copy, &src.path, last);
    kit::assert_same_filesystems(src, copy);
}

#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn a_disk_saved_to_smb_lists_over_nfs_and_restores_from_a_static_web_server() {
    let src = kit::gpt_disk();
    let dst = kit::blank_disk(256 * MIB);
    let share = tempfile::tempdir().expect("tempdir");
    let smb = Samba::start(share.path(), USER, PASSWORD).unwrap_or_else(|e| panic!("{e}"));
    let nfs = Ganesha::start(share.path()).unwrap_or_else(|e| panic!("{e}"));
    let web = Nginx::start(share.path(), "unused").unwrap_or_else(|e| panic!("{e}"));

    let mut vm = shell_vm(&[(&src.path, "SRC"), (&dst.path, "DST")]);
    // The password reaches wraith through a file, as a script would hand it over.
    run(&mut vm, "pw", &format!("echo '{PASSWORD}' >/tmp/pw"));

    let smb_url = format!("smb://{USER}@10.0.2.2:{}/{}/lab", smb.port(), Samba::SHARE);
    // The usual mistakes first: each is refused with its cause, and nothing is written.
    run(&mut vm, "badpw", "echo 'not-the-password' >/tmp/bad");
    let (code, out) = run(
        &mut vm,
        "wrongpw",
        &format!(
            "wraith --password-file /tmp/bad save /dev/disk/by-id/virtio-SRC {smb_url}:pc \
             2>&1 | tail -n 2"
        ),
    );
    assert!(
        out.contains("wrong password for user \"tech\""),
        "a wrong SMB password is not said so ({code}):\n{out}"
    );
    let (_, out) = run(
        &mut vm,
        "noshare",
        &format!(
            "wraith --password-file /tmp/pw save /dev/disk/by-id/virtio-SRC \
             smb://{USER}@10.0.2.2:{}/nosuch/lab:pc 2>&1 | tail -n 2",
            smb.port()
        ),
    );
    assert!(
        out.contains("share \"nosuch\" not found"),
        "a missing share is not said so:\n{out}"
    );
    assert!(
        files_under(share.path()).is_empty(),
        "a refused save wrote to the share"
    );
    let (code, out) = run(
        &mut vm,
        "save",
        &format!(
            "wraith --json --password-file /tmp/pw save /dev/disk/by-id/virtio-SRC {smb_url}:pc \
             2>/tmp/save.err || tail -n 5 /tmp/save.err"
        ),
    );
    assert_eq!(
        code,
        0,
        "save to SMB failed:\n{out}\n{}",
        smb.daemon.log_tail()
    );
    let saved = json_result(&out);
    assert_eq!(saved["result"], "ok", "{saved}");
    let connection = saved["repository"].to_string();
    assert!(
        connection.contains("SMB 3"),
        "SMB dialect not reported: {saved}"
    );

    let nfs_url = format!("nfs://10.0.2.2:{}{}/lab", nfs.port(), Ganesha::PSEUDO);
    let (code, out) = run(
        &mut vm,
        "list",
        &format!("wraith --json list {nfs_url} 2>/tmp/list.err || tail -n 5 /tmp/list.err"),
    );
    assert_eq!(
        code,
        0,
        "list over NFS failed:\n{out}\n{}",
        nfs.daemon.log_tail()
    );
    let listed = json_result(&out);
    assert!(
        listed.to_string().contains("\"pc\""),
        "the NFS listing does not show the image saved over SMB: {listed}"
    );
    assert!(
        listed["repository"].to_string().contains("NFS 4"),
        "{listed}"
    );

    let http_url = format!("http://10.0.2.2:{}/static/lab", web.daemon.port);
    let (code, out) = run(
        &mut vm,
        "restore",
        &format!(
            "wraith --json restore --yes {http_url}:pc /dev/disk/by-id/virtio-DST \
             2>/tmp/restore.err || tail -n 5 /tmp/restore.err; sync"
        ),
    );
    assert_eq!(
        code,
        0,
        "restore over HTTP failed:\n{out}\n{}",
        web.daemon.log_tail()
    );
    assert_eq!(json_result(&out)["result"], "ok");
    mount_in_the_guest(&mut vm, &src, &format!("{http_url}:pc"));
    drop(vm);

    let repo = share.path().join("lab");
    let verify = host(&["verify", &repo.display().to_string()]);
    assert!(
        verify.status.success(),
        "the repository written over SMB does not verify"
    );
    assert_restored(&src, &dst.path);
    assert_nowhere(share.path(), PASSWORD);
}

/// `wraith mount` on the live system: the image (read from a web server, chunk by chunk) is
/// given to the live kernel's NBD driver, and every partition shows the files as saved, each
/// mounted by the kernel's own driver (vfat, ext4, ntfs3). Then the background server is
/// killed, and `wraith umount` still leaves nothing mounted and the NBD device free.
fn mount_in_the_guest(vm: &mut Vm, src: &kit::Disk, image: &str) {
    use sha2::Digest;
    let (code, out) = run(
        vm,
        "mount",
        &format!("mkdir -p /tmp/m && wraith --json mount {image} /tmp/m 2>&1"),
    );
    assert_eq!(code, 0, "wraith mount failed:\n{out}");
    let mounted = json_result(&out);
    assert_eq!(mounted["via"], "NBD", "{mounted}");
    for p in &src.parts {
        let (code, out) = run(
            vm,
            &format!("sums{}", p.number),
            &format!(
                "cd /tmp/m/p{} && find . -type f -exec sha256sum {{}} + | sed 's/^/SUM /'; cd /",
                p.number
            ),
        );
        assert_eq!(code, 0, "{out}");
        let got: std::collections::BTreeMap<String, String> = out
            .lines()
            .filter_map(|l| l.strip_prefix("SUM "))
            .filter_map(|l| l.split_once("  ./"))
            .map(|(sum, name)| (name.to_string(), sum.to_string()))
            .collect();
        let want: std::collections::BTreeMap<String, String> = p
            .files
            .iter()
            .map(|(name, bytes)| {
                let sum = sha2::Sha256::digest(bytes);
                let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
                (name.clone(), hex)
            })
            .collect();
        assert_eq!(
            got, want,
            "partition {} ({:?}) mounted in the guest does not hold the saved files",
            p.number, p.fs
        );
    }
    let pid = mounted["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("{mounted}"));
    let (code, out) = run(
        vm,
        "killed",
        &format!(
            "kill -9 {pid}; sleep 1; wraith umount /tmp/m; sleep 1; \
             echo MOUNTS=$(grep -c ' /tmp/m' /proc/mounts) NBD0=$(cat /sys/block/nbd0/size)"
        ),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("MOUNTS=0 NBD0=0"),
        "a killed mount left something behind after wraith umount:\n{out}"
    );
}

/// A GPT disk whose ext4 partition holds a large incompressible file, so a save spans several
/// packs and lasts long enough to be cut off in the middle.
fn big_disk() -> kit::Disk {
    let mut disk = kit::DiskBuilder::new(224 * MIB, Table::Gpt)
        .seed(0x5a7e)
        .part(200 * MIB, FsType::Ext4, "big")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let path = disk.path.clone();
    let data = Prng::new(0xb16).bytes((128 * MIB) as usize);
    kit::put_files(&path, &mut disk.parts[0], vec![("big.bin".into(), data)])
        .unwrap_or_else(|e| panic!("{e}"));
    disk
}

#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn a_save_cut_off_by_the_smb_server_vanishing_completes_when_re_run() {
    let src = big_disk();
    let share = tempfile::tempdir().expect("tempdir");
    let mut smb = Samba::start(share.path(), USER, PASSWORD).unwrap_or_else(|e| panic!("{e}"));
    let mut vm = shell_vm(&[(&src.path, "SRC")]);
    run(&mut vm, "pw", &format!("echo '{PASSWORD}' >/tmp/pw"));
    let url = format!("smb://{USER}@10.0.2.2:{}/{}/lab", smb.port(), Samba::SHARE);
    let save = format!(
        "wraith --json --password-file /tmp/pw save /dev/disk/by-id/virtio-SRC {url}:big \
         2>/tmp/save.err; rc=$?; grep -v '\"progress\"' /tmp/save.err | tail -n 3; (exit $rc)"
    );

    // The first save: the server is switched off as soon as its first pack has landed.
    let before = start(&mut vm, "first", &save);
    let packs = share.path().join("lab/packs");
    let start = Instant::now();
    while files_under(&packs)
        .iter()
        .all(|p| p.extension().is_none_or(|x| x != "pack"))
    {
        assert!(
            start.elapsed() < STEP_TIMEOUT,
            "no pack reached the share:\n{}",
            &vm.output()[before..]
        );
        assert!(
            !vm.output()[before..].contains("@@first=0@@"),
            "the save finished before a pack was seen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    smb.daemon.stop();
    let stored_before = files_under(&packs).len();
    eprintln!("smbd stopped with {stored_before} pack files on the share");
    let (code, out) = finish(&mut vm, "first", before);
    assert_eq!(
        code, 2,
        "a save whose server vanished must fail as an error"
    );
    assert!(
        out.contains(&url),
        "the error does not name the share: {out}"
    );
    assert!(!out.contains(PASSWORD), "the password was printed: {out}");

    // The server comes back; the same command completes and reuses what had been stored.
    smb.daemon.start().unwrap_or_else(|e| panic!("{e}"));
    let (code, out) = run(&mut vm, "second", &save);
    assert_eq!(code, 0, "the re-run failed:\n{out}");
    let r = json_result(&out);
    let stat = |k: &str| r["stats"][k].as_u64().unwrap_or(0);
    // Zero chunks are never stored; the rest that are not new came from the cut-off save.
    let reused = stat("chunks") - stat("new_chunks") - stat("zero_chunks");
    assert!(
        reused >= 16,
        "the re-run reused {reused} chunks, not those of the pack stored before the cut: {r}"
    );
    drop(vm);

    let repo = share.path().join("lab");
    assert!(host(&["verify", &repo.display().to_string()])
        .status
        .success());
    let dst = kit::blank_disk(224 * MIB);
    let restore = host(&[
        "restore",
        "--yes",
        &format!("{}:big", repo.display()),
        &dst.path.display().to_string(),
    ]);
    assert!(restore.status.success());
    assert_restored(&src, &dst.path);
    assert_nowhere(share.path(), PASSWORD);
}
