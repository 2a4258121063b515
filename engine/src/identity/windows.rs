//! Naming a restored Windows system, mounted at a root: the computer name goes into
//! `Windows\Panther\unattend.xml`, the answer file Windows Setup reads in its specialize pass
//! when a machine generalized with sysprep first starts. An answer file already there (the
//! golden image's own, with its locale and OOBE settings) is kept and only its `ComputerName`
//! set; otherwise a minimal one is written. Windows checks its own names: at most 15
//! characters (NetBIOS), which the plan checked before the restore.
//!
//! Must not: write secrets (no domain join, no passwords), or change anything else. A system
//! that was not generalized never runs Setup again and so keeps its old name: that is said,
//! with what to do, rather than silently having no effect.

use super::find_ci;
use std::fs;
use std::path::Path;

/// The longest computer name Windows accepts.
pub const MAX_NAME: usize = 15;

/// The Shell-Setup component that carries ComputerName, for each architecture Windows runs
/// on: Setup applies only its own and ignores the others, so one answer file fits any image.
fn components(name: &str, indent: &str) -> String {
    ["amd64", "x86", "arm64"]
        .iter()
        .map(|arch| {
            format!(
                "{indent}<component name=\"Microsoft-Windows-Shell-Setup\" \
                 processorArchitecture=\"{arch}\" publicKeyToken=\"31bf3856ad364e35\" \
                 language=\"neutral\" versionScope=\"nonSxS\">\n\
                 {indent}  <ComputerName>{name}</ComputerName>\n\
                 {indent}</component>\n"
            )
        })
        .collect()
}

/// What was found and done: None when `root` holds no Windows.
pub type Outcome = Option<(String, Vec<String>, Vec<String>)>;

pub fn name(root: &Path, name: &str) -> std::io::Result<Outcome> {
    let Some(win) = find_ci(root, "Windows").filter(|p| p.is_dir()) else {
        return Ok(None);
    };
    if !find_ci(&win, "System32").is_some_and(|p| p.is_dir()) {
        return Ok(None);
    }
    let mut changes = Vec::new();
    let mut warnings = Vec::new();
    if name.len() > MAX_NAME {
        warnings.push(format!(
            "{name} is longer than the {MAX_NAME} characters Windows allows: not named"
        ));
        return Ok(Some(("Windows".into(), changes, warnings)));
    }
    let panther = match find_ci(&win, "Panther") {
        Some(p) => p,
        None => {
            let p = win.join("Panther");
            fs::create_dir(&p)?;
            p
        }
    };
    match find_ci(&panther, "unattend.xml") {
        Some(existing) => {
            let bytes = fs::read(&existing)?;
            let (text, utf16) = decode(&bytes)?;
            let new = with_computer_name(&text, name)?;
            fs::write(&existing, encode(&new, utf16))?;
            changes.push(format!(
                "Windows\\Panther\\{}: ComputerName set to {name} (the rest of the golden \
                 image's answer file kept)",
                existing
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
        }
        None => {
            let text = format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
                 <!-- Written by Wraith when this machine was deployed: its name. -->\n\
                 <unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n  \
                 <settings pass=\"specialize\">\n{}  </settings>\n</unattend>\n",
                components(name, "    ")
            );
            fs::write(panther.join("unattend.xml"), text)?;
            changes.push(format!(
                "Windows\\Panther\\unattend.xml: ComputerName {name} for Setup's specialize pass"
            ));
        }
    }
    if !generalized(&win) {
        warnings.push(
            "this Windows was not generalized with sysprep before the image was saved, so \
             Setup does not run again and it keeps its old name (and security identifier): \
             run `sysprep /generalize /oobe /shutdown` on the golden machine, then save it again"
                .to_string(),
        );
    }
    Ok(Some(("Windows".into(), changes, warnings)))
}

/// Whether sysprep left the system to run Setup at its next start
/// (`Windows\Setup\State\State.ini`: `ImageState=IMAGE_STATE_GENERALIZE_RESEAL_TO_...`).
fn generalized(win: &Path) -> bool {
    let Some(ini) = find_ci(win, "Setup")
        .and_then(|p| find_ci(&p, "State"))
        .and_then(|p| find_ci(&p, "State.ini"))
    else {
        return false;
    };
    fs::read(ini)
        .ok()
        .and_then(|b| decode(&b).ok())
        .is_some_and(|(t, _)| t.contains("IMAGE_STATE_GENERALIZE_RESEAL"))
}

/// Answer files come in UTF-8 or, from some Windows tools, UTF-16 with a byte order mark.
fn decode(b: &[u8]) -> std::io::Result<(String, bool)> {
    if let Some(rest) = b.strip_prefix(&[0xff, 0xfe]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16(&units)
            .map(|s| (s, true))
            .map_err(|_| std::io::Error::other("answer file: invalid UTF-16"));
    }
    let b = b.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(b);
    String::from_utf8(b.to_vec())
        .map(|s| (s, false))
        .map_err(|_| std::io::Error::other("answer file: neither UTF-8 nor UTF-16"))
}

fn encode(s: &str, utf16: bool) -> Vec<u8> {
    if !utf16 {
        return s.as_bytes().to_vec();
    }
    let mut out = vec![0xff, 0xfe];
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

/// The answer file with every ComputerName set to `name`; where it has none, the Shell-Setup
/// components go into its specialize pass (made if missing). Only those places change: the
/// file is edited as text at positions the XML parser found, so comments, layout and every
/// other setting stay as the golden image's author wrote them.
fn with_computer_name(text: &str, name: &str) -> std::io::Result<String> {
    use quick_xml::events::Event as X;
    let bad = |e: String| std::io::Error::other(format!("answer file is not valid XML: {e}"));
    let mut reader = quick_xml::Reader::from_str(text);
    // Byte ranges of ComputerName's contents, where to put components or a settings element.
    let mut names: Vec<(usize, usize)> = Vec::new();
    let mut specialize_open: Option<usize> = None;
    let mut unattend_close: Option<usize> = None;
    let mut name_start: Option<usize> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| bad(e.to_string()))?;
        let after = reader.buffer_position() as usize;
        match ev {
            X::Start(e) if e.local_name().as_ref() == b"ComputerName" => name_start = Some(after),
            X::End(e) if e.local_name().as_ref() == b"ComputerName" => {
                if let Some(s) = name_start.take() {
                    names.push((s, before));
                }
            }
            // <ComputerName/>: replaced whole by an element with contents.
            X::Empty(e) if e.local_name().as_ref() == b"ComputerName" => {
                names.push((before, after));
            }
            X::Start(e) if e.local_name().as_ref() == b"settings" => {
                let pass = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == b"pass")
                    .map(|a| a.value.into_owned());
                if pass.as_deref() == Some(b"specialize".as_slice()) {
                    specialize_open = Some(after);
                }
            }
            X::End(e) if e.local_name().as_ref() == b"unattend" => unattend_close = Some(before),
            X::Eof => break,
            _ => {}
        }
    }
    let mut out = text.to_string();
    if !names.is_empty() {
        // Back to front, so earlier positions stay valid.
        for (s, e) in names.into_iter().rev() {
            let empty_tag = text[s..e].trim_start().starts_with('<');
            if empty_tag {
                out.replace_range(s..e, &format!("<ComputerName>{name}</ComputerName>"));
            } else {
                out.replace_range(s..e, name);
            }
        }
    } else if let Some(at) = specialize_open {
        out.insert_str(at, &format!("\n{}", components(name, "    ")));
    } else if let Some(at) = unattend_close {
        out.insert_str(
            at,
            &format!(
                "  <settings pass=\"specialize\">\n{}  </settings>\n",
                components(name, "    ")
            ),
        );
    } else {
        return Err(std::io::Error::other(
            "answer file has no <unattend> element",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
        <unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n\
        <!-- keep me -->\n\
        <settings pass=\"oobeSystem\"><component name=\"Microsoft-Windows-International-Core\">\
        <UILanguage>de-DE</UILanguage></component></settings>\n\
        </unattend>\n";

    #[test]
    fn an_answer_file_without_a_name_gets_a_specialize_pass() {
        let out = with_computer_name(GOLDEN, "LAB-07").unwrap();
        assert!(out.contains("<!-- keep me -->") && out.contains("<UILanguage>de-DE</UILanguage>"));
        assert_eq!(
            out.matches("<ComputerName>LAB-07</ComputerName>").count(),
            3
        );
        assert!(out.contains("<settings pass=\"specialize\">"));
        // Still one well-formed document.
        let mut r = quick_xml::Reader::from_str(&out);
        loop {
            match r.read_event().unwrap() {
                quick_xml::events::Event::Eof => break,
                _ => continue,
            }
        }
        // Run again: the names are replaced, nothing added twice.
        let again = with_computer_name(&out, "LAB-08").unwrap();
        assert_eq!(
            again.matches("<ComputerName>LAB-08</ComputerName>").count(),
            3
        );
        assert_eq!(again.matches("<settings pass=\"specialize\">").count(), 1);
        assert!(!again.contains("LAB-07"));
    }

    #[test]
    fn existing_names_are_replaced_in_place() {
        let text = "<unattend><settings pass=\"specialize\"><component>\
                    <ComputerName>*</ComputerName><RegisteredOwner>IT</RegisteredOwner>\
                    </component><component><ComputerName/></component></settings></unattend>";
        let out = with_computer_name(text, "PC-1").unwrap();
        assert_eq!(
            out,
            "<unattend><settings pass=\"specialize\"><component>\
             <ComputerName>PC-1</ComputerName><RegisteredOwner>IT</RegisteredOwner>\
             </component><component><ComputerName>PC-1</ComputerName></component></settings></unattend>"
        );
        assert!(with_computer_name("<notanswer/>", "PC-1").is_err());
    }

    #[test]
    fn utf16_answer_files_stay_utf16() {
        let b = encode(GOLDEN, true);
        let (t, utf16) = decode(&b).unwrap();
        assert!(utf16 && t == GOLDEN);
        let (t, utf16) = decode(GOLDEN.as_bytes()).unwrap();
        assert!(!utf16 && t == GOLDEN);
    }
}
