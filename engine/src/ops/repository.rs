//! Where a repository is, as a user or a job names it, turned into something to open: a
//! directory, a URL, or a filesystem found by its label or UUID (`label:IMAGES/dir`,
//! `uuid:…/dir`) and mounted for as long as it is used. Also the `REPO:NAME[@ID]` grammar,
//! which never reinterprets a bad name as part of a path.

use crate::disks::DiskInfo;
use crate::error::{Error, Result};
use crate::mount::{self, Mounted};
use crate::repo::location::{self, Location};
use std::path::{Path, PathBuf};

/// A repository location made reachable: `at` is a directory or URL to open; a filesystem
/// mounted to get there stays mounted while this lives.
pub struct Resolved {
    pub at: String,
    _mounted: Option<Mounted>,
}

/// A location as written by a user or a job: an absolute directory, `label:LABEL[/dir]`,
/// `uuid:UUID[/dir]` or a URL. Relative directories are for the CLI, which passes them
/// through as they are.
pub fn resolve(spec: &str, disks: &[DiskInfo]) -> Result<Resolved> {
    let split = |rest: &str| -> (String, String) {
        match rest.split_once('/') {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None => (rest.to_string(), String::new()),
        }
    };
    let (want, dir, by_uuid) = if let Some(rest) = spec.strip_prefix("label:") {
        let (l, d) = split(rest);
        (l, d, false)
    } else if let Some(rest) = spec.strip_prefix("uuid:") {
        let (u, d) = split(rest);
        (u, d, true)
    } else {
        // Checked now, so a typo fails before any disk is touched.
        Location::parse(spec)?;
        return Ok(Resolved {
            at: spec.to_string(),
            _mounted: None,
        });
    };
    let what = if by_uuid { "UUID" } else { "label" };
    let dev = find_fs(disks, &want, by_uuid).ok_or_else(|| Error::NotFound {
        what: format!("a filesystem with {what} {want:?} for the repository"),
    })?;
    let (point, mounted) = mount::mount_device(Path::new(&dev), &want)?;
    Ok(Resolved {
        at: point.join(dir).display().to_string(),
        _mounted: mounted,
    })
}

/// Checks the grammar of a job's repository: an absolute directory, label:, uuid: or a URL.
pub fn check_job_location(s: &str) -> Result<()> {
    if s.starts_with("label:") || s.starts_with("uuid:") || s.starts_with('/') {
        return Ok(());
    }
    if location::is_url(s) {
        Location::parse(s)?;
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "repository {:?}: use an absolute directory, label:LABEL/dir, uuid:UUID/dir or a URL \
         (smb://host/share/dir, nfs://host/export/dir, http://host/dir)",
        location::redact(s)
    )))
}

/// A filesystem (on a partition or a whole disk) whose label or UUID is `want`: udev's view
/// first, then our own readers for hosts or boots where udev has no filesystem properties.
pub fn find_fs(list: &[DiskInfo], want: &str, by_uuid: bool) -> Option<String> {
    let pick = |label: &Option<String>, uuid: &Option<String>| {
        if by_uuid {
            uuid.as_deref() == Some(want)
        } else {
            label.as_deref() == Some(want)
        }
    };
    for d in list {
        if let Some(p) = d.partitions.iter().find(|p| pick(&p.label, &p.uuid)) {
            return Some(p.path.clone());
        }
        if pick(&d.label, &d.uuid) {
            return Some(d.path.clone());
        }
    }
    let candidates = list.iter().flat_map(|d| {
        d.partitions
            .iter()
            .map(|p| p.path.clone())
            .chain(std::iter::once(d.path.clone()))
    });
    for path in candidates {
        let Ok(dev) = crate::device::Device::open_read(Path::new(&path)) else {
            continue;
        };
        if let Ok(Some(info)) = crate::fs::probe(&dev) {
            if pick(&info.label, &info.uuid) {
                return Some(path);
            }
        }
    }
    None
}

/// `REPO`, `REPO:NAME` or `REPO:NAME@ID`, as the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSpec {
    pub repository: String,
    pub name: Option<String>,
    pub id: Option<String>,
}

/// Splits `REPO[:NAME[@ID]]` at the last ':' that is not a URL's own (`http://host:8080`,
/// `smb://host`). What follows that ':' is an image name and must follow the image-name
/// rules: a bad name is an error naming the rule, never quietly part of a directory (that is
/// how `r:../../evil` used to become a repository in `./evil`). A directory whose name really
/// contains ':' is written with a trailing '/' (`./dir:with:colons/`), which never names an
/// image.
pub fn parse_image_spec(s: &str) -> Result<ImageSpec> {
    let whole = || ImageSpec {
        repository: s.to_string(),
        name: None,
        id: None,
    };
    if s.ends_with('/') {
        return Ok(whole());
    }
    let Some((repo, rest)) = s.rsplit_once(':') else {
        return Ok(whole());
    };
    // The ':' of `label:`/`uuid:` is the location's own: `label:IMAGES` names no image.
    let prefixed = ["label:", "uuid:"].iter().find(|p| s.starts_with(*p));
    if prefixed.is_some_and(|p| repo.len() < p.len()) {
        return Ok(whole());
    }
    // The ':' of a URL's scheme or port, with no path after it, is not a separator.
    if location::is_url(s)
        && repo
            .split_once("://")
            .is_none_or(|(_, after)| !after.contains('/'))
    {
        return Ok(whole());
    }
    if repo.is_empty() {
        return Err(Error::Invalid(format!(
            "{s:?}: no repository before ':'; write REPO:NAME, or ./{s}/ for a directory named so"
        )));
    }
    let (name, id) = match rest.split_once('@') {
        Some((n, i)) => (n, Some(i)),
        None => (rest, None),
    };
    if name.is_empty() {
        return Err(Error::Invalid(format!(
            "{s:?}: no image name after ':'; write REPO:NAME, or end a directory with '/' ({repo}:/)"
        )));
    }
    crate::repo::check_image_name(name).map_err(|e| {
        Error::Invalid(format!(
            "{s:?}: {name:?} after ':' is not an image name ({}); a directory whose name holds \
             ':' is written with a trailing '/'",
            e.to_string().trim_start_matches("invalid argument: ")
        ))
    })?;
    if let Some(id) = id {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        {
            return Err(Error::Invalid(format!(
                "{s:?}: {id:?} after '@' is not an image id (the time it was saved, e.g. \
                 20261122T021500.123Z, or a unique start of it, or 'latest')"
            )));
        }
    }
    Ok(ImageSpec {
        repository: repo.to_string(),
        name: Some(name.to_string()),
        id: id.map(str::to_string),
    })
}

/// The directory of a repository given as a plain path, for checks that must happen before
/// it is created.
pub fn local_dir(at: &str) -> Option<PathBuf> {
    match Location::parse(at) {
        Ok(Location::Dir(d)) => Some(d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(r: &str, n: Option<&str>, i: Option<&str>) -> ImageSpec {
        ImageSpec {
            repository: r.into(),
            name: n.map(Into::into),
            id: i.map(Into::into),
        }
    }

    fn ok(s: &str) -> ImageSpec {
        parse_image_spec(s).unwrap_or_else(|e| unreachable!("{s}: {e}"))
    }

    #[test]
    fn image_specs_split_on_the_last_colon() {
        assert_eq!(ok("/mnt/r"), spec("/mnt/r", None, None));
        assert_eq!(ok("/mnt/r:pc1"), spec("/mnt/r", Some("pc1"), None));
        assert_eq!(ok("r:pc1@2026"), spec("r", Some("pc1"), Some("2026")));
        assert_eq!(
            ok("label:IMAGES/lab:pc1"),
            spec("label:IMAGES/lab", Some("pc1"), None)
        );
        // A drive's location alone: its prefix's ':' names no image.
        assert_eq!(ok("label:IMAGES"), spec("label:IMAGES", None, None));
        assert_eq!(ok("label:IMAGES/lab"), spec("label:IMAGES/lab", None, None));
        assert_eq!(
            ok("uuid:1234-ABCD/lab"),
            spec("uuid:1234-ABCD/lab", None, None)
        );
        assert_eq!(
            ok("uuid:1234-ABCD:pc17@2026"),
            spec("uuid:1234-ABCD", Some("pc17"), Some("2026"))
        );
    }

    #[test]
    fn a_bad_name_after_the_colon_is_an_error_never_a_path() {
        for bad in ["r:../../evil", "r:a/b", "/a:b/repo", "r:.hidden", "r:a b"] {
            let e = parse_image_spec(bad).expect_err(bad).to_string();
            assert!(e.contains("not an image name"), "{bad}: {e}");
            assert!(e.contains("trailing '/'"), "{bad}: {e}");
        }
        assert!(parse_image_spec("r:pc@a/b").is_err());
        assert!(parse_image_spec(":pc").is_err());
        assert!(parse_image_spec("r:").is_err());
    }

    #[test]
    fn a_trailing_slash_makes_a_colon_part_of_the_directory() {
        assert_eq!(
            ok("./dir:with:colons/"),
            spec("./dir:with:colons/", None, None)
        );
        assert_eq!(ok("/a:b/repo/"), spec("/a:b/repo/", None, None));
    }

    #[test]
    fn image_specs_keep_urls_whole() {
        assert_eq!(
            ok("http://host:8080/repo:pc@2026"),
            spec("http://host:8080/repo", Some("pc"), Some("2026"))
        );
        assert_eq!(
            ok("http://host:8080/repo"),
            spec("http://host:8080/repo", None, None)
        );
        assert_eq!(ok("http://host:8080"), spec("http://host:8080", None, None));
        assert_eq!(
            ok("smb://LAB;tech@nas/images:pc"),
            spec("smb://LAB;tech@nas/images", Some("pc"), None)
        );
        assert_eq!(
            ok("nfs://[fd00::1]:2049/export"),
            spec("nfs://[fd00::1]:2049/export", None, None)
        );
    }

    #[test]
    fn job_locations_need_an_absolute_directory_a_label_or_a_url() {
        for good in [
            "/mnt/x",
            "label:IMAGES/lab",
            "uuid:1234-ABCD",
            "smb://h/s/d",
        ] {
            assert!(check_job_location(good).is_ok(), "{good}");
        }
        for bad in ["relative/dir", "smb://", "ftp://h/x"] {
            assert!(check_job_location(bad).is_err(), "{bad}");
        }
    }
}
