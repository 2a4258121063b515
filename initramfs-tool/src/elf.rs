//! Which files an ELF executable needs at run time: its interpreter (PT_INTERP) and its
//! DT_NEEDED libraries, transitively, found the way glibc's ld.so finds them when there is
//! no /etc/ld.so.cache (there is none in the initramfs): DT_RPATH of the object and its
//! loaders (only if the object has no DT_RUNPATH), then DT_RUNPATH, then the default
//! directories. A candidate of the wrong ELF class or machine is skipped, as ld.so does.
//!
//! Paths are tracked twice: where the file is on the host (to read it) and where it will be
//! in the archive (which is what `$ORIGIN` means at run time).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use goblin::elf::Elf;

use crate::error::{Error, Result};
use crate::image::normalize;

/// The facts about one ELF object that dependency resolution needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    pub is_64: bool,
    pub machine: u16,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
}

impl ElfInfo {
    /// A static executable (also static-pie): nothing to load before it runs.
    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.needed.is_empty()
    }
}

/// Parses ELF headers from `bytes`; `Ok(None)` if the bytes are not ELF at all.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Option<ElfInfo>> {
    if !bytes.starts_with(b"\x7fELF") {
        return Ok(None);
    }
    let elf = Elf::parse(bytes).map_err(|e| Error::Unsupported {
        path: path.to_path_buf(),
        what: format!("bad ELF: {e}"),
    })?;
    // Each DT_RPATH/DT_RUNPATH string is a colon-separated list.
    let split = |v: &[&str]| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(':'))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(Some(ElfInfo {
        is_64: elf.is_64,
        machine: elf.header.e_machine,
        interpreter: elf.interpreter.map(str::to_string),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        rpath: split(&elf.rpaths),
        runpath: split(&elf.runpaths),
    }))
}

/// Reads and parses an ELF file from the host.
pub fn read(path: &Path) -> Result<Option<ElfInfo>> {
    let bytes = std::fs::read(path).map_err(|e| Error::from_io("ELF object", path, e))?;
    parse(&bytes, path)
}

/// A file the binary needs, found on the host. `host` may be a symlink (e.g.
/// libudev.so.1 -> libudev.so.1.7.5); the caller decides how to store that.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Needed {
    /// Absolute path in the archive, in the directory ld.so will search.
    pub archive: String,
    pub host: PathBuf,
    /// Archive path of the object that asked for it (for messages).
    pub needed_by: String,
}

/// A search directory as seen from the host and from inside the archive (they differ only
/// for `$ORIGIN`).
#[derive(Debug, Clone)]
struct SearchDir {
    host: PathBuf,
    archive: String,
}

/// Resolves dependencies against the host's files.
pub struct Resolver {
    default_dirs: Vec<String>,
    cache: HashMap<PathBuf, Option<ElfInfo>>,
}

impl Resolver {
    pub fn new(default_dirs: Vec<String>) -> Resolver {
        Resolver {
            default_dirs,
            cache: HashMap::new(),
        }
    }

    fn info(&mut self, host: &Path) -> Result<Option<ElfInfo>> {
        if let Some(info) = self.cache.get(host) {
            return Ok(info.clone());
        }
        let info = read(host)?;
        self.cache.insert(host.to_path_buf(), info.clone());
        Ok(info)
    }

    /// Everything the executable at `host` (to be stored at `archive`) needs, sorted by
    /// archive path. Returns `Ok(None)` if the file is not ELF.
    pub fn resolve(
        &mut self,
        host: &Path,
        archive: &str,
    ) -> Result<Option<(ElfInfo, Vec<Needed>)>> {
        let Some(top) = self.info(host)? else {
            return Ok(None);
        };
        if !top.is_64 {
            return Err(Error::Unsupported {
                path: host.to_path_buf(),
                what: "32-bit ELF; only 64-bit binaries are supported".into(),
            });
        }
        let mut found: BTreeSet<Needed> = BTreeSet::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        seen.insert(archive.to_string());
        // Each queued object carries the RPATH directories of its loaders, which ld.so also
        // searches for it unless it has a RUNPATH.
        let mut queue: VecDeque<(PathBuf, String, ElfInfo, Vec<SearchDir>)> = VecDeque::new();
        queue.push_back((
            host.to_path_buf(),
            archive.to_string(),
            top.clone(),
            Vec::new(),
        ));

        while let Some((obj_host, obj_archive, info, loader_rpath)) = queue.pop_front() {
            if let Some(interp) = &info.interpreter {
                let archive = normalize(interp).ok_or_else(|| Error::Unsupported {
                    path: obj_host.clone(),
                    what: format!("relative interpreter {interp:?}"),
                })?;
                if seen.insert(archive.clone()) {
                    if !Path::new(interp).exists() {
                        return Err(Error::LibraryNotFound {
                            name: interp.clone(),
                            needed_by: obj_host.clone(),
                            searched: vec![interp.clone()],
                        });
                    }
                    found.insert(Needed {
                        archive,
                        host: PathBuf::from(interp),
                        needed_by: obj_archive.clone(),
                    });
                }
            }
            let own_rpath = self.expand(&info.rpath, &obj_host, &obj_archive);
            let runpath = self.expand(&info.runpath, &obj_host, &obj_archive);
            // An object with RUNPATH ignores its own RPATH and searches no RPATH at all, but
            // the objects it loads still see its loaders' RPATHs.
            let mut rpath_chain = Vec::new();
            if runpath.is_empty() {
                rpath_chain.extend(own_rpath.iter().cloned());
            }
            rpath_chain.extend(loader_rpath.iter().cloned());
            let mut dirs: Vec<SearchDir> = if runpath.is_empty() {
                rpath_chain.clone()
            } else {
                runpath
            };
            dirs.extend(self.default_dirs.iter().map(|d| SearchDir {
                host: PathBuf::from(d),
                archive: d.clone(),
            }));

            for name in &info.needed {
                let (lib_host, lib_archive, lib_info) = self.find(name, &dirs, &info, &obj_host)?;
                if seen.insert(lib_archive.clone()) {
                    found.insert(Needed {
                        archive: lib_archive.clone(),
                        host: lib_host.clone(),
                        needed_by: obj_archive.clone(),
                    });
                    queue.push_back((lib_host, lib_archive, lib_info, rpath_chain.clone()));
                }
            }
        }
        Ok(Some((top, found.into_iter().collect())))
    }

    /// Expands `$ORIGIN` (the object's own directory) in RPATH/RUNPATH entries.
    fn expand(&self, entries: &[String], obj_host: &Path, obj_archive: &str) -> Vec<SearchDir> {
        // ld.so takes $ORIGIN from the object's real location on the host...
        let host_origin = std::fs::canonicalize(obj_host)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| obj_host.parent().map(Path::to_path_buf).unwrap_or_default());
        // ...and in the archive the object sits at obj_archive.
        let archive_origin = match obj_archive.rfind('/') {
            Some(0) | None => "/".to_string(),
            Some(i) => obj_archive[..i].to_string(),
        };
        let mut out = Vec::new();
        for entry in entries {
            let has_origin = entry.contains("$ORIGIN") || entry.contains("${ORIGIN}");
            let sub = |origin: &str| {
                entry
                    .replace("${ORIGIN}", origin)
                    .replace("$ORIGIN", origin)
            };
            let host = sub(&host_origin.to_string_lossy());
            let archive = if has_origin {
                sub(&archive_origin)
            } else {
                entry.clone()
            };
            // Relative entries (rare, and relative to ld.so's cwd) cannot be mapped into the
            // archive; ld.so ignores them for set-uid programs too. Skip them.
            if let Some(archive) = normalize(&archive) {
                out.push(SearchDir {
                    host: PathBuf::from(host),
                    archive,
                });
            }
        }
        out
    }

    fn find(
        &mut self,
        name: &str,
        dirs: &[SearchDir],
        wanted_by: &ElfInfo,
        obj_host: &Path,
    ) -> Result<(PathBuf, String, ElfInfo)> {
        if name.contains('/') {
            // ld.so loads such names as paths, without searching.
            let archive = normalize(name).ok_or_else(|| Error::Unsupported {
                path: obj_host.to_path_buf(),
                what: format!("relative DT_NEEDED path {name:?}"),
            })?;
            let host = PathBuf::from(name);
            return match self.info(&host) {
                Ok(Some(info)) => Ok((host, archive, info)),
                Ok(None) => Err(Error::Unsupported {
                    path: host,
                    what: "needed library is not ELF".into(),
                }),
                Err(_) => Err(Error::LibraryNotFound {
                    name: name.to_string(),
                    needed_by: obj_host.to_path_buf(),
                    searched: vec![name.to_string()],
                }),
            };
        }
        for dir in dirs {
            let host = dir.host.join(name);
            if !host.is_file() {
                continue;
            }
            // A library of another class or machine is skipped, exactly as ld.so skips it.
            match self.info(&host) {
                Ok(Some(info))
                    if info.is_64 == wanted_by.is_64 && info.machine == wanted_by.machine =>
                {
                    let archive = format!("{}/{}", dir.archive.trim_end_matches('/'), name);
                    return Ok((host, archive, info));
                }
                _ => continue,
            }
        }
        Err(Error::LibraryNotFound {
            name: name.to_string(),
            needed_by: obj_host.to_path_buf(),
            searched: dirs.iter().map(|d| d.host.display().to_string()).collect(),
        })
    }
}
