//! The live system in 128 MiB of RAM (Clonezilla asks for 196 MB): the real kernel and
//! initramfs boot in a QEMU machine with 128 MiB and run an unattended save of a GPT disk
//! (FAT ESP, ext4, NTFS) to an ext4 USB drive, then, in a second boot with 128 MiB, an
//! unattended restore from that drive onto a blank virtio disk. Both must end "ok" with a
//! clean power off (an out-of-memory kill ends the job without a result, or with an error),
//! and from the host the restored disk's filesystems pass their checkers and hold the same
//! files as the source's. A second test does the same through a WebDAV repository on a
//! real nginx, over the VM's network.
//!
//! `#[ignore]`d like the other VM tests; `./build.sh test` runs them with `--ignored`.
#![allow(clippy::panic)] // tests report failures by panicking

use qemu_tests::{job_boot, Bus, VmBuilder};
use std::time::Duration;
use wraith_testkit::servers::Nginx;
use wraith_testkit::{self as kit, assert_same_filesystems, MIB};

const MEMORY_MIB: u32 = 128;
const JOB_TIMEOUT: Duration = Duration::from_secs(400);

/// The job's result, which must be a success followed by a clean power off (QEMU exits 0);
/// the console is searched for the kernel's OOM killer, which must not have run.
fn finish_job(vm: &mut qemu_tests::Vm, what: &str) -> serde_json::Value {
    let r = vm
        .result(JOB_TIMEOUT)
        .unwrap_or_else(|e| panic!("{what} in {MEMORY_MIB} MiB: {e}"));
    assert_eq!(r["result"], "ok", "{what} in {MEMORY_MIB} MiB: {r}");
    let code = vm
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code, 0, "{what}: clean power off");
    let out = vm.output();
    // For the notes, not asserted: what the boot left to the job.
    if let Some(line) = out.lines().find(|l| l.contains("wraith-init: memory: ")) {
        eprintln!("{what} in {MEMORY_MIB} MiB: {}", line.trim());
    }
    assert!(
        !out.contains("Out of memory") && !out.contains("invoked oom-killer"),
        "{what}: the OOM killer ran in {MEMORY_MIB} MiB:\n{out}"
    );
    r
}

#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn save_then_restore_through_a_usb_drive_in_128_mib() {
    let src = kit::gpt_disk();
    let usb = kit::images_drive(256 * MIB, "WRAITH-IMAGES");

    let save = "action=save source=serial:SRC-SATA repo=label:WRAITH-IMAGES/images image=pc1 verify=true after=poweroff";
    let mut vm = VmBuilder::new(job_boot(save))
        .memory(MEMORY_MIB)
        .disk(&src.path, Bus::Sata, "SRC-SATA")
        .disk(&usb.path, Bus::Usb, "USB-DRIVE")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let r = finish_job(&mut vm, "save");
    assert_eq!(r["verified"], true, "{r}");
    drop(vm);

    let target = kit::blank_disk(200 * MIB);
    let restore = "action=restore target=serial:BLANK repo=label:WRAITH-IMAGES/images image=pc1 verify=true after=poweroff";
    let mut vm = VmBuilder::new(job_boot(restore))
        .memory(MEMORY_MIB)
        .disk(&usb.path, Bus::Usb, "USB-DRIVE")
        .disk(&target.path, Bus::Virtio, "BLANK")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let r = finish_job(&mut vm, "restore");
    assert_eq!(r["verified"], true, "{r}");
    drop(vm);
    assert_same_filesystems(&src, &target.path);
}

/// The same over the network: QEMU's user network reaches the host's loopback at 10.0.2.2,
/// where a real nginx serves a directory over WebDAV. The save streams chunks to it with
/// PUT, the restore reads them back with GET; both in 128 MiB, both verified.
#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn save_then_restore_over_webdav_in_128_mib() {
    let src = kit::gpt_disk();
    let share = tempfile::tempdir().expect("tempdir");
    let web = Nginx::start(share.path(), "unused").unwrap_or_else(|e| panic!("{e}"));
    let repo = format!("http://10.0.2.2:{}/dav/lab", web.daemon.port);

    let save = format!(
        "action=save source=serial:SRC-SATA repo={repo} image=pc1 verify=true after=poweroff"
    );
    let mut vm = VmBuilder::new(job_boot(&save))
        .memory(MEMORY_MIB)
        .disk(&src.path, Bus::Sata, "SRC-SATA")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let r = finish_job(&mut vm, "save over WebDAV");
    assert_eq!(r["verified"], true, "{r}");
    drop(vm);

    let target = kit::blank_disk(200 * MIB);
    let restore = format!(
        "action=restore target=serial:BLANK repo={repo} image=pc1 verify=true after=poweroff"
    );
    let mut vm = VmBuilder::new(job_boot(&restore))
        .memory(MEMORY_MIB)
        .disk(&target.path, Bus::Virtio, "BLANK")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let r = finish_job(&mut vm, "restore over WebDAV");
    assert_eq!(r["verified"], true, "{r}");
    drop(vm);
    assert_same_filesystems(&src, &target.path);
}
