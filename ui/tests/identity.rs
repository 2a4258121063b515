//! Each deployed machine gets its own identity: `wraith restore --hostname` and jobs with
//! `hostname` / `[hostnames]` restore a golden image (a Linux root on ext4 and a sysprepped
//! Windows on NTFS, made by mkfs and filled through the kernel's ext4 and ntfs-3g), then name
//! the machine. The restored filesystems are read back with the real tools (debugfs, ntfscat)
//! and checked by e2fsck and ntfsfix; everything else on them stays as saved.
#![allow(clippy::unwrap_used, clippy::panic)]

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use wraith_testkit as kit;
use wraith_testkit::loopdev::Loop;

fn wraith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sh(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const UNATTEND: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
    <unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n\
    <settings pass=\"oobeSystem\"><component name=\"Microsoft-Windows-International-Core\" \
    processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" language=\"neutral\" \
    versionScope=\"nonSxS\"><UILanguage>de-DE</UILanguage></component></settings>\n\
    </unattend>\n";

/// A golden machine's disk: partition 1 a Debian-like root, partition 2 a sysprepped Windows
/// with its own answer file. None where loop devices, ext4 or ntfs-3g are not available.
fn golden() -> Option<kit::Disk> {
    kit::require_tools();
    if !nix::unistd::Uid::effective().is_root() || !Path::new("/dev/fuse").exists() {
        kit::skip_missing_tool(
            "root with loop devices and FUSE",
            "naming restored machines",
        );
        return None;
    }
    if kit::find_tool("ntfs-3g").is_none() {
        kit::skip_missing_tool("ntfs-3g", "naming restored Windows");
        return None;
    }
    let disk = kit::DiskBuilder::new(100 * kit::MIB, kit::Table::Gpt)
        .part(48 * kit::MIB, kit::FsType::Ext4, "root")
        .part(40 * kit::MIB, kit::FsType::Ntfs, "windows")
        .build()
        .unwrap();
    let mnt = tempfile::tempdir().unwrap();
    let m = mnt.path();

    let root = &disk.parts[0];
    let lo = Loop::attach_range(&disk.path, root.start, root.len).expect("loop device");
    sh(Command::new("mount").args(["-t", "ext4", &lo.0]).arg(m));
    for d in [
        "etc/ssh",
        "etc/systemd/system",
        "usr/lib/systemd",
        "var/lib/dbus",
        "home/ann",
    ] {
        std::fs::create_dir_all(m.join(d)).unwrap();
    }
    let files: [(&str, &str); 9] = [
        ("etc/hostname", "golden\n"),
        (
            "etc/hosts",
            "127.0.0.1\tlocalhost\n127.0.1.1\tgolden.lab.example golden\n::1 localhost\n",
        ),
        ("etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
        (
            "usr/lib/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
        ),
        (
            "etc/ssh/ssh_host_ed25519_key",
            "private key of the golden machine\n",
        ),
        (
            "etc/ssh/ssh_host_ed25519_key.pub",
            "ssh-ed25519 AAAA golden\n",
        ),
        ("etc/ssh/sshd_config", "PermitRootLogin no\n"),
        ("usr/lib/systemd/systemd", "an init\n"),
        ("home/ann/notes.txt", "kept as saved\n"),
    ];
    for (p, c) in files {
        std::fs::write(m.join(p), c).unwrap();
    }
    // Links as Debian has them: relative os-release, D-Bus's id a link to /etc's (to be left
    // alone: never followed out of the restored root).
    std::os::unix::fs::symlink("../usr/lib/os-release", m.join("etc/os-release")).unwrap();
    std::os::unix::fs::symlink("/etc/machine-id", m.join("var/lib/dbus/machine-id")).unwrap();
    sh(Command::new("umount").arg(m));
    drop(lo);

    let win = &disk.parts[1];
    let lo = Loop::attach_range(&disk.path, win.start, win.len).expect("loop device");
    sh(Command::new("ntfs-3g").arg(&lo.0).arg(m));
    for d in [
        "Windows/System32/config",
        "Windows/Setup/State",
        "Windows/Panther",
    ] {
        std::fs::create_dir_all(m.join(d)).unwrap();
    }
    std::fs::write(m.join("Windows/System32/config/SYSTEM"), "hive").unwrap();
    std::fs::write(
        m.join("Windows/Setup/State/State.ini"),
        "[State]\r\nImageState=IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE\r\n",
    )
    .unwrap();
    std::fs::write(m.join("Windows/Panther/Unattend.xml"), UNATTEND).unwrap();
    sh(Command::new("umount").arg(m));
    drop(lo);
    Some(disk)
}

fn debugfs(part: &Path, cmd: &str) -> String {
    sh(Command::new("debugfs").arg("-R").arg(cmd).arg(part))
}

fn ntfscat(part: &Path, path: &str) -> String {
    sh(Command::new("ntfscat").arg("-f").arg(part).arg(path))
}

fn result_of(o: &Output) -> Value {
    let out = String::from_utf8_lossy(&o.stdout);
    // A job's WRAITH-RESULT line, else the last line (`--json`).
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("WRAITH-RESULT "))
        .or_else(|| out.lines().last())
        .unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

#[test]
fn a_restored_machine_gets_its_own_name_id_and_ssh_keys() {
    let Some(disk) = golden() else { return };
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let spec = format!("{}:golden", s(&repo));
    let o = wraith(&["--json", "save", s(&disk.path), &spec]);
    assert!(o.status.success(), "{}", text(&o));

    let target = work.path().join("pc07.img");
    let o = wraith(&[
        "--json",
        "restore",
        &spec,
        s(&target),
        "--yes",
        "--verify",
        "--hostname",
        "lab-07",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v = result_of(&o);
    assert_eq!(v["result"], "ok", "{v}");
    // Verified against the image before naming changed anything.
    assert_eq!(v["verified"], true, "{v}");
    let named = v["identity"].as_array().unwrap();
    assert_eq!(named.len(), 2, "{v}");
    assert_eq!(named[0]["system"], "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(named[1]["system"], "Windows");
    assert!(
        named[1].get("warnings").is_none(),
        "a sysprepped Windows needs no warning: {v}"
    );

    // Linux, read back by debugfs from the restored partition.
    let root = kit::extract(&target, disk.parts[0].start, disk.parts[0].len).unwrap();
    let r = root.path();
    assert_eq!(debugfs(r, "cat /etc/hostname"), "lab-07\n");
    let hosts = debugfs(r, "cat /etc/hosts");
    assert!(
        hosts.contains("127.0.1.1\tlab-07.lab.example lab-07\n")
            && hosts.contains("127.0.0.1\tlocalhost\n")
            && !hosts.contains("golden"),
        "{hosts}"
    );
    assert_eq!(debugfs(r, "cat /etc/machine-id"), "");
    let ssh = debugfs(r, "ls -l /etc/ssh");
    assert!(
        !ssh.contains("ssh_host_") && ssh.contains("sshd_config"),
        "{ssh}"
    );
    let unit = debugfs(r, "cat /etc/systemd/system/wraith-ssh-host-keys.service");
    assert!(
        unit.contains("ExecStart=/usr/bin/ssh-keygen -A") && unit.contains("Before=ssh.service"),
        "{unit}"
    );
    let wants = debugfs(
        r,
        "stat /etc/systemd/system/multi-user.target.wants/wraith-ssh-host-keys.service",
    );
    assert!(wants.contains("Type: symlink"), "{wants}");
    let dbus = debugfs(r, "stat /var/lib/dbus/machine-id");
    assert!(
        dbus.contains("Type: symlink"),
        "the link is left as it was: {dbus}"
    );
    assert_eq!(debugfs(r, "cat /home/ann/notes.txt"), "kept as saved\n");
    kit::fsck(&target, &disk.parts[0]).unwrap();

    // Windows, read back by ntfscat.
    let win = kit::extract(&target, disk.parts[1].start, disk.parts[1].len).unwrap();
    let unattend = ntfscat(win.path(), "/Windows/Panther/Unattend.xml");
    assert_eq!(
        unattend
            .matches("<ComputerName>lab-07</ComputerName>")
            .count(),
        3,
        "{unattend}"
    );
    assert!(
        unattend.contains("<UILanguage>de-DE</UILanguage>")
            && unattend.contains("<settings pass=\"specialize\">"),
        "the golden answer file is kept, a specialize pass added: {unattend}"
    );
    assert_eq!(
        ntfscat(win.path(), "/Windows/System32/config/SYSTEM"),
        "hive"
    );
    kit::fsck(&target, &disk.parts[1]).unwrap();

    // The source disk was never written, and restoring without a name gives the image as it
    // was (the names live only on the restored machine).
    let plain = work.path().join("plain.img");
    let o = wraith(&["--json", "restore", &spec, s(&plain), "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let p = kit::extract(&plain, disk.parts[0].start, disk.parts[0].len).unwrap();
    assert_eq!(debugfs(p.path(), "cat /etc/hostname"), "golden\n");
}

#[test]
fn a_machine_that_cannot_be_named_is_refused_before_its_disk_is_touched() {
    let Some(disk) = golden() else { return };
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let spec = format!("{}:golden", s(&repo));
    let o = wraith(&["save", s(&disk.path), &spec]);
    assert!(o.status.success(), "{}", text(&o));

    // A target that holds something: it must still hold it after each refusal.
    let target = work.path().join("target.img");
    std::fs::write(&target, vec![0x5a; (100 * kit::MIB) as usize]).unwrap();
    let untouched = |what: &str| {
        let b = std::fs::read(&target).unwrap();
        assert!(
            b.iter().all(|&x| x == 0x5a),
            "{what}: the target was written"
        );
    };

    // `wraith restore --hostname NAME` refused with `why`, the target as it was.
    let refused = |name: &str, why: &str| {
        let o = wraith(&["restore", &spec, s(&target), "--yes", "--hostname", name]);
        assert!(!o.status.success(), "--hostname {name} accepted");
        assert!(text(&o).contains(why), "{}", text(&o));
        untouched(name);
    };
    // Windows takes at most 15 characters; the image holds NTFS.
    refused("classroom-pc-0042", "at most 15 characters");
    refused("lab_07", "is not a host name");

    // A job whose table does not know this machine and that has no template.
    let job = work.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            "action = \"restore\"\ntarget = \"{}\"\nrepository = \"{}\"\nimage = \"golden\"\n\
             after = \"none\"\n[hostnames]\n\"52:54:00:aa:bb:cc\" = \"lab-01\"\n\
             \"NO-SUCH-SERIAL\" = \"lab-02\"\n",
            s(&target),
            s(&repo)
        ),
    )
    .unwrap();
    let o = wraith(&["job", "--file", s(&job)]);
    assert!(!o.status.success());
    let v = result_of(&o);
    assert_ne!(v["result"], "ok", "{v}");
    assert!(
        text(&o).contains("not in the job's hostnames table"),
        "{}",
        text(&o)
    );
    untouched("a machine missing from the table");

    // A template that cannot be filled here: the build host's firmware has a serial only
    // where DMI is present; where it is, the name is made and the job goes on.
    let has_serial = wraith_engine::machine::this()
        .and_then(|m| m.serial)
        .is_some();
    if !has_serial {
        refused("lab-{serial}", "no serial number");
    }

    // A job naming this machine by one of its cards (where it has a physical one).
    let facts = wraith_engine::identity::Facts::this_machine();
    if let Some(mac) = facts.macs.first() {
        std::fs::write(
            &job,
            format!(
                "action = \"restore\"\ntarget = \"{}\"\nrepository = \"{}\"\nimage = \"golden\"\n\
                 after = \"none\"\nhostname = \"never-{{mac}}\"\n[hostnames]\n\"{}\" = \"room-3\"\n",
                s(&target),
                s(&repo),
                wraith_engine::identity::mac_text(mac).to_uppercase().replace(':', "-")
            ),
        )
        .unwrap();
        let o = wraith(&["job", "--file", s(&job)]);
        assert!(o.status.success(), "{}", text(&o));
        let v = result_of(&o);
        assert_eq!(v["result"], "ok", "{v}");
        let root = kit::extract(&target, disk.parts[0].start, disk.parts[0].len).unwrap();
        assert_eq!(debugfs(root.path(), "cat /etc/hostname"), "room-3\n");
    }
}
