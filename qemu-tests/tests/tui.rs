//! The terminal UI on the real ISO, driven like a technician at a serial terminal: boot the
//! serial-console GRUB entry, read the screen through a terminal emulator (the raw bytes fed
//! into a 25x80 `vt100::Parser`), type keys, and clone one virtual disk to another. The result
//! is checked from the host with the real tools. `#[ignore]`d like boot.rs: `./build.sh test`
//! builds the ISO and runs it with `--ignored`.
#![allow(clippy::panic)] // tests report failures by panicking

use qemu_tests::{artifact, Boot, Bus, Vm, VmBuilder};
use std::time::{Duration, Instant};
use wraith_testkit::{self as kit, assert_same_filesystems, table_of, MIB};

const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
const JOB_TIMEOUT: Duration = Duration::from_secs(600);

const DOWN: &str = "\x1b[B";
const ENTER: &str = "\r";

/// What a serial terminal would show: the console's bytes through a terminal emulator.
struct Screen {
    parser: vt100::Parser,
    seen: usize,
}

impl Screen {
    fn new() -> Self {
        Screen {
            parser: vt100::Parser::new(25, 80, 0),
            seen: 0,
        }
    }

    fn update(&mut self, vm: &Vm) {
        let out = vm.output();
        self.parser.process(&out.as_bytes()[self.seen..]);
        self.seen = out.len();
    }

    fn text(&self) -> String {
        self.parser.screen().contents()
    }

    /// Waits until the screen shows `what`; a failure shows the screen as it is.
    fn wait(&mut self, vm: &Vm, what: &str, timeout: Duration) {
        self.wait_any(vm, &[what], timeout);
    }

    fn wait_any(&mut self, vm: &Vm, what: &[&str], timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            self.update(vm);
            let text = self.text();
            if let Some(i) = what.iter().position(|w| text.contains(w)) {
                return i;
            }
            if Instant::now() >= deadline {
                panic!(
                    "after {:.0} s: no {what:?} on the screen:\n{text}",
                    vm.started.elapsed().as_secs_f64()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The screen row holding `what`, if any.
    fn row_of(&self, what: &str) -> Option<u16> {
        let s = self.parser.screen();
        (0..25).find(|&r| s.contents_between(r, 0, r, 80).contains(what))
    }

    /// Whether `row` is the highlighted (reverse video) list entry.
    fn selected(&self, row: u16) -> bool {
        self.parser
            .screen()
            .cell(row, 1)
            .is_some_and(|c| c.inverse())
    }
}

fn key(vm: &mut Vm, keys: &str) {
    vm.send(keys).unwrap_or_else(|e| panic!("{e}"));
}

/// Moves the list cursor onto the disk whose line shows `serial`, then presses Enter.
fn choose(vm: &mut Vm, screen: &mut Screen, serial: &str) {
    screen.wait(vm, serial, STEP_TIMEOUT);
    for _ in 0..8 {
        let row = screen
            .row_of(serial)
            .unwrap_or_else(|| panic!("{serial} not listed:\n{}", screen.text()));
        if screen.selected(row) {
            key(vm, ENTER);
            return;
        }
        key(vm, DOWN);
        // Let the redraw arrive before looking again.
        let before = screen.parser.screen().contents_formatted();
        let deadline = Instant::now() + Duration::from_secs(10);
        while screen.parser.screen().contents_formatted() == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            screen.update(vm);
        }
    }
    panic!("could not select {serial}:\n{}", screen.text());
}

fn hash(path: &std::path::Path) -> u64 {
    std::fs::read(path)
        .expect("read")
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        })
}

#[test]
#[ignore = "boots the real ISO: run by ./build.sh test"]
fn tui_over_the_serial_console_clones_a_sata_disk_to_a_larger_virtio_disk() {
    let iso = artifact("WRAITH_ISO", "out/wraith.iso").unwrap_or_else(|e| panic!("{e}"));
    let src = kit::gpt_disk();
    let dst = kit::blank_disk(200 * MIB);
    let before = hash(&src.path);
    let mut vm = VmBuilder::new(Boot::Cd(iso))
        .memory(256)
        .disk(&src.path, Bus::Sata, "SRC-SATA")
        .disk(&dst.path, Bus::Virtio, "DST-VIRTIO")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    // GRUB's countdown shows once its menu reads keys; 's' is the serial-console entry.
    vm.wait_for("executed automatically in", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    key(&mut vm, "s");

    let mut screen = Screen::new();
    screen.wait(&vm, "Enter actions", BOOT_TIMEOUT);
    eprintln!(
        "home screen after {:.0} s",
        vm.started.elapsed().as_secs_f64()
    );
    let ui_start = vm.output().rfind("\x1b[?1049h").unwrap_or(0);
    // The whole home screen fits the 80x25 the UI gives a serial line without a size.
    let home = screen.text();
    assert!(home.contains("SRC-SATA"), "{home}");
    assert!(home.contains("DST-VIRTIO"), "{home}");
    assert!(home.contains("WRAITH BOOT MEDIUM"), "{home}");

    key(&mut vm, ENTER);
    screen.wait(&vm, "Clone disk -> disk", STEP_TIMEOUT);
    key(&mut vm, ENTER); // the first action: clone
    screen.wait(&vm, "Pick the SOURCE disk", STEP_TIMEOUT);
    choose(&mut vm, &mut screen, "SRC-SATA");
    screen.wait(&vm, "Pick the TARGET disk", STEP_TIMEOUT);
    choose(&mut vm, &mut screen, "DST-VIRTIO");

    screen.wait(&vm, "Type the target's name", STEP_TIMEOUT);
    let plan = screen.text();
    assert!(plan.contains("DESTROYED on the target"), "{plan}");
    assert!(plan.contains("fits: target"), "{plan}");
    // The name to type is in the prompt: ('vda').
    let name = plan
        .split("('")
        .nth(1)
        .and_then(|r| r.split("')").next())
        .unwrap_or_else(|| panic!("no target name in the prompt:\n{plan}"))
        .to_string();
    key(&mut vm, &name);
    key(&mut vm, ENTER);
    let started = Instant::now();
    let which = screen.wait_any(&vm, &["Done", "FAILED", "Cancelled"], JOB_TIMEOUT);
    let summary = screen.text();
    assert_eq!(which, 0, "the clone did not succeed:\n{summary}");
    assert!(summary.contains("The log of this job is in"), "{summary}");
    // Verify-after is on by default: the target was read back and compared in the guest.
    // (The summary words it as the CLI does, from the engine's report.)
    assert!(
        summary.contains("verified the target against the source")
            && summary.contains("they match"),
        "{summary}"
    );
    eprintln!(
        "clone through the UI: {:.0} s from confirmation to summary",
        started.elapsed().as_secs_f64()
    );

    // Everything the UI sent is plain ASCII: a vt100-class terminal shows it as meant.
    let out = vm.output();
    let odd: Vec<char> = out[ui_start..].chars().filter(|c| !c.is_ascii()).collect();
    assert!(odd.is_empty(), "non-ASCII on the serial console: {odd:?}");

    // Back home, where the target's new partitions show: the kernel re-read its table after
    // the clone and the UI heard of it from udev (it does not poll).
    key(&mut vm, ENTER);
    screen.wait(&vm, "Enter actions", STEP_TIMEOUT);
    screen.wait(&vm, "/dev/vda3", STEP_TIMEOUT);
    // Power off from the menu (the last entry).
    key(&mut vm, ENTER);
    screen.wait(&vm, "Power off", STEP_TIMEOUT);
    for _ in 0..7 {
        key(&mut vm, DOWN);
    }
    key(&mut vm, ENTER);
    let code = vm
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code, 0, "clean power off");

    assert_eq!(hash(&src.path), before, "the source disk was written");
    assert_eq!(table_of(&dst.path), table_of(&src.path));
    assert_same_filesystems(&src, &dst.path);
}
