//! Turns a [`Config`] plus variables and an overlay into an [`Image`], reading host files.
//!
//! Modes of copied files are normalised to 0755 (executable by anyone on the host) or 0644,
//! and directories inside trees to 0755, so that a checkout made under another umask gives
//! the same archive.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config::{Config, Mode, NodeKind, DEFAULT_LIBRARY_PATHS};
use crate::elf::Resolver;
use crate::error::{Error, Result};
use crate::image::{normalize, Image, Kind};

/// Symlink chains longer than this are treated as loops (the kernel's limit is 40).
const MAX_SYMLINK_HOPS: usize = 40;

/// Inputs of a build besides the config.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `--var NAME=VALUE`; overrides `[vars]` in the config.
    pub vars: BTreeMap<String, String>,
    /// Directories copied over `/` after the config's entries (rootfs/overlay).
    pub overlays: Vec<PathBuf>,
}

/// The result of a build: the image and what was skipped along the way.
#[derive(Debug)]
pub struct Built {
    pub image: Image,
    /// One line per skipped optional entry; the library never prints, the CLI does.
    pub warnings: Vec<String>,
}

/// Collects every entry of `config` (and the overlays) from the host.
pub fn build(config: &Config, opts: &BuildOptions) -> Result<Built> {
    let mut vars = config.vars.clone();
    vars.extend(opts.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    let lib_dirs = match &config.library_paths {
        Some(dirs) => dirs.clone(),
        None => DEFAULT_LIBRARY_PATHS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let mut b = Builder {
        vars,
        image: Image::new(),
        warnings: Vec::new(),
        resolver: Resolver::new(lib_dirs),
    };

    for d in &config.dirs {
        let label = format!(
            "[[dir]] {}",
            d.path.as_deref().unwrap_or_else(|| first(&d.paths))
        );
        let mode = d.mode.map_or(0o755, |Mode(m)| m);
        for path in list(&d.path, &d.paths, &label)? {
            let path = b.dest(&path, &label)?;
            b.image
                .add(&path, Kind::Dir { mode, soft: false }, &label)?;
        }
    }
    for s in &config.symlinks {
        let label = format!(
            "[[symlink]] {}",
            s.path.as_deref().unwrap_or_else(|| first(&s.paths))
        );
        let target = b.sub(&s.target, &label)?;
        if target.is_empty() {
            return Err(Error::Config(format!("{label}: empty target")));
        }
        for path in list(&s.path, &s.paths, &label)? {
            let path = b.dest(&path, &label)?;
            b.image.add(
                &path,
                Kind::Symlink {
                    target: target.clone(),
                },
                &label,
            )?;
        }
    }
    for n in &config.nodes {
        let label = format!("[[node]] {}", n.path);
        let path = b.dest(&n.path, &label)?;
        let mode = n.mode.map_or(0o600, |Mode(m)| m);
        let kind = match n.kind {
            NodeKind::Char => Kind::CharDev {
                major: n.major,
                minor: n.minor,
                mode,
            },
            NodeKind::Block => Kind::BlockDev {
                major: n.major,
                minor: n.minor,
                mode,
            },
        };
        b.image.add(&path, kind, &label)?;
    }
    for f in &config.files {
        let label = format!("[[file]] dest={:?}", f.dest);
        let dest = b.dest(&f.dest, &label)?;
        let src = PathBuf::from(b.sub(&f.src, &label)?);
        let Some(data) = b.read_source(&src, f.optional, &label)? else {
            continue;
        };
        let mode = match f.mode {
            Some(Mode(m)) => m,
            None => host_mode(&src, &label)?,
        };
        b.image.add(&dest, Kind::File { data, mode }, &label)?;
    }
    for t in &config.trees {
        let label = format!("[[tree]] dest={:?}", t.dest);
        let dest = b.dest(&t.dest, &label)?;
        let src = PathBuf::from(b.sub(&t.src, &label)?);
        if !src.exists() {
            if t.optional {
                b.warnings.push(format!(
                    "{label}: {} is missing; skipped (optional)",
                    src.display()
                ));
                continue;
            }
            return Err(Error::NotFound {
                entry: label,
                path: src,
            });
        }
        b.add_tree(&src, &dest, &label)?;
    }
    for bin in &config.binaries {
        let label = format!("[[binary]] dest={:?}", bin.dest);
        b.add_binary(bin, &label)?;
    }
    for overlay in &opts.overlays {
        let label = format!("overlay {}", overlay.display());
        if !overlay.is_dir() {
            return Err(Error::NotFound {
                entry: label,
                path: overlay.clone(),
            });
        }
        b.add_tree(overlay, "/", &label)?;
    }
    b.image.fill_parents()?;
    Ok(Built {
        image: b.image,
        warnings: b.warnings,
    })
}

fn first(paths: &[String]) -> &str {
    paths.first().map_or("(no path)", String::as_str)
}

/// `path` and `paths` of a `[[dir]]`/`[[symlink]]`, together; at least one is required.
fn list(path: &Option<String>, paths: &[String], label: &str) -> Result<Vec<String>> {
    let all: Vec<String> = path.iter().cloned().chain(paths.iter().cloned()).collect();
    if all.is_empty() {
        return Err(Error::Config(format!("{label}: needs `path` or `paths`")));
    }
    Ok(all)
}

/// 0755 if anyone may execute the host file, else 0644: the only bit worth carrying over.
fn host_mode(path: &Path, label: &str) -> Result<u32> {
    let meta = std::fs::metadata(path).map_err(|e| Error::from_io(label, path, e))?;
    Ok(exec_mode(meta.permissions().mode()))
}

/// A stripped copy of `src`, via a temporary file: `strip` rewrites files, it cannot stream.
/// GNU strip's output depends only on its input, so determinism is kept.
fn strip(src: &Path, label: &str) -> Result<Vec<u8>> {
    let tmp = tempfile::NamedTempFile::new().map_err(|e| Error::Io {
        path: std::env::temp_dir(),
        source: e,
    })?;
    let out = std::process::Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(tmp.path())
        .arg(src)
        .output()
        .map_err(|e| Error::Io {
            path: PathBuf::from("strip (binutils)"),
            source: e,
        })?;
    if !out.status.success() {
        return Err(Error::Unsupported {
            path: src.to_path_buf(),
            what: format!(
                "{label}: strip failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    std::fs::read(tmp.path()).map_err(|e| Error::from_io(label, tmp.path(), e))
}

fn exec_mode(host: u32) -> u32 {
    if host & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

struct Builder {
    vars: BTreeMap<String, String>,
    image: Image,
    warnings: Vec<String>,
    resolver: Resolver,
}

impl Builder {
    fn sub(&self, text: &str, label: &str) -> Result<String> {
        crate::config::substitute(text, &self.vars, label)
    }

    /// A destination: substituted, absolute, normalised.
    fn dest(&self, text: &str, label: &str) -> Result<String> {
        let s = self.sub(text, label)?;
        normalize(&s).ok_or_else(|| {
            Error::Config(format!(
                "{label}: destination {s:?} must be an absolute path"
            ))
        })
    }

    /// Reads a source file; `None` (with a warning) if it is missing and optional.
    fn read_source(&mut self, src: &Path, optional: bool, label: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(src) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && optional => {
                self.warnings.push(format!(
                    "{label}: {} is missing; skipped (optional)",
                    src.display()
                ));
                Ok(None)
            }
            Err(e) => Err(Error::from_io(label, src, e)),
        }
    }

    fn add_binary(&mut self, bin: &crate::config::Binary, label: &str) -> Result<()> {
        let dest = self.dest(&bin.dest, label)?;
        let src = PathBuf::from(self.sub(&bin.src, label)?);
        let Some(data) = self.read_source(&src, bin.optional, label)? else {
            return Ok(());
        };
        let Some((_info, needed)) = self.resolver.resolve(&src, &dest)? else {
            return Err(Error::Unsupported {
                path: src,
                what: format!("{label}: not an ELF file (use [[file]] for scripts and data)"),
            });
        };
        let data = if bin.strip { strip(&src, label)? } else { data };
        let mode = bin.mode.map_or(0o755, |Mode(m)| m);
        self.image.add(&dest, Kind::File { data, mode }, label)?;
        for n in needed {
            let origin = format!("{} (needed by {}, from {label})", n.archive, n.needed_by);
            self.add_following_symlinks(&n.archive, &n.host, &origin)?;
        }
        Ok(())
    }

    /// Adds a host file at `archive`; if it is a symlink, adds the link as it is and then
    /// whatever it points to, at the path the link resolves to inside the archive. So
    /// libudev.so.1 becomes a link to libudev.so.1.7.5 beside it, as on the host.
    fn add_following_symlinks(&mut self, archive: &str, host: &Path, origin: &str) -> Result<()> {
        let mut archive = archive.to_string();
        let mut host = host.to_path_buf();
        for _ in 0..MAX_SYMLINK_HOPS {
            let meta =
                std::fs::symlink_metadata(&host).map_err(|e| Error::from_io(origin, &host, e))?;
            if !meta.file_type().is_symlink() {
                let data = std::fs::read(&host).map_err(|e| Error::from_io(origin, &host, e))?;
                let mode = exec_mode(meta.permissions().mode());
                return self.image.add(&archive, Kind::File { data, mode }, origin);
            }
            let target = std::fs::read_link(&host).map_err(|e| Error::from_io(origin, &host, e))?;
            let target_str = target.to_str().ok_or_else(|| Error::Unsupported {
                path: host.clone(),
                what: "symlink target is not UTF-8".into(),
            })?;
            self.image.add(
                &archive,
                Kind::Symlink {
                    target: target_str.to_string(),
                },
                origin,
            )?;
            let (next_archive, next_host) = if target.is_absolute() {
                (target_str.to_string(), target.clone())
            } else {
                let dir = archive.rsplit_once('/').map_or("", |(d, _)| d);
                let host_dir = host.parent().map(Path::to_path_buf).unwrap_or_default();
                (format!("{dir}/{target_str}"), host_dir.join(&target))
            };
            archive = normalize(&next_archive)
                .ok_or_else(|| Error::Config(format!("{origin}: bad link target")))?;
            host = next_host;
        }
        Err(Error::Unsupported {
            path: host,
            what: format!("{origin}: too many levels of symlinks"),
        })
    }

    /// Copies a host directory tree to `dest`. Symlinks stay symlinks; other special files
    /// (sockets, fifos, devices) are refused, because copying them from a host is never meant.
    fn add_tree(&mut self, src: &Path, dest: &str, label: &str) -> Result<()> {
        let mut stack = vec![(src.to_path_buf(), dest.to_string())];
        while let Some((host_dir, archive_dir)) = stack.pop() {
            self.image.add(
                &archive_dir,
                Kind::Dir {
                    mode: 0o755,
                    soft: true,
                },
                label,
            )?;
            let rd =
                std::fs::read_dir(&host_dir).map_err(|e| Error::from_io(label, &host_dir, e))?;
            for item in rd {
                let item = item.map_err(|e| Error::from_io(label, &host_dir, e))?;
                let host = item.path();
                let name = item.file_name();
                let name = name.to_str().ok_or_else(|| Error::Unsupported {
                    path: host.clone(),
                    what: "file name is not UTF-8".into(),
                })?;
                let archive = format!("{}/{name}", archive_dir.trim_end_matches('/'));
                let origin = format!("{label} ({})", host.display());
                let ft = item
                    .file_type()
                    .map_err(|e| Error::from_io(label, &host, e))?;
                if ft.is_dir() {
                    stack.push((host, archive));
                } else if ft.is_symlink() {
                    let target =
                        std::fs::read_link(&host).map_err(|e| Error::from_io(label, &host, e))?;
                    let target = target.to_str().ok_or_else(|| Error::Unsupported {
                        path: host.clone(),
                        what: "symlink target is not UTF-8".into(),
                    })?;
                    self.image.add(
                        &archive,
                        Kind::Symlink {
                            target: target.to_string(),
                        },
                        &origin,
                    )?;
                } else if ft.is_file() {
                    let data = std::fs::read(&host).map_err(|e| Error::from_io(label, &host, e))?;
                    let mode = host_mode(&host, label)?;
                    self.image
                        .add(&archive, Kind::File { data, mode }, &origin)?;
                } else {
                    return Err(Error::Unsupported {
                        path: host,
                        what: format!(
                            "{label}: special file in a tree (declare nodes with [[node]])"
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}
