//! rootfs.toml: the live system described as data (see rootfs/README.md for the user guide).
//!
//! Every string field may hold `${NAME}` references, filled from `--var NAME=VALUE` or the
//! config's own `[vars]` defaults. Substitution happens in [`crate::build`], not here, so that
//! an unset variable can be reported with the entry that uses it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Where ld.so on Debian x86_64 looks when a binary has no RUNPATH/RPATH and there is no
/// ld.so.cache (an initramfs has none): the multiarch directories first, then the classic ones.
pub const DEFAULT_LIBRARY_PATHS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/lib",
    "/usr/lib",
];

/// The whole rootfs.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Default values for `${NAME}`; `--var` overrides them.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Directories searched for DT_NEEDED libraries after RUNPATH/RPATH, in order.
    /// Default: [`DEFAULT_LIBRARY_PATHS`].
    #[serde(default)]
    pub library_paths: Option<Vec<String>>,
    /// ELF executables; their libraries and interpreter come along.
    #[serde(default, rename = "binary")]
    pub binaries: Vec<Binary>,
    /// Plain files copied as they are.
    #[serde(default, rename = "file")]
    pub files: Vec<FileEntry>,
    /// Host directories copied recursively.
    #[serde(default, rename = "tree")]
    pub trees: Vec<Tree>,
    /// Directories to create.
    #[serde(default, rename = "dir")]
    pub dirs: Vec<Dir>,
    /// Symbolic links to create.
    #[serde(default, rename = "symlink")]
    pub symlinks: Vec<Symlink>,
    /// Device nodes, written straight into the archive (no mknod, so no root needed).
    #[serde(default, rename = "node")]
    pub nodes: Vec<Node>,
}

/// `[[binary]]`: an ELF executable from the host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binary {
    /// Host path; a symlink is followed and the file it names is copied.
    pub src: String,
    /// Absolute path in the archive.
    pub dest: String,
    /// Permission bits; default 0o755.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Skip with a warning (instead of failing) when `src` does not exist.
    #[serde(default)]
    pub optional: bool,
    /// Store a copy without symbols and debug info (runs the host's binutils `strip`).
    /// For our own release builds, which keep line tables for backtraces; Debian's
    /// binaries and libraries are stripped already.
    #[serde(default)]
    pub strip: bool,
}

/// `[[file]]`: a plain file from the host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub src: String,
    pub dest: String,
    /// Permission bits; default 0o755 if the host file is executable by anyone, else 0o644.
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub optional: bool,
}

/// `[[tree]]`: a host directory copied recursively. Symlinks inside are kept as symlinks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tree {
    pub src: String,
    pub dest: String,
    #[serde(default)]
    pub optional: bool,
}

/// `[[dir]]`: one directory (`path`) or several (`paths`) with one mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dir {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    /// Default 0o755.
    #[serde(default)]
    pub mode: Option<Mode>,
}

/// `[[symlink]]`: one link (`path`) or several (`paths`) all pointing at `target`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Symlink {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    /// Stored verbatim: relative targets resolve against the link's directory at run time.
    pub target: String,
}

/// `[[node]]`: a character or block device node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: NodeKind,
    pub major: u32,
    pub minor: u32,
    /// Default 0o600.
    #[serde(default)]
    pub mode: Option<Mode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Char,
    Block,
}

/// Permission bits (at most 0o7777). TOML has octal integers (`0o755`); a string (`"0755"`)
/// is read as octal too, because a decimal `755` is almost always a mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Str(String),
        }
        let value = match Raw::deserialize(d)? {
            Raw::Int(i) => u32::try_from(i).map_err(serde::de::Error::custom)?,
            Raw::Str(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
                .map_err(|_| serde::de::Error::custom(format!("mode {s:?} is not octal")))?,
        };
        if value > 0o7777 {
            return Err(serde::de::Error::custom(format!(
                "mode {value:#o} has bits beyond 0o7777 (write modes as 0o755)"
            )));
        }
        Ok(Mode(value))
    }
}

impl Config {
    /// Parses rootfs.toml text.
    pub fn parse(text: &str) -> Result<Config> {
        toml::from_str(text).map_err(|e| Error::Config(e.to_string()))
    }

    /// Reads and parses a rootfs.toml file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::from_io("config", path, e))?;
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }
}

/// Replaces every `${NAME}` in `text` with its value. `entry` names the config entry for errors.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>, entry: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| Error::Config(format!("{entry}: unclosed ${{ in {text:?}")))?;
        let name = &after[..end];
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(Error::Config(format!(
                "{entry}: bad variable name {name:?} in {text:?}"
            )));
        }
        let value = vars.get(name).ok_or_else(|| Error::UnsetVar {
            entry: entry.to_string(),
            name: name.to_string(),
        })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitute_fills_vars_and_names_the_entry_when_unset() {
        let mut vars = BTreeMap::new();
        vars.insert("INIT".to_string(), "/x/init".to_string());
        assert_eq!(
            substitute("a${INIT}b$c", &vars, "e").unwrap(),
            "a/x/initb$c"
        );
        let err =
            substitute("${WRAITH}", &vars, "[[binary]] dest=\"/usr/bin/wraith\"").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("WRAITH") && msg.contains("/usr/bin/wraith"),
            "{msg}"
        );
        assert!(substitute("${oops", &vars, "e").is_err());
        assert!(substitute("${a-b}", &vars, "e").is_err());
    }

    #[test]
    fn modes_accept_octal_ints_and_strings_and_reject_out_of_range() {
        let c = Config::parse("[[dir]]\npath = \"/tmp\"\nmode = 0o1777\n").unwrap();
        assert_eq!(c.dirs[0].mode, Some(Mode(0o1777)));
        let c = Config::parse("[[dir]]\npath = \"/tmp\"\nmode = \"0755\"\n").unwrap();
        assert_eq!(c.dirs[0].mode, Some(Mode(0o755)));
        assert!(Config::parse("[[dir]]\npath = \"/tmp\"\nmode = 99999\n").is_err());
        assert!(Config::parse("[[dir]]\npath = \"/tmp\"\nmode = \"9\"\n").is_err());
        assert!(Config::parse("[[dir]]\npath = \"/tmp\"\nbogus = 1\n").is_err());
    }
}
