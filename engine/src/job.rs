//! Unattended jobs: what to do, on which disks, with which repository, and what to do after.
//! A job comes as TOML (a file on a USB stick, or fetched) or inline from the kernel command
//! line (`key=value` words). Disks are chosen by what they are (serial, by-id path) or by a
//! rule, never by a kernel name that may change between boots.
//!
//! Parsing and choosing disks are pure functions over a disk list, so they are unit-tested
//! without hardware; running a job is the front end's business.

use crate::disks::DiskInfo;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Clone,
    Save,
    Restore,
    Verify,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum After {
    #[default]
    Poweroff,
    Reboot,
    Shell,
    /// Return to the interactive UI (or just exit on a host).
    None,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub action: Action,
    /// Disk to read (clone, save) or to compare (verify against).
    #[serde(default)]
    pub source: Option<String>,
    /// Disk to write (clone, restore).
    #[serde(default)]
    pub target: Option<String>,
    /// Where images live: an absolute directory, `label:LABEL[/dir]` / `uuid:UUID[/dir]`
    /// for a filesystem Wraith mounts itself, or a URL (`smb://`, `nfs://`, `http(s)://`).
    #[serde(default)]
    pub repository: Option<String>,
    /// The password for the repository URL's user. Never serialized, printed or stored.
    #[serde(default, skip_serializing)]
    pub password: Option<crate::repo::Password>,
    /// Image name (save, restore, verify), optionally `name@id` for restore and verify.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub after: After,
    /// Verify the result against the image after a restore or save.
    #[serde(default)]
    pub verify: bool,
    /// How the network is configured before the repository is used: a `wraith.net=` value
    /// (`dhcp`, `dhcp,if=eth1`, `static:ADDR/PREFIX,gw=...,dns=...,if=...`). The live
    /// system's init applies it (the front end asks it to); checked here, when the job is
    /// read, so a typo stops the job before any disk is touched.
    #[serde(default)]
    pub net: Option<String>,
    /// Restore and clone onto a disk of another size: `keep`, `grow`, `fit`, `proportional`
    /// (default `auto`: grow onto a larger disk, fit onto a smaller one).
    #[serde(default)]
    pub layout: Option<crate::layout::Policy>,
    /// The partition that takes a larger disk's new space (`layout = "grow"`).
    #[serde(default)]
    pub grow: Option<u32>,
    /// Where a shrink that does not fit on the target is staged (a directory).
    #[serde(default)]
    pub scratch: Option<String>,
    /// Write onto a target whose drive reports itself failing (refused otherwise).
    #[serde(default)]
    pub accept_failing_target: bool,
    /// The restored machine's name: literal, or a template (`lab-{serial}`, `lab-{mac}`);
    /// see [`crate::identity`]. Machines in `hostnames` take their name from there.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Names by MAC address or serial number (`[hostnames]` table: `"52:54:00:12:34:56" =
    /// "lab-01"`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub hostnames: std::collections::BTreeMap<String, String>,
    /// Restore: join the multicast session of the `http://` repository's server
    /// (`wraith serve --multicast`) and fill in over HTTP only what the stream misses.
    #[serde(default)]
    pub multicast: bool,
    /// The session's UDP control port, when serve was given `--port` (default 7470).
    #[serde(default)]
    pub multicast_port: Option<u16>,
    /// Save: `fast`, `balanced` or `small` (default: the repository's).
    #[serde(default)]
    pub compression: Option<crate::repo::Compression>,
}

impl Job {
    /// How the job names the machine it restores, if it does.
    pub fn naming(&self) -> Option<crate::identity::Naming> {
        let n = crate::identity::Naming {
            template: self.hostname.clone(),
            table: self.hostnames.clone(),
        };
        (!n.is_empty()).then_some(n)
    }
}

impl Job {
    pub fn from_toml(text: &str) -> Result<Job> {
        let job: Job =
            toml::from_str(text).map_err(|e| Error::Invalid(format!("job file: {e}")))?;
        job.check()?;
        Ok(job)
    }

    /// `action=clone source=serial:ABC target=rule:only-internal after=poweroff` — the form
    /// that fits on a kernel command line. Values cannot contain spaces.
    pub fn from_inline(text: &str) -> Result<Job> {
        // One tokenizer for init's dry run and this parser (see wraith_live::inline): fields
        // split on ASCII whitespace or ';', then key and value percent-decoded. The fields go
        // into a table, never into TOML text, so a decoded value (a password may hold any
        // character) cannot be read as more TOML.
        let fields =
            wraith_live::inline::fields(text).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut table = toml::Table::new();
        for (k, v) in fields {
            let key = match k.as_str() {
                "repo" => "repository".to_string(),
                _ => k,
            };
            let value = if key == "grow" || key == "multicast_port" {
                match v.parse::<i64>() {
                    Ok(n) => toml::Value::Integer(n),
                    Err(_) => {
                        return Err(Error::Invalid(format!(
                            "inline job: {key}={v:?} is not a number"
                        )))
                    }
                }
            } else if key == "verify" || key == "accept_failing_target" || key == "multicast" {
                match v.as_str() {
                    "true" => toml::Value::Boolean(true),
                    "false" => toml::Value::Boolean(false),
                    _ => {
                        return Err(Error::Invalid(format!(
                            "inline job: {key}={v:?} is not true or false"
                        )))
                    }
                }
            } else {
                toml::Value::String(v)
            };
            if table.insert(key.clone(), value).is_some() {
                return Err(Error::Invalid(format!(
                    "inline job: `{key}` is given twice"
                )));
            }
        }
        let job: Job = toml::Value::Table(table)
            .try_into()
            .map_err(|e| Error::Invalid(format!("inline job: {e}")))?;
        job.check()?;
        Ok(job)
    }

    /// The `net` key, parsed (it was checked when the job was read).
    pub fn net_mode(&self) -> Option<wraith_live::NetMode> {
        self.net
            .as_deref()
            .and_then(|n| wraith_live::NetMode::parse(n).ok())
    }

    fn check(&self) -> Result<()> {
        if let Some(n) = &self.net {
            wraith_live::NetMode::parse(n)
                .map_err(|e| Error::Invalid(format!("job: net = {n:?}: {e}")))?;
        }
        let need = |what: &Option<String>, name: &str| {
            what.as_ref()
                .map(|_| ())
                .ok_or_else(|| Error::Invalid(format!("a {:?} job needs `{name}`", self.action)))
        };
        // A key the action does not use is a mistake in the job (a verify that would never
        // run, a disk that would never be read): said, never ignored.
        let unused = |present: bool, name: &str, why: &str| {
            if present {
                Err(Error::Invalid(format!(
                    "a {:?} job does not use `{name}` ({why}); remove it",
                    self.action
                )))
            } else {
                Ok(())
            }
        };
        if let Some(r) = &self.repository {
            crate::ops::repository::check_job_location(r)?;
        }
        if let Some(i) = &self.image {
            let (name, id) = match i.split_once('@') {
                Some((n, id)) => (n, Some(id)),
                None => (i.as_str(), None),
            };
            crate::repo::check_image_name(name)
                .map_err(|e| Error::Invalid(format!("job: image = {i:?}: {e}")))?;
            unused(
                id.is_some() && self.action == Action::Save,
                "image = NAME@ID",
                "a save chooses the id; give the name only",
            )?;
        }
        if self.action != Action::Restore {
            let why = "only a restore names the machine it deploys";
            unused(self.hostname.is_some(), "hostname", why)?;
            unused(!self.hostnames.is_empty(), "hostnames", why)?;
        }
        if let Some(t) = &self.hostname {
            // A template's fixed parts must make a host name already: checked with sample
            // values, so a typo stops the job before any disk is touched.
            let sample = crate::identity::Facts {
                serial: Some("s".into()),
                macs: vec![[0; 6]],
            };
            crate::identity::resolve(
                &crate::identity::Naming {
                    template: Some(t.clone()),
                    table: Default::default(),
                },
                &sample,
            )
            .map_err(|e| Error::Invalid(format!("job: hostname = {t:?}: {e}")))?;
        }
        for (key, name) in &self.hostnames {
            crate::identity::check_hostname(name)
                .map_err(|e| Error::Invalid(format!("job: hostnames.{key:?}: {e}")))?;
        }
        unused(
            self.multicast && self.action != Action::Restore,
            "multicast",
            "only a restore receives a multicast session",
        )?;
        unused(
            self.compression.is_some() && self.action != Action::Save,
            "compression",
            "only a save compresses what it stores",
        )?;
        unused(
            self.multicast_port.is_some() && !self.multicast,
            "multicast_port",
            "it is the port of a multicast session (multicast = true)",
        )?;
        if !matches!(self.action, Action::Clone | Action::Restore) {
            let why = "only a restore or a clone lays out partitions";
            unused(self.layout.is_some(), "layout", why)?;
            unused(self.grow.is_some(), "grow", why)?;
            unused(self.scratch.is_some(), "scratch", why)?;
            unused(
                self.accept_failing_target,
                "accept_failing_target",
                "only a restore or a clone writes a disk",
            )?;
        }
        match self.action {
            Action::Clone => {
                need(&self.source, "source")?;
                need(&self.target, "target")?;
                unused(
                    self.repository.is_some(),
                    "repository",
                    "a clone copies disk to disk",
                )?;
                unused(self.image.is_some(), "image", "a clone copies disk to disk")?;
                unused(
                    self.password.is_some(),
                    "password",
                    "a clone uses no repository",
                )
            }
            Action::Save => {
                need(&self.source, "source")?;
                need(&self.repository, "repository")?;
                unused(self.target.is_some(), "target", "a save writes no disk")
            }
            Action::Restore => {
                need(&self.target, "target")?;
                need(&self.repository, "repository")?;
                need(&self.image, "image")?;
                if self.multicast
                    && !self
                        .repository
                        .as_deref()
                        .is_some_and(|r| r.starts_with("http://") || r.starts_with("https://"))
                {
                    return Err(Error::Invalid(
                        "job: multicast = true needs the server's http:// repository (the \
                         session is on the same server, the fill-in is over HTTP)"
                            .into(),
                    ));
                }
                unused(self.source.is_some(), "source", "a restore reads the image")
            }
            Action::Verify => {
                need(&self.repository, "repository")?;
                need(&self.image, "image")?;
                unused(
                    self.target.is_some(),
                    "target",
                    "a verify writes no disk; `source` names a disk to compare",
                )?;
                unused(self.verify, "verify", "the job is a verify already")
            }
        }
    }
}

/// Disks a rule may pick: internal, fixed, not the boot medium, not virtual.
fn internal(d: &DiskInfo, boot_media: &[String]) -> bool {
    !d.removable
        && d.transport != "USB"
        && d.transport != "loop"
        && !d.read_only
        && !d.path.contains("/sr")
        && !boot_media.iter().any(|b| b == &d.path)
}

/// Chooses one disk for a selector:
/// - `serial:XYZ` — the disk with that serial number;
/// - `/dev/...` (including `/dev/disk/by-id/...`) — that path as it is;
/// - `rule:only-internal` — the one internal disk (fails if there are none or several);
/// - `rule:largest-internal`, `rule:smallest-internal`;
/// - `rule:other-internal` — the one internal disk that is not `exclude` (a clone's source).
///
/// `boot_media` are never chosen by a rule.
pub fn select_disk(
    sel: &str,
    disks: &[DiskInfo],
    boot_media: &[String],
    exclude: Option<&str>,
) -> Result<String> {
    let names = |v: &[&DiskInfo]| v.iter().map(|d| describe(d)).collect::<Vec<_>>().join("; ");
    if let Some(serial) = sel.strip_prefix("serial:") {
        let m: Vec<&DiskInfo> = disks
            .iter()
            .filter(|d| d.serial.as_deref() == Some(serial))
            .collect();
        return match m.as_slice() {
            [one] => Ok(one.path.clone()),
            [] => Err(Error::NotFound {
                what: format!(
                    "disk with serial {serial:?} (disks here: {})",
                    names(&disks.iter().collect::<Vec<_>>())
                ),
            }),
            _ => Err(Error::Invalid(format!(
                "serial {serial:?} matches several disks: {}",
                names(&m)
            ))),
        };
    }
    if sel.starts_with('/') {
        return Ok(sel.to_string());
    }
    let rule = sel.strip_prefix("rule:").ok_or_else(|| {
        Error::Invalid(format!(
            "disk selector {sel:?}: use serial:XYZ, a /dev path, or rule:only-internal"
        ))
    })?;
    let mut cands: Vec<&DiskInfo> = disks
        .iter()
        .filter(|d| {
            internal(d, boot_media) && exclude.is_none_or(|x| canonical(x) != canonical(&d.path))
        })
        .collect();
    match rule {
        "only-internal" | "other-internal" => match cands.as_slice() {
            [one] => Ok(one.path.clone()),
            [] => Err(Error::NotFound { what: "an internal disk (rule:only-internal found none)".into() }),
            _ => Err(Error::Invalid(format!("rule:{rule} is ambiguous: {} internal disks ({})", cands.len(), names(&cands)))),
        },
        "largest-internal" | "smallest-internal" => {
            cands.sort_by_key(|d| d.size);
            let pick = if rule.starts_with("largest") { cands.last() } else { cands.first() };
            pick.map(|d| d.path.clone()).ok_or_else(|| Error::NotFound { what: format!("an internal disk for rule:{rule}") })
        }
        other => Err(Error::Invalid(format!(
            "unknown rule {other:?}: use only-internal, other-internal, largest-internal or smallest-internal"
        ))),
    }
}

fn canonical(p: &str) -> String {
    std::fs::canonicalize(p)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| p.to_string())
}

fn describe(d: &DiskInfo) -> String {
    format!(
        "{} {} {} {}",
        d.path,
        d.model.as_deref().unwrap_or("?"),
        d.serial.as_deref().unwrap_or("-"),
        crate::human_bytes(d.size)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(path: &str, serial: &str, size: u64, transport: &str, removable: bool) -> DiskInfo {
        DiskInfo {
            path: path.into(),
            by_id: None,
            model: Some("M".into()),
            serial: Some(serial.into()),
            size,
            transport: transport.into(),
            removable,
            rotational: false,
            read_only: false,
            partitions: vec![],
            fs: None,
            label: None,
            uuid: None,
            health: None,
        }
    }

    fn machine() -> Vec<DiskInfo> {
        vec![
            disk("/dev/sda", "SATA1", 100, "SATA", false),
            disk("/dev/nvme0n1", "NVME1", 200, "NVMe", false),
            disk("/dev/sdb", "STICK", 16, "USB", true),
            disk("/dev/sr0", "CD", 1, "SATA", true),
        ]
    }

    #[test]
    fn toml_and_inline_jobs_mean_the_same() {
        let a = Job::from_toml("action = \"clone\"\nsource = \"serial:SATA1\"\ntarget = \"rule:other-internal\"\nafter = \"reboot\"\n")
            .unwrap();
        let b = Job::from_inline(
            "action=clone source=serial:SATA1 target=rule:other-internal after=reboot",
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.after, After::Reboot);
        let d = Job::from_inline(
            "action=clone;source=serial:SATA1;target=rule:other-internal;after=reboot",
        )
        .unwrap();
        assert_eq!(a, d);
        let e = Job::from_inline("action=save source=/dev/sda repo=/mnt/my%20images image=a%2Db")
            .unwrap();
        assert_eq!(e.repository.as_deref(), Some("/mnt/my images"));
        assert_eq!(e.image.as_deref(), Some("a-b"));
        let c = Job::from_inline(
            "action=save source=rule:only-internal repo=label:IMAGES/lab image=pc verify=true",
        )
        .unwrap();
        assert_eq!(c.repository.as_deref(), Some("label:IMAGES/lab"));
        assert!(c.verify);
        assert_eq!(c.after, After::Poweroff);
    }

    #[test]
    fn an_inline_word_without_equals_is_an_error_naming_it() {
        let e = Job::from_inline("action=save source=/dev/sda repo=/x verify")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`verify` is not key=value"), "{e}");
    }

    #[test]
    fn decoded_inline_values_stay_values_and_keys_are_given_once() {
        // A newline and quotes in a value (a password may hold anything) are data, not TOML.
        let j = Job::from_inline(
            "action=save source=/dev/sda repo=smb://u@h/s/d password=a%0Aaction%3D%22clone%22 verify=true",
        )
        .unwrap();
        assert_eq!(j.action, Action::Save);
        assert!(j.verify);
        assert_eq!(
            j.password.as_ref().map(|p| p.expose()),
            Some("a\naction=\"clone\"")
        );
        let e = Job::from_inline("action=save source=/dev/sda repo=/x verify=true%0Aafter%3Dshell")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not true or false"), "{e}");
        let e = Job::from_inline("action=verify repo=/x repository=/y image=a")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`repository` is given twice"), "{e}");
    }

    #[test]
    fn incomplete_or_unknown_job_fields_are_errors_that_say_what_is_missing() {
        let e = Job::from_inline("action=restore target=/dev/sda")
            .unwrap_err()
            .to_string();
        assert!(e.contains("repository"), "{e}");
        assert!(Job::from_inline("action=clone source=/dev/a target=/dev/b colour=red").is_err());
        assert!(Job::from_inline("action=dance").is_err());
        assert!(Job::from_inline("clone").is_err());
    }

    #[test]
    fn disks_are_chosen_by_serial_or_rule_never_the_boot_medium_or_a_usb_stick() {
        let d = machine();
        assert_eq!(
            select_disk("serial:NVME1", &d, &[], None).unwrap(),
            "/dev/nvme0n1"
        );
        assert!(select_disk("serial:NOPE", &d, &[], None)
            .unwrap_err()
            .to_string()
            .contains("SATA1"));
        // Two internal disks: "only-internal" is ambiguous and says which.
        let e = select_disk("rule:only-internal", &d, &[], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/sda") && e.contains("/dev/nvme0n1"), "{e}");
        assert_eq!(
            select_disk("rule:other-internal", &d, &[], Some("/dev/sda")).unwrap(),
            "/dev/nvme0n1"
        );
        assert_eq!(
            select_disk("rule:largest-internal", &d, &[], None).unwrap(),
            "/dev/nvme0n1"
        );
        assert_eq!(
            select_disk("rule:only-internal", &d, &["/dev/nvme0n1".into()], None).unwrap(),
            "/dev/sda"
        );
        assert!(select_disk("rule:only-internal", &d[2..], &[], None).is_err());
        assert!(select_disk("sda", &d, &[], None).is_err());
    }

    #[test]
    fn a_save_job_chooses_its_compression_and_only_a_save_may() {
        let save = Job::from_inline(
            "action=save repository=/srv/images source=rule:only-internal compression=small",
        )
        .unwrap();
        assert_eq!(save.compression, Some(crate::repo::Compression::Small));
        let err = Job::from_inline(
            "action=restore repository=/srv/images image=lab target=rule:only-internal \
             compression=small",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("compression"), "{err}");
        assert!(Job::from_inline(
            "action=save repository=/srv/images source=rule:only-internal compression=max",
        )
        .is_err());
    }

    #[test]
    fn a_multicast_job_restores_from_an_http_repository_only() {
        let ok = Job::from_inline(
            "action=restore repository=http://10.0.0.1/ image=lab target=rule:only-internal \
             multicast=true",
        )
        .unwrap();
        assert!(ok.multicast);
        assert_eq!(ok.multicast_port, None);
        let on = Job::from_inline(
            "action=restore repository=http://10.0.0.1/ image=lab target=rule:only-internal \
             multicast=true multicast_port=7600",
        )
        .unwrap();
        assert_eq!(on.multicast_port, Some(7600));
        let err = Job::from_inline(
            "action=restore repository=http://10.0.0.1/ image=lab target=rule:only-internal \
             multicast_port=7600",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("multicast_port"), "{err}");
        let err = Job::from_inline(
            "action=restore repository=/srv/images image=lab target=rule:only-internal \
             multicast=true",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("http://"), "{err}");
        let err = Job::from_inline(
            "action=save repository=http://10.0.0.1/ image=lab source=rule:only-internal \
             multicast=true",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("multicast"), "{err}");
    }

    #[test]
    fn a_key_the_action_does_not_use_is_an_error() {
        for (inline, says) in [
            (
                "action=clone source=/dev/sda target=/dev/sdb repo=/mnt/x",
                "`repository`",
            ),
            (
                "action=clone source=/dev/sda target=/dev/sdb image=pc",
                "`image`",
            ),
            (
                "action=save source=/dev/sda repo=/mnt/x target=/dev/sdb",
                "`target`",
            ),
            (
                "action=save source=/dev/sda repo=/mnt/x image=pc@2026",
                "NAME@ID",
            ),
            (
                "action=restore target=/dev/sda repo=/mnt/x image=pc source=/dev/sdb",
                "`source`",
            ),
            ("action=verify repo=/mnt/x image=pc verify=true", "`verify`"),
            (
                "action=verify repo=/mnt/x image=pc target=/dev/sda",
                "`target`",
            ),
        ] {
            let e = Job::from_inline(inline).expect_err(inline).to_string();
            assert!(e.contains(says), "{inline}: {e}");
        }
        assert!(
            Job::from_inline("action=clone source=/dev/sda target=/dev/sdb verify=true").is_ok()
        );
        assert!(Job::from_inline("action=save source=/dev/sda repo=relative").is_err());
        assert!(Job::from_inline("action=save source=/dev/sda repo=/x image=../evil").is_err());
    }

    #[test]
    fn a_job_password_is_read_but_never_shown_or_written_back() {
        let j = Job::from_inline(
            "action=save source=/dev/sda repo=smb://tech@nas/images password=p%20w%3Bx",
        )
        .unwrap();
        assert_eq!(j.password.as_ref().map(|p| p.expose()), Some("p w;x"));
        assert!(!format!("{j:?}").contains("p w;x"));
        let back = serde_json::to_string(&j).unwrap();
        assert!(
            !back.contains("p w;x") && !back.contains("password"),
            "{back}"
        );
    }

    #[test]
    fn the_net_key_takes_the_kernel_command_line_grammar() {
        let t = Job::from_toml(
            "action = \"verify\"\nrepository = \"http://10.0.2.2/img\"\nimage = \"a\"\n\
             net = \"static:192.168.1.50/24,gw=192.168.1.1,dns=192.168.1.1,if=eth0\"\n",
        )
        .unwrap();
        let Some(wraith_live::NetMode::Static(s)) = t.net_mode() else {
            panic!("{:?}", t.net)
        };
        assert_eq!(
            (s.address.to_string(), s.prefix),
            ("192.168.1.50".into(), 24)
        );
        assert_eq!(s.iface.as_deref(), Some("eth0"));
        // Inline, as on a kernel command line: the commas and colon need no quoting.
        let i = Job::from_inline(
            "action=verify repo=http://10.0.2.2/img image=a net=static:192.168.1.50/24,gw=192.168.1.1,dns=192.168.1.1,if=eth0",
        )
        .unwrap();
        assert_eq!(i, t);
        let d = Job::from_inline("action=verify repo=/x image=a net=dhcp").unwrap();
        assert_eq!(
            d.net_mode(),
            Some(wraith_live::NetMode::Dhcp { iface: None })
        );
        assert_eq!(
            Job::from_inline("action=verify repo=/x image=a")
                .unwrap()
                .net,
            None
        );
        for (bad, says) in [
            ("net=static:10.0.0.5", "/PREFIX"),
            ("net=static:10.0.0.5/24,gw=10.1.0.1", "outside"),
            ("net=wifi", "wifi"),
        ] {
            let e = Job::from_inline(&format!("action=verify repo=/x image=a {bad}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("net") && e.contains(says), "{bad}: {e}");
        }
    }
}
