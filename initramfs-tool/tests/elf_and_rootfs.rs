//! ELF dependency resolution against the host (checked against ldd), and the real
//! rootfs/rootfs.toml built with stand-in binaries.
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers, not only #[test] fns

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use initramfs_tool::config::DEFAULT_LIBRARY_PATHS;
use initramfs_tool::elf::Resolver;
use initramfs_tool::newc::{read_newc, write_image};
use initramfs_tool::{build, BuildOptions, Config, Kind};

fn resolver() -> Resolver {
    Resolver::new(
        DEFAULT_LIBRARY_PATHS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
}

/// The files ldd says the binary loads, canonicalised (ldd may print /lib or /usr/lib).
fn ldd(bin: &str) -> BTreeSet<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().expect("ldd");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut set = BTreeSet::new();
    for line in text.lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path {
            set.insert(std::fs::canonicalize(p).unwrap());
        }
    }
    set
}

#[test]
fn dependencies_of_host_binaries_match_ldd() {
    for bin in ["/usr/bin/zstd", "/bin/ls", "/bin/udevadm"] {
        if !Path::new(bin).exists() {
            skipped(bin);
            continue;
        }
        let (info, needed) = resolver().resolve(Path::new(bin), bin).unwrap().unwrap();
        assert!(!info.is_static());
        let ours: BTreeSet<PathBuf> = needed
            .iter()
            .map(|n| std::fs::canonicalize(&n.host).unwrap())
            .collect();
        assert_eq!(ours, ldd(bin), "{bin}");
        // Archive paths sit in the directories ld.so searches, under the names asked for.
        assert!(
            needed
                .iter()
                .any(|n| n.archive == "/lib64/ld-linux-x86-64.so.2"),
            "{needed:?}"
        );
        assert!(
            needed
                .iter()
                .any(|n| n.archive == "/lib/x86_64-linux-gnu/libc.so.6"),
            "{needed:?}"
        );
    }
}

#[test]
fn static_binaries_have_no_dependencies() {
    let bin = Path::new("/bin/busybox");
    if !bin.exists() {
        skipped("busybox-static");
        return;
    }
    let (info, needed) = resolver().resolve(bin, "/bin/busybox").unwrap().unwrap();
    assert!(info.is_static());
    assert!(needed.is_empty(), "{needed:?}");
}

#[test]
fn non_elf_binaries_are_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("init.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let cfg = Config::parse(&format!(
        "[[binary]]\nsrc = \"{}\"\ndest = \"/init\"\n",
        script.display()
    ))
    .unwrap();
    let msg = build(&cfg, &BuildOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("not an ELF") && msg.contains("[[file]]") && msg.contains("/init"),
        "{msg}"
    );
}

#[test]
fn libraries_are_stored_as_real_file_plus_the_requested_name() {
    let bin = "/usr/bin/zstd";
    let cfg = Config::parse(&format!(
        "[[binary]]\nsrc = \"{bin}\"\ndest = \"/usr/bin/zstd\"\n"
    ))
    .unwrap();
    let img = build(&cfg, &BuildOptions::default()).unwrap().image;
    let Some(link) = img.get("/lib/x86_64-linux-gnu/liblzma.so.5") else {
        panic!("liblzma missing")
    };
    let Kind::Symlink { target } = &link.kind else {
        panic!("liblzma.so.5 should be a symlink: {link:?}")
    };
    assert!(
        target.starts_with("liblzma.so.5.") && !target.contains('/'),
        "{target}"
    );
    let real = img.get(&format!("/lib/x86_64-linux-gnu/{target}")).unwrap();
    assert!(matches!(real.kind, Kind::File { .. }));
    // The interpreter path the kernel opens is there (as a link into the multiarch dir).
    assert!(img.get("/lib64/ld-linux-x86-64.so.2").is_some());
    assert!(matches!(
        img.get("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
            .unwrap()
            .kind,
        Kind::File { .. }
    ));
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn real_rootfs_builds_with_stand_in_binaries() {
    let missing: Vec<&str> = ["udev", "busybox-static"]
        .into_iter()
        .filter(|p| {
            !Command::new("dpkg")
                .args(["-s", p])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if !missing.is_empty() {
        skipped(&format!("the Debian packages {missing:?}"));
        return;
    }
    let root = repo_root();
    let cfg = Config::load(&root.join("rootfs/rootfs.toml")).unwrap();
    let mut opts = BuildOptions {
        overlays: vec![root.join("rootfs/overlay")],
        ..Default::default()
    };
    // A static stand-in for init, a dynamic one (glibc, libzstd) for wraith.
    opts.vars.insert("INIT".into(), "/bin/busybox".into());
    opts.vars.insert("WRAITH".into(), "/usr/bin/zstd".into());
    // Stand-ins for the fetched firmware and the compiled keymaps (rootfs/firmware.sh and
    // rootfs/keymaps.sh make the real ones during ./build.sh iso).
    let fetched = tempfile::tempdir().unwrap();
    for (dir, file) in [
        ("firmware/rtl_nic", "rtl8168h-2.fw"),
        ("licences", "firmware-realtek.copyright"),
        ("keymaps", "de.bmap"),
    ] {
        std::fs::create_dir_all(fetched.path().join(dir)).unwrap();
        std::fs::write(fetched.path().join(dir).join(file), b"stand-in").unwrap();
    }
    opts.vars
        .insert("FIRMWARE".into(), fetched.path().display().to_string());
    opts.vars.insert(
        "KEYMAPS".into(),
        fetched.path().join("keymaps").display().to_string(),
    );
    let built = build(&cfg, &opts).unwrap();
    let raw = write_image(&built.image, 0).unwrap();
    let names: BTreeSet<String> = read_newc(&raw)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    for want in [
        "init",
        "usr/bin/wraith",
        "bin/busybox",
        "bin/sh",
        "bin/mount",
        "bin/udhcpc",
        "bin/udevadm",
        "lib/systemd/systemd-udevd",
        "lib/udev/ata_id",
        "lib/firmware/rtl_nic/rtl8168h-2.fw",
        "usr/share/doc/firmware/firmware-realtek.copyright",
        "usr/share/wraith/keymaps/de.bmap",
        "lib/udev/scsi_id",
        "lib/udev/rules.d/50-udev-default.rules",
        "lib/udev/rules.d/60-persistent-storage.rules",
        "lib/udev/rules.d/60-block.rules",
        "etc/udev/udev.conf",
        "lib64/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/libc.so.6",
        "lib/x86_64-linux-gnu/libzstd.so.1",
        "lib/x86_64-linux-gnu/libblkid.so.1",
        "lib/x86_64-linux-gnu/libkmod.so.2",
        "lib/x86_64-linux-gnu/libcrypto.so.3",
        "etc/passwd",
        "etc/group",
        "etc/hostname",
        "etc/os-release",
        "dev/console",
        "dev/null",
        "proc",
        "sys",
        "run",
        "tmp",
    ] {
        assert!(names.contains(want), "{want} missing from the live rootfs");
    }
    // Every symlink in the archive resolves to something inside the archive.
    for (path, entry) in built.image.entries() {
        if let Kind::Symlink { target } = &entry.kind {
            if target.starts_with("/proc/") {
                continue;
            }
            let resolved = if target.starts_with('/') {
                target.clone()
            } else {
                format!("{}/{target}", path.rsplit_once('/').unwrap().0)
            };
            let resolved = initramfs_tool::image::normalize(&resolved).unwrap();
            // /run is a tmpfs that init fills at boot (e.g. resolv.conf from the DHCP client).
            if resolved.starts_with("/run/") {
                continue;
            }
            assert!(
                built.image.get(&resolved).is_some(),
                "{path} -> {target} dangles"
            );
        }
    }
}

#[test]
fn strip_stores_a_smaller_copy_that_is_still_the_same_program() {
    if Command::new("strip").arg("--version").output().is_err() {
        skipped("binutils' strip");
        return;
    }
    // Our own test binary has symbols; a stripped copy must be smaller and still ELF.
    let me = std::env::current_exe().unwrap();
    let text = format!(
        "[[binary]]\nsrc = \"{}\"\ndest = \"/bin/t\"\nstrip = true\n",
        me.display()
    );
    let img = build(&Config::parse(&text).unwrap(), &BuildOptions::default())
        .unwrap()
        .image;
    let Kind::File { data, .. } = &img.get("/bin/t").unwrap().kind else {
        panic!()
    };
    assert!(data.starts_with(b"\x7fELF"));
    assert!((data.len() as u64) < std::fs::metadata(&me).unwrap().len());
    let again = build(&Config::parse(&text).unwrap(), &BuildOptions::default())
        .unwrap()
        .image;
    assert_eq!(
        again.get("/bin/t").unwrap().kind,
        img.get("/bin/t").unwrap().kind
    );
}

/// A test part that cannot run here because `what` is missing says so on stderr; under
/// `./build.sh test` (WRAITH_NO_SKIP=1, after installing every package) that is a failure.
fn skipped(what: &str) {
    assert!(
        std::env::var_os("WRAITH_NO_SKIP").is_none(),
        "{what} is not installed (WRAITH_NO_SKIP is set: run ./build.sh deps)"
    );
    eprintln!("SKIPPED: {what} is not installed (./build.sh deps installs it)");
}
