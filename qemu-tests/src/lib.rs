//! qemu-tests: a small harness that boots the real Wraith artifacts (kernel + initramfs, or the
//! ISO as a CD or USB stick under SeaBIOS or OVMF) in QEMU with virtual disks on virtio, SATA
//! (AHCI), NVMe and USB, reads the serial console, and lets tests wait for what the live system
//! prints. Results are then checked from the host with the real tools (wraith-testkit).
//!
//! It owns starting, watching and stopping VMs; it must not reach into the guest any other way
//! than its consoles and its disks. QEMU runs in TCG here (no KVM), so disks stay small and
//! every wait has a timeout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub type Result<T, E = String> = std::result::Result<T, E>;

/// Direct kernel boot (the built kernel and initramfs) with a job on the command line,
/// console on the serial port. Panics when the artifacts are missing.
#[allow(clippy::panic)]
pub fn job_boot(job: &str) -> Boot {
    let kernel = artifact("WRAITH_KERNEL", "out/pxe/vmlinuz").unwrap_or_else(|e| panic!("{e}"));
    let initramfs =
        artifact("WRAITH_INITRAMFS", "out/pxe/initramfs.zst").unwrap_or_else(|e| panic!("{e}"));
    Boot::Kernel {
        kernel,
        initramfs,
        append: format!("console=ttyS0,115200 panic=-1 wraith.run=\"{job}\""),
    }
}

/// Where the artifacts are: set by `./build.sh test`, or the defaults under out/.
pub fn artifact(var: &str, default: &str) -> Result<PathBuf> {
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(default)
    });
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found (set {var} or run ./build.sh all first)",
            p.display()
        ))
    }
}

/// Fails the calling test with the fix spelled out when QEMU is not installed.
#[allow(clippy::panic)] // a test harness: failing the test is the point
pub fn require_qemu() {
    if Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!(
            "qemu-system-x86_64 is missing: run ./build.sh deps (Debian package qemu-system-x86)"
        );
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bus {
    Virtio,
    Sata,
    Nvme,
    /// An NVMe drive whose SMART / health log reports this critical warning byte (QEMU's
    /// `smart_critical_warning`): bit 2 is "reliability degraded", a drive that is failing.
    NvmeWarning(u8),
    Usb,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    SeaBios,
    Ovmf,
    /// UEFI with Secure Boot on and only Microsoft's keys enrolled, as PCs ship (Debian's
    /// `OVMF_CODE_4M.secboot.fd` + `OVMF_VARS_4M.ms.fd`): it starts only images signed by
    /// Microsoft's UEFI CA (shim), and shim only what Debian signed. Needs q35 with SMM, so
    /// the variable store cannot be written around the firmware.
    OvmfSecureBoot,
}

#[derive(Clone, Debug)]
pub enum Boot {
    /// Direct kernel boot with this command line (fast; used for jobs).
    Kernel {
        kernel: PathBuf,
        initramfs: PathBuf,
        append: String,
    },
    /// The ISO as a CD-ROM.
    Cd(PathBuf),
    /// The ISO written to a USB stick (a copy, so the stick is writable like a real one).
    UsbStick(PathBuf),
    /// From the network only (`-boot n`): the NIC's iPXE ROM asks DHCP what to boot.
    Network,
}

pub struct VmBuilder {
    memory_mb: u32,
    firmware: Firmware,
    boot: Boot,
    disks: Vec<(PathBuf, Bus, String)>,
    /// QEMU blkdebug rule files for disks (by index in `disks`) that fail chosen sectors.
    faults: std::collections::HashMap<usize, PathBuf>,
    nic: String,
    /// SMBIOS OEM strings (type 11), in order.
    oem_strings: Vec<String>,
    /// SMBIOS system serial number (type 1), as a vendor's firmware gives it.
    system_serial: Option<String>,
    /// Run QEMU inside this network namespace (`ip netns exec`), for a tap on a private LAN.
    netns: Option<String>,
    scratch: tempfile::TempDir,
}

impl VmBuilder {
    pub fn new(boot: Boot) -> Self {
        VmBuilder {
            memory_mb: 512,
            firmware: Firmware::SeaBios,
            boot,
            disks: Vec::new(),
            faults: std::collections::HashMap::new(),
            nic: "user,model=virtio-net-pci".into(),
            oem_strings: Vec::new(),
            system_serial: None,
            netns: None,
            scratch: tempfile::Builder::new()
                .prefix("wraith-vm-")
                .tempdir()
                .expect("tempdir"),
        }
    }
    pub fn memory(mut self, mb: u32) -> Self {
        self.memory_mb = mb;
        self
    }
    /// QEMU runs in network namespace `name` (its `-nic tap,...` is a tap of that LAN).
    pub fn netns(mut self, name: &str) -> Self {
        self.netns = Some(name.to_string());
        self
    }
    pub fn firmware(mut self, f: Firmware) -> Self {
        self.firmware = f;
        self
    }
    /// Attaches a raw disk image with a serial number (what Wraith identifies disks by).
    pub fn disk(mut self, path: &Path, bus: Bus, serial: &str) -> Self {
        self.disks
            .push((path.to_path_buf(), bus, serial.to_string()));
        self
    }

    /// Attaches a disk whose listed 512-byte sectors fail every read with EIO, like a dying
    /// disk's (QEMU's blkdebug driver: any request touching one of them fails).
    pub fn failing_disk(mut self, path: &Path, bus: Bus, serial: &str, sectors: &[u64]) -> Self {
        let conf = self
            .scratch
            .path()
            .join(format!("blkdebug{}.conf", self.disks.len()));
        let rules: String = sectors
            .iter()
            .map(|s| {
                format!(
                    "[inject-error]\nevent = \"read_aio\"\nerrno = \"5\"\nsector = \"{s}\"\n\
                     once = \"off\"\nimmediately = \"off\"\n\n"
                )
            })
            .collect();
        std::fs::write(&conf, rules).expect("blkdebug rules");
        self.faults.insert(self.disks.len(), conf);
        self.disk(path, bus, serial)
    }

    /// The `-nic` option (default `user,model=virtio-net-pci`: QEMU's user networking, the
    /// guest gets 10.0.2.15 by DHCP and reaches the host's loopback at 10.0.2.2).
    pub fn nic(mut self, spec: &str) -> Self {
        self.nic = spec.to_string();
        self
    }

    /// Adds an SMBIOS OEM string (type 11), as a BMC or a VM's configuration sets them.
    /// `wraith.console=serial` makes the ISO's boot menu default to the serial console.
    pub fn oem_string(mut self, value: &str) -> Self {
        self.oem_strings.push(value.to_string());
        self
    }

    /// Sets the machine's serial number (SMBIOS type 1, /sys/class/dmi/id/product_serial).
    pub fn system_serial(mut self, serial: &str) -> Self {
        self.system_serial = Some(serial.to_string());
        self
    }

    fn args(&self) -> Result<Vec<String>> {
        let mut a: Vec<String> = vec![
            "-m".into(),
            self.memory_mb.to_string(),
            "-smp".into(),
            "2".into(),
            "-display".into(),
            "none".into(),
            "-serial".into(),
            "stdio".into(),
            "-monitor".into(),
            "none".into(),
            // QMP on a socket in the scratch directory: tests plug and unplug devices.
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", self.qmp_path().display()),
            "-no-reboot".into(),
            "-nic".into(),
            self.nic.clone(),
            "-device".into(),
            "qemu-xhci,id=xhci".into(),
            "-device".into(),
            "ahci,id=ahci".into(),
        ];
        let uefi = match self.firmware {
            Firmware::SeaBios => None,
            Firmware::Ovmf => Some(("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd")),
            Firmware::OvmfSecureBoot => {
                a.extend([
                    "-machine".into(),
                    "q35,smm=on".into(),
                    "-global".into(),
                    "driver=cfi.pflash01,property=secure,value=on".into(),
                ]);
                Some(("OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"))
            }
        };
        if let Some((code, vars_template)) = uefi {
            let vars = self.scratch.path().join("OVMF_VARS.fd");
            std::fs::copy(format!("/usr/share/OVMF/{vars_template}"), &vars)
                .map_err(|e| format!("OVMF vars: {e} (./build.sh deps installs ovmf)"))?;
            a.extend([
                "-drive".into(),
                format!("if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/{code}"),
                "-drive".into(),
                format!("if=pflash,format=raw,file={}", vars.display()),
            ]);
        }
        if let Some(serial) = &self.system_serial {
            a.extend([
                "-smbios".into(),
                format!("type=1,serial={}", serial.replace(',', ",,")),
            ]);
        }
        for value in &self.oem_strings {
            // QEMU's option syntax: a comma in a value is written twice.
            a.extend([
                "-smbios".into(),
                format!("type=11,value={}", value.replace(',', ",,")),
            ]);
        }
        match &self.boot {
            Boot::Kernel {
                kernel,
                initramfs,
                append,
            } => a.extend([
                "-kernel".into(),
                kernel.display().to_string(),
                "-initrd".into(),
                initramfs.display().to_string(),
                "-append".into(),
                append.clone(),
            ]),
            Boot::Cd(iso) => a.extend([
                "-drive".into(),
                format!(
                    "if=none,id=cd,media=cdrom,readonly=on,format=raw,file={}",
                    iso.display()
                ),
                "-device".into(),
                "ide-cd,drive=cd,bus=ahci.0,bootindex=0".into(),
            ]),
            Boot::Network => a.extend(["-boot".into(), "n".into()]),
            Boot::UsbStick(iso) => {
                let stick = self.scratch.path().join("stick.img");
                std::fs::copy(iso, &stick)
                    .map_err(|e| format!("copying the ISO to a stick: {e}"))?;
                a.extend([
                    "-drive".into(),
                    format!("if=none,id=stick,format=raw,file={}", stick.display()),
                    "-device".into(),
                    "usb-storage,bus=xhci.0,drive=stick,removable=on,bootindex=0".into(),
                ]);
            }
        }
        let mut sata_port = 1;
        for (i, (path, bus, serial)) in self.disks.iter().enumerate() {
            let id = format!("d{i}");
            a.push("-drive".into());
            let file = match self.faults.get(&i) {
                Some(conf) => format!("blkdebug:{}:{}", conf.display(), path.display()),
                None => path.display().to_string(),
            };
            a.push(format!("if=none,id={id},format=raw,file={file}"));
            a.push("-device".into());
            // `dev{i}`: the device's id, for QMP (throttle, unplug).
            a.push(match bus {
                Bus::Virtio => format!("virtio-blk-pci,drive={id},serial={serial},id=dev{i}"),
                Bus::Nvme => format!("nvme,drive={id},serial={serial},id=dev{i}"),
                Bus::NvmeWarning(w) => {
                    format!("nvme,drive={id},serial={serial},smart_critical_warning={w},id=dev{i}")
                }
                Bus::Sata => {
                    sata_port += 1;
                    format!(
                        "ide-hd,drive={id},bus=ahci.{},serial={serial},id=dev{i}",
                        sata_port - 1
                    )
                }
                Bus::Usb => format!("usb-storage,bus=xhci.0,drive={id},serial={serial},id=dev{i}"),
            });
        }
        Ok(a)
    }

    fn qmp_path(&self) -> PathBuf {
        self.scratch.path().join("qmp.sock")
    }

    pub fn start(self) -> Result<Vm> {
        require_qemu();
        let args = self.args()?;
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "qemu-system-x86_64"]);
                c
            }
            None => Command::new("qemu-system-x86_64"),
        };
        let mut child = cmd
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // QEMU's own messages go to the test's stderr (nobody would drain a pipe).
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting qemu: {e}"))?;
        let out = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let o = out.clone();
        let verbose = std::env::var_os("WRAITH_VM_LOG").is_some();
        std::thread::spawn(move || {
            let mut r = stdout;
            let mut buf = [0u8; 4096];
            // Raw reads, not lines: GRUB's menu and countdown are drawn without newlines.
            while let Ok(n) = std::io::Read::read(&mut r, &mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if verbose {
                    eprint!("{text}");
                }
                let (lock, cv) = &*o;
                lock.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&text);
                cv.notify_all();
            }
        });
        Ok(Vm {
            child,
            out,
            started: Instant::now(),
            qmp: self.qmp_path(),
            scratch_dir: self.scratch.path().to_path_buf(),
            _scratch: self.scratch,
        })
    }
}

pub struct Vm {
    child: Child,
    out: Arc<(Mutex<String>, Condvar)>,
    pub started: Instant,
    qmp: PathBuf,
    scratch_dir: PathBuf,
    _scratch: tempfile::TempDir,
}

impl Vm {
    /// Everything the serial console printed so far.
    pub fn output(&self) -> String {
        self.out.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until the console shows `needle`; returns the seconds since the VM started.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<f64> {
        self.wait_for_any(&[needle], timeout).map(|(_, t)| t)
    }

    /// Waits until the console shows any of `needles`; returns which one and the seconds
    /// since the VM started.
    pub fn wait_for_any(&mut self, needles: &[&str], timeout: Duration) -> Result<(usize, f64)> {
        let needle = needles.join(" | ");
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.out;
        let mut text = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(i) = needles.iter().position(|n| text.contains(n)) {
                return Ok((i, self.started.elapsed().as_secs_f64()));
            }
            let now = Instant::now();
            if now >= deadline {
                let tail: String = text
                    .chars()
                    .rev()
                    .take(3000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                return Err(format!("timed out after {timeout:?} waiting for {needle:?}; console ends with:\n{tail}"));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let tail: String = text
                    .chars()
                    .rev()
                    .take(3000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                return Err(format!(
                    "VM exited ({status}) before {needle:?}; console ends with:\n{tail}"
                ));
            }
            text = cv
                .wait_timeout(text, Duration::from_millis(200))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Runs one QMP command (`{"execute": ..., "arguments": ...}`) and returns its `return`
    /// value; a QMP error is an Err with QEMU's words. One connection per command: QEMU's
    /// socket takes one client at a time, and events in between are skipped.
    pub fn qmp(&self, command: serde_json::Value) -> Result<serde_json::Value> {
        use std::io::BufRead;
        // The socket appears a moment after QEMU starts.
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match std::os::unix::net::UnixStream::connect(&self.qmp) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("QMP socket {}: {e}", self.qmp.display()))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let mut reader = std::io::BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
        let mut writer = stream;
        // The greeting first, then capabilities negotiation, then the command.
        let mut greeting = String::new();
        reader
            .read_line(&mut greeting)
            .map_err(|e| format!("QMP greeting: {e}"))?;
        let mut answer = |send: &serde_json::Value| -> Result<serde_json::Value> {
            writeln!(writer, "{send}").map_err(|e| format!("QMP write: {e}"))?;
            loop {
                let mut line = String::new();
                if reader
                    .read_line(&mut line)
                    .map_err(|e| format!("QMP read: {e}"))?
                    == 0
                {
                    return Err("QMP closed the connection".into());
                }
                let v: serde_json::Value =
                    serde_json::from_str(&line).map_err(|e| format!("QMP {line:?}: {e}"))?;
                if let Some(r) = v.get("return") {
                    return Ok(r.clone());
                }
                if let Some(e) = v.get("error") {
                    return Err(format!("QMP {send}: {e}"));
                }
            }
        };
        answer(&serde_json::json!({ "execute": "qmp_capabilities" }))?;
        answer(&command)
    }

    /// Plugs a USB stick (the raw image `path`, serial `serial`) into the running machine's
    /// xHCI controller, as a technician plugs one in; `id` names it for [`Vm::unplug`].
    pub fn plug_usb_stick(&self, path: &Path, serial: &str, id: &str) -> Result<()> {
        self.qmp(
            serde_json::json!({ "execute": "blockdev-add", "arguments": {
            "driver": "raw", "node-name": format!("{id}-node"),
            "file": { "driver": "file", "filename": path.display().to_string() } } }),
        )?;
        self.qmp(serde_json::json!({ "execute": "device_add", "arguments": {
            "driver": "usb-storage", "bus": "xhci.0", "id": id,
            "drive": format!("{id}-node"), "serial": serial, "removable": true } }))?;
        Ok(())
    }

    /// The VGA text memory (0xB8000, 32 KiB: the screen and what Linux's vgacon scrolled
    /// past) as rows of 80 characters, read from guest memory over QMP: exact text, no OCR.
    /// Where the screen starts in it is the VGA start address, which QMP cannot read: a
    /// caller finds its screen by a line it knows (see [`screen_from`]).
    pub fn vga_rows(&self) -> Result<Vec<String>> {
        let file = self.scratch_dir.join("vga.bin");
        let _ = std::fs::remove_file(&file);
        self.qmp(serde_json::json!({ "execute": "pmemsave", "arguments": {
            "val": 0xb8000, "size": 0x8000, "filename": file.display().to_string() } }))?;
        let cells = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        // Each cell is a character (code page 437) and its colours.
        Ok(cells
            .chunks(160)
            .map(|row| {
                row.chunks(2)
                    .map(|c| match c[0] {
                        0x20..=0x7e => c[0] as char,
                        0 => ' ',
                        // Box drawing and the like: not text a test looks for.
                        _ => '+',
                    })
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect())
    }

    /// A screenshot of the display (QMP `screendump`, PPM) into `path`.
    pub fn screendump(&self, path: &Path) -> Result<()> {
        self.qmp(serde_json::json!({ "execute": "screendump", "arguments": {
            "filename": path.display().to_string() } }))
            .map(|_| ())
    }

    /// Limits the writes of disk number `index` (in the order they were attached) to
    /// `bytes_per_second`: a job on it then surely is in the middle when a test acts.
    pub fn throttle_writes(&self, index: usize, bytes_per_second: u64) -> Result<()> {
        self.qmp(
            serde_json::json!({ "execute": "block_set_io_throttle", "arguments": {
            // The drive's name, not the device's id: a USB stick's backend hangs off the SCSI
            // device QEMU makes inside it, which has no id of ours.
            "device": format!("d{index}"), "bps": 0, "bps_rd": 0, "bps_wr": bytes_per_second,
            "iops": 0, "iops_rd": 0, "iops_wr": 0 } }),
        )
        .map(|_| ())
    }

    /// Pulls out the device plugged as `id` (`dev{i}` for the i-th disk given to the builder).
    pub fn unplug(&self, id: &str) -> Result<()> {
        self.qmp(serde_json::json!({ "execute": "device_del", "arguments": { "id": id } }))
            .map(|_| ())
    }

    /// Types on the serial console.
    pub fn send(&mut self, keys: &str) -> Result<()> {
        let stdin = self.child.stdin.as_mut().ok_or("no stdin")?;
        stdin
            .write_all(keys.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| e.to_string())
    }

    /// Waits for the VM to power off by itself; returns QEMU's exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status.code().unwrap_or(-1));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "VM did not power off within {timeout:?}; console:\n{}",
                    self.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The JSON of the first `WRAITH-RESULT` line.
    pub fn result(&mut self, timeout: Duration) -> Result<serde_json::Value> {
        // init prints WRAITH-JOB-EXIT after the job; without a result line first, the job died.
        let (which, _) = self.wait_for_any(&["WRAITH-RESULT ", "WRAITH-JOB-EXIT"], timeout)?;
        if which == 1 && !self.output().contains("WRAITH-RESULT ") {
            return Err(format!(
                "the job ended without a result; console:\n{}",
                tail(&self.output())
            ));
        }
        // The line may still be arriving: wait for its end.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.output();
            if let Some(rest) = out.split("WRAITH-RESULT ").nth(1) {
                // The console is shared with the kernel, which writes its messages whole into
                // the middle of ours: take them out, so the line is the job's again.
                let rest = without_kernel_messages(rest);
                if let Some(line) = rest.split('\n').next().filter(|_| rest.contains('\n')) {
                    // A kernel message of that moment may also follow the object on the same
                    // line: only the object is the result.
                    return match serde_json::Deserializer::from_str(line.trim())
                        .into_iter::<serde_json::Value>()
                        .next()
                    {
                        Some(r) => r.map_err(|e| format!("result line {line:?}: {e}")),
                        None => Err(format!("result line {line:?} is empty")),
                    };
                }
            }
            if Instant::now() >= deadline {
                return Err("result line never ended".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The 25 rows from the last one holding `first` (a screen's top line), joined; None when no
/// row holds it.
pub fn screen_from(rows: &[String], first: &str) -> Option<String> {
    let top = rows.iter().rposition(|r| r.contains(first))?;
    Some(rows[top..rows.len().min(top + 25)].join("\n"))
}

/// `text` without the kernel's console messages: `[   7.753751] text` up to the end of its
/// line. printk writes each message whole, wherever the user-space line it interrupts stands.
fn without_kernel_messages(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('[') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match kernel_message_len(tail) {
            Some(n) => rest = &tail[n..],
            None => {
                out.push('[');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The length of the kernel message `s` starts with (through its line end), if it is one.
fn kernel_message_len(s: &str) -> Option<usize> {
    let inner = s.strip_prefix('[')?;
    let close = inner.find("] ")?;
    let stamp = inner[..close].trim_start();
    let (secs, micros) = stamp.split_once('.')?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || !digits(micros) || micros.len() != 6 {
        return None;
    }
    let end = s.find('\n')? + 1;
    Some(end)
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of console output, with terminal control characters made harmless so a
/// progress bar's carriage returns cannot hide the message.
fn tail(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c == '\r' {
                '\n'
            } else if c.is_control() && c != '\n' {
                '.'
            } else {
                c
            }
        })
        .collect();
    let lines: Vec<&str> = clean.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::without_kernel_messages;

    #[test]
    fn a_kernel_message_inside_a_result_line_is_taken_out() {
        // As seen in CI: the partition rescan after a clone printed in the middle of the line.
        let console = "{\"a\":1,\"re[    7.753751]  vdb: vdb1 vdb2 vdb3\r\ngion\":[2]}\r\nnext";
        let clean = without_kernel_messages(console);
        let line = clean.split('\n').next().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_default();
        assert_eq!(v["region"], serde_json::json!([2]), "{clean:?}");
    }

    #[test]
    fn brackets_that_are_not_kernel_messages_stay() {
        let text = "{\"unreadable\":[{\"len\":512}],\"x\":\"[1.5] y\"}\n";
        assert_eq!(without_kernel_messages(text), text);
    }
}
