//! Disk health, read from the drive itself before a job: the NVMe SMART / health log (admin
//! Get Log Page through the kernel's NVMe pass-through) and ATA SMART (SMART RETURN STATUS,
//! READ DATA and READ THRESHOLDS through SCSI/ATA Translation: `SG_IO` with ATA PASS-THROUGH
//! (16), which libata answers for SATA disks and most USB-SATA bridges pass on).
//!
//! Why our own pass-through rather than smartctl: the same few hundred lines work in the live
//! system and on any host without a package, read a disk in a few milliseconds (the home
//! screen lists every disk on every hotplug event), and cost nothing in the initramfs. What
//! we give up is smartctl's database of bridge quirks and vendor attribute meanings: a bridge
//! that does not pass ATA commands on, a SCSI or virtual disk, is `Unknown` with the reason,
//! never an error.
//!
//! Must not: send anything but these read-only commands (no self-tests, no feature changes),
//! block a listing for long (bounded command timeouts, results cached a short while), or fail
//! a caller: every problem is an `Unknown` health with the reason.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Good,
    /// Worth knowing (a few reallocated sectors, a hot or worn drive); jobs go on.
    Warning,
    /// The drive says it is failing, or it has sectors it cannot read.
    Failing,
    /// The drive's health could not be read (a USB bridge that hides it, a virtual disk).
    Unknown,
}

/// ATA SMART figures; None where the drive has no such attribute.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ata {
    /// SMART RETURN STATUS (or, where that answer cannot be read, every attribute above its
    /// threshold): false = the drive predicts its own failure.
    pub smart_passed: Option<bool>,
    /// Attribute 5: sectors the drive has replaced with spares.
    pub reallocated: Option<u64>,
    /// Attribute 197: sectors waiting to be remapped (they failed a read).
    pub pending: Option<u64>,
    /// Attribute 198: sectors found unreadable by the offline scan.
    pub uncorrectable: Option<u64>,
    /// Attributes whose normalised value fell to or below the vendor's threshold.
    pub failing_attributes: Vec<u8>,
}

/// The NVMe SMART / health information log page (log 02h).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nvme {
    /// Bit 0 spare below threshold, 1 temperature, 2 reliability degraded, 3 read-only,
    /// 4 volatile backup failed, 5 persistent memory read-only.
    pub critical_warning: u8,
    pub media_errors: u64,
    /// Vendor's estimate of life used, may exceed 100.
    pub percentage_used: u8,
    pub available_spare: u8,
    pub spare_threshold: u8,
    pub unsafe_shutdowns: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub state: State,
    /// One line for lists and plans ("SMART passed, 0 reallocated, 12 h, 31 C").
    pub summary: String,
    /// Why the state is Warning or Failing (or Unknown), each in words.
    pub problems: Vec<String>,
    pub temperature_c: Option<i64>,
    pub power_on_hours: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ata: Option<Ata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nvme: Option<Nvme>,
}

impl Health {
    fn unknown(why: impl Into<String>) -> Health {
        let why = why.into();
        Health {
            state: State::Unknown,
            summary: format!("unknown ({why})"),
            problems: vec![why],
            temperature_c: None,
            power_on_hours: None,
            ata: None,
            nvme: None,
        }
    }

    pub fn is_failing(&self) -> bool {
        self.state == State::Failing
    }

    /// "FAILING: ..." / "warning: ..." / "good: ..." / "unknown (...)": the state first.
    pub fn describe(&self) -> String {
        match self.state {
            State::Good => format!("good: {}", self.summary),
            State::Warning => format!("warning: {}", self.summary),
            State::Failing => format!("FAILING: {}", self.summary),
            State::Unknown => self.summary.clone(),
        }
    }
}

/// How long a reading stays fresh: listings come in bursts (hotplug events, each screen).
const FRESH: Duration = Duration::from_secs(30);
/// Bound on one pass-through command: a drive or bridge that does not answer costs no more.
const COMMAND_MS: u32 = 3000;

fn cache() -> &'static Mutex<HashMap<String, (Instant, Health)>> {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<String, (Instant, Health)>>> =
        std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The health of the whole disk at `path` (`/dev/sda`, `/dev/nvme0n1`), or None where health
/// means nothing (a loop device over an image file, a RAM disk). `key` tells disks apart
/// across hotplug (the serial): a new drive at an old name is read afresh.
pub fn of(path: &str, transport: &str, key: &str) -> Option<Health> {
    if matches!(transport, "loop") {
        return None;
    }
    let id = format!("{path}|{key}");
    if let Ok(c) = cache().lock() {
        if let Some((at, h)) = c.get(&id) {
            if at.elapsed() < FRESH {
                return Some(h.clone());
            }
        }
    }
    let h = read(path, transport);
    if let Ok(mut c) = cache().lock() {
        c.insert(id, (Instant::now(), h.clone()));
    }
    Some(h)
}

/// The health of the drive at `path` when it is a whole disk's block device (by any name: a
/// /dev/disk/by-id link); None for an image file, a partition or a loop device.
pub fn for_device(path: &std::path::Path) -> Option<Health> {
    use std::os::unix::fs::FileTypeExt;
    let real = std::fs::canonicalize(path).ok()?;
    if !std::fs::metadata(&real).ok()?.file_type().is_block_device() {
        return None;
    }
    let name = real.file_name()?.to_str()?.to_string();
    let sys = std::path::Path::new("/sys/class/block").join(&name);
    if sys.join("partition").exists() {
        return None;
    }
    let transport = crate::disks::transport(&name, &sys, None);
    of(real.to_str()?, &transport, "")
}

/// What a plan says of a failing source: how Wraith reads it, and what to do.
pub fn failing_source_advice(path: &str, h: &Health) -> String {
    format!(
        "source {path} is FAILING ({}): it is read as a rescue - healthy areas first, failing \
         areas narrowed down and retried after, what stays unreadable mapped and reported. Copy \
         it once, now, onto a healthy disk; run no checks or repairs on it first",
        h.problems.join("; ")
    )
}

fn read(path: &str, transport: &str) -> Health {
    use std::os::unix::fs::OpenOptionsExt;
    if transport == "virtio" {
        return Health::unknown("virtual disk: no SMART");
    }
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Health::unknown("reading it needs root")
        }
        Err(e) => return Health::unknown(format!("cannot open {path}: {e}")),
    };
    if transport == "NVMe" {
        match sys::nvme_health_log(&f) {
            Ok(page) => nvme_health(&page),
            Err(e) => Health::unknown(format!("the NVMe health log did not answer: {e}")),
        }
    } else {
        ata_health(&f, transport)
    }
}

fn ata_health(f: &std::fs::File, transport: &str) -> Health {
    let data = match sys::ata_smart_read(f, SMART_READ_DATA) {
        Ok(d) => d,
        Err(_) if transport == "USB" => {
            return Health::unknown("the USB bridge does not pass SMART on")
        }
        Err(e) => return Health::unknown(format!("no ATA SMART ({e})")),
    };
    let thresholds = sys::ata_smart_read(f, SMART_READ_THRESHOLDS).ok();
    let status = sys::ata_smart_status(f).ok().flatten();
    ata_from_pages(&data, thresholds.as_deref(), status)
}

// ---------------------------------------------------------------------------------------------
// Interpreting the pages (pure: unit-tested with made-up pages)

const SMART_READ_DATA: u8 = 0xD0;
const SMART_READ_THRESHOLDS: u8 = 0xD1;

fn le(b: &[u8]) -> u64 {
    b.iter()
        .take(8)
        .rev()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

/// The NVMe health log page (512 bytes) in words.
pub fn nvme_health(page: &[u8]) -> Health {
    if page.len() < 192 {
        return Health::unknown("short NVMe health log");
    }
    let n = Nvme {
        critical_warning: page[0],
        available_spare: page[3],
        spare_threshold: page[4],
        percentage_used: page[5],
        // 128-bit counters: 2^64 of anything is beyond any drive's life.
        unsafe_shutdowns: le(&page[144..152]),
        media_errors: le(&page[160..168]),
    };
    let kelvin = le(&page[1..3]) as i64;
    let temperature_c = (kelvin > 0).then_some(kelvin - 273);
    let hours = le(&page[128..136]);
    let mut failing = Vec::new();
    let mut warnings = Vec::new();
    const BITS: [(u8, &str); 6] = [
        (0x01, "available spare below its threshold"),
        (0x02, "temperature outside its limits"),
        (0x04, "reliability degraded (media or internal errors)"),
        (0x08, "media set read-only"),
        (0x10, "volatile memory backup failed"),
        (0x20, "persistent memory region read-only"),
    ];
    for (bit, what) in BITS {
        if n.critical_warning & bit != 0 {
            let line = format!("critical warning: {what}");
            // A hot drive is a warning; everything else is the drive saying it is failing.
            if bit == 0x02 {
                warnings.push(line);
            } else {
                failing.push(line);
            }
        }
    }
    if n.media_errors > 0 {
        warnings.push(format!("{} media errors logged", n.media_errors));
    }
    if n.percentage_used >= 100 {
        warnings.push(format!("{} % of its rated life used", n.percentage_used));
    }
    let mut summary = vec![
        format!("critical warning 0x{:02x}", n.critical_warning),
        format!("{} media errors", n.media_errors),
        format!("{} % used", n.percentage_used),
        format!("spare {} %", n.available_spare),
    ];
    summary.extend(tail(Some(hours), temperature_c));
    finish(
        failing,
        warnings,
        summary,
        temperature_c,
        Some(hours),
        None,
        Some(n),
    )
}

/// ATA SMART READ DATA (and READ THRESHOLDS, and the RETURN STATUS answer when known) in words.
pub fn ata_from_pages(data: &[u8], thresholds: Option<&[u8]>, status: Option<bool>) -> Health {
    if data.len() < 362 {
        return Health::unknown("short SMART data page");
    }
    // 30 attribute slots of 12 bytes from offset 2: id, flags (2), value, worst, raw (6), -.
    let attrs: Vec<(u8, u8, u64)> = data[2..362]
        .chunks_exact(12)
        .filter(|a| a[0] != 0)
        .map(|a| (a[0], a[3], le(&a[5..11])))
        .collect();
    let threshold = |id: u8| -> Option<u8> {
        thresholds?
            .get(2..362)?
            .chunks_exact(12)
            .find(|t| t[0] == id)
            .map(|t| t[1])
    };
    let raw = |id: u8| attrs.iter().find(|a| a.0 == id).map(|a| a.2);
    let failing_attributes: Vec<u8> = attrs
        .iter()
        .filter(|(id, value, _)| threshold(*id).is_some_and(|t| t != 0 && *value <= t))
        .map(|a| a.0)
        .collect();
    let a = Ata {
        smart_passed: status.or(thresholds.map(|_| failing_attributes.is_empty())),
        reallocated: raw(5).map(|r| r & 0xffff_ffff),
        pending: raw(197).map(|r| r & 0xffff_ffff),
        uncorrectable: raw(198).map(|r| r & 0xffff_ffff),
        failing_attributes,
    };
    // Power-on hours: the low 32 bits (some drives keep minutes or milliseconds above).
    let hours = raw(9).map(|r| r & 0xffff_ffff);
    // Temperature: the low byte of 194, else of 190 (airflow temperature).
    let temperature_c = raw(194).or(raw(190)).map(|r| (r & 0xff) as i64);
    let mut failing = Vec::new();
    let mut warnings = Vec::new();
    if a.smart_passed == Some(false) {
        failing.push("SMART overall status: FAILED (the drive predicts its own failure)".into());
    }
    if !a.failing_attributes.is_empty() {
        let ids: Vec<String> = a.failing_attributes.iter().map(|i| i.to_string()).collect();
        failing.push(format!(
            "attributes at or below threshold: {}",
            ids.join(", ")
        ));
    }
    if let Some(p) = a.pending.filter(|&p| p > 0) {
        failing.push(format!("{p} pending sectors (reads failed)"));
    }
    if let Some(u) = a.uncorrectable.filter(|&u| u > 0) {
        failing.push(format!("{u} uncorrectable sectors"));
    }
    if let Some(r) = a.reallocated.filter(|&r| r > 0) {
        warnings.push(format!("{r} reallocated sectors"));
    }
    let mut summary = vec![match a.smart_passed {
        Some(true) => "SMART passed".to_string(),
        Some(false) => "SMART FAILED".to_string(),
        None => "SMART status not read".to_string(),
    }];
    for (n, what) in [
        (a.reallocated, "reallocated"),
        (a.pending, "pending"),
        (a.uncorrectable, "uncorrectable"),
    ] {
        if let Some(n) = n {
            summary.push(format!("{n} {what}"));
        }
    }
    summary.extend(tail(hours, temperature_c));
    finish(
        failing,
        warnings,
        summary,
        temperature_c,
        hours,
        Some(a),
        None,
    )
}

fn tail(hours: Option<u64>, temperature_c: Option<i64>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(h) = hours {
        v.push(format!("{h} h on"));
    }
    if let Some(t) = temperature_c {
        v.push(format!("{t} C"));
    }
    v
}

fn finish(
    failing: Vec<String>,
    warnings: Vec<String>,
    summary: Vec<String>,
    temperature_c: Option<i64>,
    power_on_hours: Option<u64>,
    ata: Option<Ata>,
    nvme: Option<Nvme>,
) -> Health {
    let state = if !failing.is_empty() {
        State::Failing
    } else if !warnings.is_empty() {
        State::Warning
    } else {
        State::Good
    };
    let mut problems = failing;
    problems.extend(warnings);
    let mut summary = summary.join(", ");
    if !problems.is_empty() {
        summary = format!("{} ({summary})", problems.join("; "));
    }
    Health {
        state,
        summary,
        problems,
        temperature_c,
        power_on_hours,
        ata,
        nvme,
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel's pass-through interfaces

mod sys {
    use std::os::fd::AsRawFd;

    /// `struct nvme_passthru_cmd` (linux/nvme_ioctl.h).
    #[repr(C)]
    #[derive(Default)]
    pub struct NvmeCmd {
        opcode: u8,
        flags: u8,
        rsvd1: u16,
        nsid: u32,
        cdw2: u32,
        cdw3: u32,
        metadata: u64,
        addr: u64,
        metadata_len: u32,
        data_len: u32,
        cdw10: u32,
        cdw11: u32,
        cdw12: u32,
        cdw13: u32,
        cdw14: u32,
        cdw15: u32,
        timeout_ms: u32,
        result: u32,
    }
    nix::ioctl_readwrite!(nvme_admin_cmd, b'N', 0x41, NvmeCmd);

    /// Get Log Page 02h (SMART / health information), controller-wide.
    pub fn nvme_health_log(f: &std::fs::File) -> std::io::Result<Vec<u8>> {
        let mut page = vec![0u8; 512];
        let mut cmd = NvmeCmd {
            opcode: 0x02,
            nsid: 0xffff_ffff,
            addr: page.as_mut_ptr() as u64,
            data_len: 512,
            // Log 02h, (512 / 4 - 1) dwords.
            cdw10: 0x02 | (127 << 16),
            timeout_ms: super::COMMAND_MS,
            ..Default::default()
        };
        // SAFETY: `cmd` points at `page`, which outlives the call and is `data_len` long.
        let status =
            unsafe { nvme_admin_cmd(f.as_raw_fd(), &mut cmd) }.map_err(std::io::Error::from)?;
        if status != 0 {
            return Err(std::io::Error::other(format!("NVMe status 0x{status:x}")));
        }
        Ok(page)
    }

    /// `struct sg_io_hdr` (scsi/sg.h).
    #[repr(C)]
    struct SgIoHdr {
        interface_id: i32,
        dxfer_direction: i32,
        cmd_len: u8,
        mx_sb_len: u8,
        iovec_count: u16,
        dxfer_len: u32,
        dxferp: *mut u8,
        cmdp: *const u8,
        sbp: *mut u8,
        timeout: u32,
        flags: u32,
        pack_id: i32,
        usr_ptr: *mut u8,
        status: u8,
        masked_status: u8,
        msg_status: u8,
        sb_len_wr: u8,
        host_status: u16,
        driver_status: u16,
        resid: i32,
        duration: u32,
        info: u32,
    }
    const SG_IO: libc::c_ulong = 0x2285;
    const SG_DXFER_NONE: i32 = -1;
    const SG_DXFER_FROM_DEV: i32 = -3;

    /// ATA PASS-THROUGH (16) of a SMART command with LBA mid/high 4Fh/C2h; returns the sense
    /// bytes written.
    fn ata_smart(
        f: &std::fs::File,
        feature: u8,
        data: Option<&mut [u8; 512]>,
    ) -> std::io::Result<Vec<u8>> {
        let mut cdb = [0u8; 16];
        cdb[0] = 0x85;
        let (proto, flags) = if data.is_some() {
            // PIO data-in; t_dir from the device, length in blocks, in the sector count.
            (4u8, 0x0e)
        } else {
            // Non-data, with the registers returned (ck_cond) for RETURN STATUS.
            (3u8, 0x20)
        };
        cdb[1] = proto << 1;
        cdb[2] = flags;
        cdb[4] = feature;
        cdb[6] = 1;
        cdb[8] = 1;
        cdb[10] = 0x4f;
        cdb[12] = 0xc2;
        cdb[14] = 0xb0;
        let mut sense = [0u8; 32];
        let (dir, ptr, len) = match data {
            Some(buf) => (SG_DXFER_FROM_DEV, buf.as_mut_ptr(), 512u32),
            None => (SG_DXFER_NONE, std::ptr::null_mut(), 0),
        };
        let mut hdr = SgIoHdr {
            interface_id: i32::from(b'S'),
            dxfer_direction: dir,
            cmd_len: 16,
            mx_sb_len: sense.len() as u8,
            iovec_count: 0,
            dxfer_len: len,
            dxferp: ptr,
            cmdp: cdb.as_ptr(),
            sbp: sense.as_mut_ptr(),
            timeout: super::COMMAND_MS,
            flags: 0,
            pack_id: 0,
            usr_ptr: std::ptr::null_mut(),
            status: 0,
            masked_status: 0,
            msg_status: 0,
            sb_len_wr: 0,
            host_status: 0,
            driver_status: 0,
            resid: 0,
            duration: 0,
            info: 0,
        };
        // SAFETY: every pointer in `hdr` points at a live buffer of the length it states.
        let r = unsafe { libc::ioctl(f.as_raw_fd(), SG_IO, &mut hdr as *mut SgIoHdr) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if hdr.host_status != 0 || (hdr.driver_status & 0x0f) > 1 {
            return Err(std::io::Error::other("the command did not reach the drive"));
        }
        let sense = sense[..usize::from(hdr.sb_len_wr).min(sense.len())].to_vec();
        // A CHECK CONDITION that is not the ATA registers coming back is a refusal (an
        // ILLEGAL REQUEST from a SCSI disk or a bridge that does not translate ATA).
        if hdr.status != 0 && !is_ata_return(&sense) {
            return Err(std::io::Error::other("the drive refused the ATA command"));
        }
        Ok(sense)
    }

    /// Descriptor-format sense holding the ATA Status Return descriptor (09h).
    fn is_ata_return(sense: &[u8]) -> bool {
        sense.len() >= 22 && sense[0] & 0x7f == 0x72 && sense[8] == 0x09
    }

    pub fn ata_smart_read(f: &std::fs::File, feature: u8) -> std::io::Result<Vec<u8>> {
        let mut buf = [0u8; 512];
        ata_smart(f, feature, Some(&mut buf))?;
        if buf.iter().all(|&b| b == 0) {
            return Err(std::io::Error::other("an empty SMART page"));
        }
        Ok(buf.to_vec())
    }

    /// SMART RETURN STATUS: Some(true) passed, Some(false) threshold exceeded, None when the
    /// registers did not come back (some bridges).
    pub fn ata_smart_status(f: &std::fs::File) -> std::io::Result<Option<bool>> {
        let sense = ata_smart(f, 0xda, None)?;
        if !is_ata_return(&sense) {
            return Ok(None);
        }
        // Descriptor at 8: LBA mid (7:0) at +9, LBA high (7:0) at +11.
        Ok(match (sense[17], sense[19]) {
            (0x4f, 0xc2) => Some(true),
            (0xf4, 0x2c) => Some(false),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nvme_page(warning: u8, media_errors: u64, used: u8) -> Vec<u8> {
        let mut p = vec![0u8; 512];
        p[0] = warning;
        p[1..3].copy_from_slice(&(273u16 + 41).to_le_bytes());
        p[3] = 100;
        p[4] = 10;
        p[5] = used;
        p[128..136].copy_from_slice(&1234u64.to_le_bytes());
        p[160..168].copy_from_slice(&media_errors.to_le_bytes());
        p
    }

    #[test]
    fn nvme_log_in_words() {
        let h = nvme_health(&nvme_page(0, 0, 3));
        assert_eq!(h.state, State::Good, "{h:?}");
        assert_eq!(h.temperature_c, Some(41));
        assert_eq!(h.power_on_hours, Some(1234));
        assert!(
            h.summary.contains("1234 h on") && h.summary.contains("41 C"),
            "{h:?}"
        );

        let h = nvme_health(&nvme_page(0x04, 0, 3));
        assert_eq!(h.state, State::Failing);
        assert!(h
            .describe()
            .starts_with("FAILING: critical warning: reliability degraded"));

        assert_eq!(nvme_health(&nvme_page(0x02, 0, 3)).state, State::Warning);
        assert_eq!(nvme_health(&nvme_page(0, 7, 3)).state, State::Warning);
        assert_eq!(nvme_health(&nvme_page(0, 0, 104)).state, State::Warning);
        assert_eq!(nvme_health(&[0u8; 10]).state, State::Unknown);
    }

    /// A SMART data page with (id, value, raw) attributes and a threshold page.
    fn ata_pages(attrs: &[(u8, u8, u64, u8)]) -> (Vec<u8>, Vec<u8>) {
        let (mut d, mut t) = (vec![0u8; 512], vec![0u8; 512]);
        for (i, (id, value, raw, thr)) in attrs.iter().enumerate() {
            let o = 2 + 12 * i;
            d[o] = *id;
            d[o + 3] = *value;
            d[o + 4] = *value;
            d[o + 5..o + 11].copy_from_slice(&raw.to_le_bytes()[..6]);
            t[o] = *id;
            t[o + 1] = *thr;
        }
        (d, t)
    }

    #[test]
    fn ata_attributes_in_words() {
        // QEMU's emulated disk: no 194, airflow temperature in 190.
        let (d, t) = ata_pages(&[
            (1, 100, 0, 6),
            (5, 100, 0, 36),
            (9, 100, 77, 0),
            (190, 69, 0x1f_001f, 50),
        ]);
        let h = ata_from_pages(&d, Some(&t), Some(true));
        assert_eq!(h.state, State::Good, "{h:?}");
        assert_eq!(h.temperature_c, Some(31));
        assert_eq!(h.power_on_hours, Some(77));
        let a = h.ata.clone().expect("ATA figures");
        assert_eq!(a.reallocated, Some(0));
        assert_eq!(a.pending, None, "no attribute 197: not a zero");
        assert!(
            h.summary.starts_with("SMART passed, 0 reallocated"),
            "{h:?}"
        );

        let (d, t) = ata_pages(&[(5, 90, 8, 36), (197, 100, 3, 0), (194, 100, 45, 0)]);
        let h = ata_from_pages(&d, Some(&t), Some(true));
        assert_eq!(h.state, State::Failing, "pending sectors: {h:?}");
        assert!(h.problems.iter().any(|p| p.contains("3 pending")), "{h:?}");
        assert!(
            h.problems.iter().any(|p| p.contains("8 reallocated")),
            "{h:?}"
        );
        assert_eq!(h.temperature_c, Some(45));

        let (d, t) = ata_pages(&[(5, 30, 900, 36)]);
        let h = ata_from_pages(&d, Some(&t), None);
        assert_eq!(
            h.state,
            State::Failing,
            "an attribute below threshold: {h:?}"
        );
        assert_eq!(h.ata.as_ref().and_then(|a| a.smart_passed), Some(false));
        assert_eq!(
            ata_from_pages(&d, Some(&t), Some(false)).problems[0],
            "SMART overall status: FAILED (the drive predicts its own failure)"
        );
        let (d, _) = ata_pages(&[(5, 100, 2, 36)]);
        assert_eq!(ata_from_pages(&d, None, None).state, State::Warning);
    }

    #[test]
    fn image_files_have_no_health_and_unreadable_disks_are_unknown() {
        assert_eq!(of("/dev/loop0", "loop", ""), None);
        let h = of("/nonexistent/disk", "SATA", "x").expect("a health");
        assert_eq!(h.state, State::Unknown);
        assert!(h.summary.starts_with("unknown (cannot open"), "{h:?}");
    }
}
