//! The real ISO and kernel booted in QEMU. These tests are `#[ignore]`d so a plain `cargo test`
//! stays quick and needs no built kernel; `./build.sh test` builds the artifacts and runs them
//! with `--ignored`.
#![allow(clippy::panic)] // tests report failures by panicking

mod support;

use qemu_tests::{artifact, job_boot, Boot, Bus, Firmware, VmBuilder};
use std::path::Path;
use std::time::Duration;
use wraith_testkit::{self as kit, assert_same_filesystems, MIB};

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
const JOB_TIMEOUT: Duration = Duration::from_secs(600);

fn iso() -> std::path::PathBuf {
    let p = artifact("WRAITH_ISO", "out/wraith.iso").unwrap_or_else(|e| panic!("{e}"));
    let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
    eprintln!("ISO {}: {:.1} MiB", p.display(), size as f64 / MIB as f64);
    p
}

/// The job's result, which must be a success followed by a clean power off (QEMU exits 0).
fn finish_job(vm: &mut qemu_tests::Vm) -> serde_json::Value {
    let r = vm.result(JOB_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r["result"], "ok", "{r}");
    let code = vm
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code, 0, "clean power off");
    r
}

/// How the boot menu's entry is chosen, and so where the UI must show up.
#[derive(Clone, Copy, PartialEq)]
enum Menu {
    /// Nothing: after the countdown the default entry boots, the UI on the screen.
    Default,
    /// No key either, but the machine's SMBIOS OEM string `wraith.console=serial` (as a
    /// headless lab VM or a BMC sets it) makes the serial-console entry the default.
    OemSerial,
    /// The technician presses `s` at the menu: the serial-console entry.
    PressS,
}

fn boots_to_ready(boot: Boot, firmware: Firmware, menu: Menu, what: &str) {
    let mut b = VmBuilder::new(boot).firmware(firmware).memory(256);
    if menu == Menu::OemSerial {
        b = b.oem_string("wraith.console=serial");
    }
    let mut vm = b.start().unwrap_or_else(|e| panic!("{e}"));
    if menu == Menu::PressS {
        // The countdown shows once GRUB's menu is drawn and reading keys.
        vm.wait_for("executed automatically in", BOOT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        vm.send("s").unwrap_or_else(|e| panic!("{e}"));
    }
    let secs = vm
        .wait_for("WRAITH-READY", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    eprintln!("{what}: boot to ready in {secs:.1} s (QEMU start to WRAITH-READY, TCG)");
    assert_booted_as(&vm, firmware, what);
    // The kernel names the entry it was booted from: the last console= is the UI's terminal.
    let out = vm.output();
    let cmdline = out
        .split("Command line: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("{what}: no kernel command line on the console:\n{out}"));
    let serial = menu != Menu::Default;
    let last_console = if serial {
        "console=ttyS0,115200"
    } else {
        "console=tty0"
    };
    assert!(
        cmdline.trim_end().ends_with(last_console),
        "{what}: booted {cmdline:?}, expected the UI on {last_console}"
    );
    if serial {
        // The UI takes the serial console over (its alternate screen) with no key pressed.
        vm.wait_for("\x1b[?1049h", BOOT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{what}: the UI did not start on the serial console: {e}"));
    } else if firmware == Firmware::SeaBios {
        // The UI on the VGA screen (tty1), read from the text buffer itself: the home screen
        // with the disk list, not a blank or a kernel log.
        let text = vga_screen(&vm, &["Disks", "QEMU DVD-ROM"], Duration::from_secs(60));
        assert!(text.contains("WRAITH BOOT MEDIUM"), "{what}:\n{text}");
        assert!(
            text.contains("Enter actions"),
            "{what}: no key line:\n{text}"
        );
        eprintln!("{what}: the VGA text screen:\n{text}");
        // And the display as a picture is not blank: more than one colour in it.
        let shot = tempfile::NamedTempFile::new().expect("temp file");
        vm.screendump(shot.path())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let ppm = std::fs::read(shot.path()).expect("read screendump");
        let pixels = &ppm[ppm.len().saturating_sub(640 * 400 * 3)..];
        let first = &pixels[..3];
        assert!(
            pixels.chunks(3).any(|p| p != first),
            "{what}: the screendump is one flat colour"
        );
    }
}

/// init's WRAITH-READY line up to its `boot=` word, once that has arrived: a test sees
/// "WRAITH-READY" as soon as those bytes come in, before the rest of the line (seen in CI:
/// the check ran on "WRAITH-READY uptime"), and a kernel message printed at the same moment
/// can land inside the line, so the word is looked for in what follows, not only on its line.
fn ready_line(vm: &qemu_tests::Vm, what: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = vm.output();
        let at = out
            .find("WRAITH-READY")
            .unwrap_or_else(|| panic!("{what}: no WRAITH-READY line"));
        let ready: String = out[at..].chars().take(600).collect();
        let complete = ready
            .split_once(" boot=")
            .is_some_and(|(_, rest)| rest.contains(char::is_whitespace));
        if complete || std::time::Instant::now() > deadline {
            return ready;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// init's WRAITH-READY line names how the machine booted; under Secure Boot that is Debian's
/// signed kernel, locked down by it, with its modules.
fn assert_booted_as(vm: &qemu_tests::Vm, firmware: Firmware, what: &str) {
    let ready = ready_line(vm, what);
    let out = vm.output();
    let want = match firmware {
        Firmware::SeaBios => "boot=bios",
        Firmware::Ovmf => "boot=uefi",
        Firmware::OvmfSecureBoot => "boot=uefi-secureboot",
    };
    assert!(
        ready.split_whitespace().any(|w| w == want),
        "{what}: {ready:?}, expected {want}"
    );
    let signed = out.contains("Command line: BOOT_IMAGE=/boot/sb/vmlinuz");
    assert_eq!(
        signed,
        firmware == Firmware::OvmfSecureBoot,
        "{what}: Debian's signed kernel must boot exactly when Secure Boot is on"
    );
    if signed {
        assert!(
            out.contains("Kernel is locked down from EFI Secure Boot"),
            "{what}"
        );
        assert!(
            out.contains("with its modules"),
            "{what}: no modules for the kernel"
        );
    }
}

/// The UI's screen on the VGA console (read from the text buffer, found by its title line)
/// once it shows everything in `want`.
fn vga_screen(vm: &qemu_tests::Vm, want: &[&str], timeout: Duration) -> String {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let rows = vm.vga_rows().unwrap_or_else(|e| panic!("{e}"));
        if let Some(t) = qemu_tests::screen_from(&rows, "Wraith - disk cloning")
            .filter(|t| want.iter().all(|w| t.contains(w)))
        {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {want:?} on the VGA console:\n{}",
            rows.join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
#[ignore = "boots the real ISO: run by ./build.sh test"]
fn iso_boots_to_ready_as_a_cd_under_seabios_with_the_ui_on_the_screen() {
    boots_to_ready(
        Boot::Cd(iso()),
        Firmware::SeaBios,
        Menu::Default,
        "SeaBIOS CD",
    );
}

#[test]
#[ignore = "boots the real ISO: run by ./build.sh test"]
fn iso_boots_as_a_cd_under_uefi_to_the_serial_console_its_oem_string_asks_for() {
    boots_to_ready(
        Boot::Cd(iso()),
        Firmware::Ovmf,
        Menu::OemSerial,
        "OVMF CD, OEM string",
    );
}

// The ISO as a USB stick under UEFI with 's' pressed on the menu boots in tui.rs
// (`a_usb_stick_with_a_data_partition_…`), which goes on to the UI: one boot, not two.

fn hash(path: &Path) -> fnv::Digest {
    fnv::digest(&std::fs::read(path).expect("read"))
}

/// A tiny content digest without pulling a hash crate into the tests: FNV-1a over 64-bit words.
mod fnv {
    pub type Digest = u64;
    pub fn digest(data: &[u8]) -> Digest {
        data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        })
    }
}

#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn unattended_clone_of_a_gpt_disk_from_sata_to_a_larger_nvme_disk_in_256_mib() {
    let src = kit::gpt_disk();
    let dst = kit::blank_disk(256 * MIB);
    let before = hash(&src.path);
    let job = "action=clone source=serial:SRC-SATA target=serial:DST-NVME after=poweroff";
    let mut vm = VmBuilder::new(job_boot(job))
        .memory(256)
        .disk(&src.path, Bus::Sata, "SRC-SATA")
        .disk(&dst.path, Bus::Nvme, "DST-NVME")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let result = finish_job(&mut vm);
    eprintln!("clone job took {} s in the guest", result["seconds"]);
    assert_eq!(hash(&src.path), before, "the source disk was written");
    // A larger disk: the last data partition (NTFS) takes the new space by default.
    kit::assert_table_grown(&dst.path, &src.path, 3);
    assert_same_filesystems(&src, &dst.path);
}

#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn unattended_save_to_a_usb_drive_then_restore_to_a_blank_virtio_disk_in_256_mib() {
    let src = kit::gpt_disk();
    // The technician's USB drive: ext4 on the whole stick, found by its label.
    let usb = kit::images_drive(256 * MIB, "WRAITH-IMAGES");
    let drive = usb.path.clone();

    let save = "action=save source=serial:SRC-SATA repo=label:WRAITH-IMAGES/images image=pc1 verify=true after=poweroff";
    let mut vm = VmBuilder::new(job_boot(save))
        .memory(256)
        .disk(&src.path, Bus::Sata, "SRC-SATA")
        .disk(&drive, Bus::Usb, "USB-DRIVE")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let r = finish_job(&mut vm);
    assert_eq!(r["verified"], true, "{r}");
    drop(vm);
    let fsck = std::process::Command::new("e2fsck")
        .arg("-fn")
        .arg(&drive)
        .output()
        .expect("e2fsck");
    assert!(
        fsck.status.success(),
        "the USB drive was left unclean: {}",
        String::from_utf8_lossy(&fsck.stdout)
    );

    let target = kit::blank_disk(200 * MIB);
    let restore = "action=restore target=serial:BLANK repo=label:WRAITH-IMAGES/images image=pc1 verify=true after=poweroff";
    let mut vm = VmBuilder::new(job_boot(restore))
        .memory(256)
        .disk(&drive, Bus::Usb, "USB-DRIVE")
        .disk(&target.path, Bus::Virtio, "BLANK")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let r = finish_job(&mut vm);
    assert_eq!(r["verified"], true, "{r}");
    assert_eq!(r["layout"]["policy"], "grow", "{r}");
    kit::assert_table_grown(&target.path, &src.path, 3);
    assert_same_filesystems(&src, &target.path);
}

/// The field complaint: an image of a larger disk onto a smaller one. The live system (256 MiB
/// of RAM) runs an unattended restore with `layout=fit`: the ext4 and NTFS partitions shrink
/// with the real resize2fs and ntfsresize it ships, the ESP keeps its size, the restore
/// verifies itself, and from the host the table passes `sfdisk --verify`, every filesystem
/// its checker and every file is identical.
#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn unattended_restore_onto_a_smaller_disk_shrinks_to_fit_in_256_mib() {
    let src = kit::DiskBuilder::new(512 * MIB, kit::Table::Gpt)
        .seed(0x6669_7400)
        .part(48 * MIB, kit::FsType::Fat32, "ESP")
        .with_type(kit::GPT_EFI)
        .part(256 * MIB, kit::FsType::Ext4, "root")
        .part(160 * MIB, kit::FsType::Ntfs, "DATA")
        .with_type(kit::GPT_BASIC_DATA)
        .build()
        .expect("building the fixture");
    let usb = support::repository_drive(&[("pc1", &src, "OLD-DISK")]);
    let target = kit::blank_disk(300 * MIB);
    let restore = "action=restore target=serial:SMALL repo=label:IMAGES/lab image=pc1 layout=fit verify=true after=poweroff";
    let mut vm = VmBuilder::new(job_boot(restore))
        .memory(256)
        .disk(&usb.path, Bus::Usb, "USB-DRIVE")
        .disk(&target.path, Bus::Virtio, "SMALL")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let r = finish_job(&mut vm);
    eprintln!(
        "fit restore took {} s in the guest: {}",
        r["seconds"], r["layout"]
    );
    assert_eq!(r["verified"], true, "{r}");
    assert_eq!(r["layout"]["policy"], "fit", "{r}");
    let steps = r["layout"]["steps"].as_array().cloned().unwrap_or_default();
    let how: Vec<&str> = steps.iter().filter_map(|s| s["how"].as_str()).collect();
    assert_eq!(how[0], "copy", "the ESP keeps its size: {r}");
    assert!(
        how[1..].iter().all(|h| h.starts_with("shrink")),
        "ext4 and NTFS shrink: {r}"
    );
    kit::assert_table_verifies(&target.path);
    assert_same_filesystems(&src, &target.path);
}

/// Disk health before a job, as the drives report it through the live system's kernel: an
/// unattended restore onto an NVMe drive whose health log carries a critical warning
/// (reliability degraded) is refused before anything is written, naming the warning; the job's
/// log shows the SATA disk's SMART data (QEMU's emulated attributes: overall status,
/// reallocated sectors, power-on hours, temperature) and the USB drive's health as unknown
/// (its bridge passes no ATA commands), never as an error.
#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn a_restore_onto_an_nvme_drive_with_a_critical_warning_is_refused_and_sata_smart_is_shown() {
    let src = kit::gpt_disk();
    let usb = support::repository_drive(&[("pc1", &src, "OLD-DISK")]);
    let dying = kit::blank_disk(src.size);
    let sata = kit::blank_disk(64 * MIB);
    let restore =
        "action=restore target=serial:DYING repo=label:IMAGES/lab image=pc1 after=poweroff";
    let mut vm = VmBuilder::new(job_boot(restore))
        .memory(256)
        .disk(&usb.path, Bus::Usb, "USB-DRIVE")
        .disk(&sata.path, Bus::Sata, "SATA-DISK")
        .disk(&dying.path, Bus::NvmeWarning(0x04), "DYING")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let r = vm.result(JOB_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r["result"], "error", "{r}");
    assert_eq!(r["interlock"], "failing_target", "{r}");
    let err = r["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("critical warning: reliability degraded") && err.contains("DYING"),
        "the refusal names the drive and its warning: {err}"
    );
    let out = vm.output();
    let health = |serial: &str| -> String {
        out.lines()
            .find(|l| l.contains("job: disk") && l.contains(serial))
            .map(|l| l.trim_end().to_string())
            .unwrap_or_else(|| panic!("no health line for {serial} in:\n{out}"))
    };
    let sata_line = health("SATA-DISK");
    eprintln!("{sata_line}");
    assert!(
        sata_line.contains("health good: SMART passed, 0 reallocated")
            && sata_line.contains(" h on")
            && sata_line.ends_with(" C"),
        "SMART data of the SATA disk: {sata_line}"
    );
    let nvme_line = health("DYING");
    assert!(
        nvme_line.contains("health FAILING: critical warning"),
        "{nvme_line}"
    );
    assert!(
        health("USB-DRIVE").contains("health unknown ("),
        "{}",
        health("USB-DRIVE")
    );
    let zeros = std::fs::read(&dying.path).expect("read target");
    assert!(
        zeros.iter().all(|&b| b == 0),
        "nothing was written to the failing drive"
    );
}

/// `wraith.keymap=de` gives the VGA console a German keyboard: the home screen says so, and
/// the key right of 0 with Shift (`-` and `_` on a US keyboard, `?` on a German one) opens
/// the help, as `?` does. Keys go in through QEMU's PS/2 keyboard (QMP send-key); the screen
/// is read from the VGA text buffer.
#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn wraith_keymap_de_gives_the_vga_console_a_german_keyboard() {
    let kernel = artifact("WRAITH_KERNEL", "out/pxe/vmlinuz").unwrap_or_else(|e| panic!("{e}"));
    let initramfs =
        artifact("WRAITH_INITRAMFS", "out/pxe/initramfs.zst").unwrap_or_else(|e| panic!("{e}"));
    let vm = VmBuilder::new(Boot::Kernel {
        kernel,
        initramfs,
        // The last console= is the UI's: the screen.
        append: "console=ttyS0,115200 panic=-1 console=tty0 wraith.keymap=de".into(),
    })
    .memory(256)
    .start()
    .unwrap_or_else(|e| panic!("{e}"));
    let screen = |want: &str| vga_screen(&vm, &[want], BOOT_TIMEOUT);
    screen("keyboard de");
    vm.qmp(
        serde_json::json!({ "execute": "send-key", "arguments": { "keys": [
        { "type": "qcode", "data": "shift" }, { "type": "qcode", "data": "minus" } ] } }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let help = screen("Keys - Home");
    assert!(help.contains("the keyboard layout"), "{help}");
}

/// The NIC firmware the built-in drivers of common desktop and laptop NICs load (Realtek
/// r8169/r8152, Broadcom tg3 and bnx2x) is in the live system, with Debian's licence file of
/// each firmware package, and the ISO stays small.
#[test]
#[ignore = "reads the built initramfs and ISO: run by ./build.sh test"]
fn the_live_system_ships_nic_firmware_with_its_licences() {
    let initramfs =
        artifact("WRAITH_INITRAMFS", "out/pxe/initramfs.zst").unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("zstd -dc \"$1\" | cpio -it --quiet")
        .arg("sh")
        .arg(&initramfs)
        .output()
        .expect("zstd | cpio");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = String::from_utf8_lossy(&out.stdout);
    for f in [
        "lib/firmware/rtl_nic/rtl8168h-2.fw",
        "lib/firmware/rtl_nic/rtl8153b-2.fw",
        "lib/firmware/tigon/tg3_tso5.bin",
        "lib/firmware/bnx2x/bnx2x-e2-7.13.21.0.fw",
        "usr/share/doc/firmware/firmware-realtek.copyright",
        "usr/share/doc/firmware/firmware-misc-nonfree.copyright",
        "usr/share/doc/firmware/firmware-bnx2x.copyright",
    ] {
        assert!(
            list.lines().any(|l| l.trim_start_matches("./") == f),
            "{f} is not in {}",
            initramfs.display()
        );
    }
    let size = std::fs::metadata(iso()).map(|m| m.len()).unwrap_or(0);
    assert!(size <= 48 * MIB, "ISO of {size} bytes (goal: 48 MiB)");
}

/// A target pulled out in the middle of an unattended restore (a USB disk whose cable slips):
/// the job ends with an error that says the disk went away and what state it is left in, not
/// a bare I/O error.
#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn a_target_unplugged_in_the_middle_of_a_restore_ends_the_job_with_a_clear_error() {
    let src = kit::gpt_disk();
    let usb = support::repository_drive(&[("pc1", &src, "OLD-DISK")]);
    let stick = kit::blank_disk(src.size);
    let restore =
        "action=restore target=serial:PULLED repo=label:IMAGES/lab image=pc1 after=poweroff";
    let mut vm = VmBuilder::new(job_boot(restore))
        .memory(256)
        .disk(&usb.path, Bus::Usb, "USB-DRIVE")
        .disk(&stick.path, Bus::Usb, "PULLED")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    // 256 KiB/s: the restore's writes take well over the seconds waited below.
    vm.throttle_writes(1, 256 << 10)
        .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for("job: Restore", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_secs(3));
    vm.unplug("dev1").unwrap_or_else(|e| panic!("{e}"));
    let r = vm.result(JOB_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r["result"], "error", "{r}");
    let err = r["error"].as_str().unwrap_or_default();
    eprintln!("unplugged mid-restore: {err}");
    assert!(
        err.contains("went away during the restore")
            && err.contains("PULLED")
            && err.contains("partial copy"),
        "the error says the target went away and what state it is in: {err}"
    );
}

#[test]
#[ignore = "boots the real ISO: run by ./build.sh test"]
fn iso_job_entry_runs_the_job_file_from_a_usb_stick_and_never_touches_the_boot_medium() {
    job_file_clone_from_the_iso(Firmware::SeaBios);
}

/// A PC as shipped: UEFI, Secure Boot on, only Microsoft's keys. On GRUB's command line of the
/// ISO the tiny kernel (unsigned) must not load: shim's verifier refuses it, so the firmware
/// and GRUB really enforce signatures in the Secure Boot tests.
#[test]
#[ignore = "boots the real ISO: run by ./build.sh test"]
fn with_secure_boot_on_an_unsigned_kernel_is_refused() {
    let mut vm = VmBuilder::new(Boot::Cd(iso()))
        .firmware(Firmware::OvmfSecureBoot)
        .memory(256)
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for("executed automatically in", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    vm.send("c").unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for("grub>", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    type_slowly(&mut vm, "linux /boot/vmlinuz\r");
    vm.wait_for("bad shim signature", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("the unsigned kernel was not refused: {e}"));
}

/// A PC as shipped: UEFI, Secure Boot on, only Microsoft's keys. The ISO boots as a CD through
/// shim and Debian's signed GRUB and kernel (no key enrolled) and runs a clone job; the disks'
/// drivers and the stick's FAT come as modules.
#[test]
#[ignore = "boots the real ISO: run by ./build.sh test"]
fn iso_boots_as_a_cd_with_secure_boot_on_and_runs_the_job_file() {
    job_file_clone_from_the_iso(Firmware::OvmfSecureBoot);
}

/// GRUB polls the serial port and loses characters that come faster than it reads them.
fn type_slowly(vm: &mut qemu_tests::Vm, text: &str) {
    for c in text.chars() {
        vm.send(&c.to_string()).unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn job_file_clone_from_the_iso(firmware: Firmware) {
    let src = kit::gpt_disk();
    let dst = kit::blank_disk(200 * MIB);
    // The technician's stick: FAT, with wraith-job.toml at its root.
    let dir = tempfile::tempdir().expect("tempdir");
    let stick = dir.path().join("stick.img");
    std::fs::File::create(&stick)
        .expect("create")
        .set_len(16 * MIB)
        .expect("size");
    let ok = |c: &mut std::process::Command| assert!(c.status().expect("run").success(), "{c:?}");
    ok(std::process::Command::new("mkfs.vfat")
        .arg("-n")
        .arg("JOBS")
        .arg(&stick));
    let job = dir.path().join("wraith-job.toml");
    // rule:other-internal must pick the blank disk: not the source, not the USB stick, not the CD.
    std::fs::write(&job, "action = \"clone\"\nsource = \"serial:SRC-SATA\"\ntarget = \"rule:other-internal\"\nafter = \"poweroff\"\n").expect("job");
    ok(std::process::Command::new("mcopy")
        .arg("-i")
        .arg(&stick)
        .arg(&job)
        .arg("::/wraith-job.toml"));
    let iso = iso();
    let before = std::fs::read(&iso).expect("read iso");
    // Debian's kernel and its modules do not fit beside the firmware and GRUB in 256 MiB.
    let memory = if firmware == Firmware::OvmfSecureBoot {
        512
    } else {
        256
    };
    let mut vm = VmBuilder::new(Boot::Cd(iso.clone()))
        .firmware(firmware)
        .memory(memory)
        .disk(&src.path, Bus::Sata, "SRC-SATA")
        .disk(&dst.path, Bus::Virtio, "TARGET")
        .disk(&stick, Bus::Usb, "JOBSTICK")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    // The countdown shows once GRUB's menu is drawn and reading keys.
    vm.wait_for("executed automatically in", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    vm.send("j").unwrap_or_else(|e| panic!("{e}"));
    let r = finish_job(&mut vm);
    assert_booted_as(&vm, firmware, "job file");
    assert_eq!(r["target"]["serial"], "TARGET", "{r}");
    assert!(std::fs::read(&iso).expect("read iso") == before);
    // A larger disk: the last data partition (NTFS) takes the new space by default.
    kit::assert_table_grown(&dst.path, &src.path, 3);
    assert_same_filesystems(&src, &dst.path);
}
