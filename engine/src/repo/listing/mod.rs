//! Directory listings of HTTP repositories, one file per format: a WebDAV PROPFIND answer
//! ([`propfind`]) or an HTML index page ([`html`]). Both give the link targets they hold;
//! [`names_from_hrefs`] keeps those that are entries of the listed directory. The server is
//! untrusted: every function here is total over any text (fuzzed), and a malformed PROPFIND
//! answer is an error rather than a short list, so a truncated answer never hides packs.

pub mod html;
pub mod propfind;

/// Entry names in a directory from the links of its listing: the directory's own entries only
/// (not itself, its parent, sort links or other sites), decoded, without a trailing '/'.
pub fn names_from_hrefs(dir_url: &str, hrefs: &[String]) -> Vec<String> {
    let dir_path = {
        let after_scheme = dir_url.find("://").map(|i| i + 3).unwrap_or(0);
        let p = dir_url[after_scheme..]
            .find('/')
            .map(|i| &dir_url[after_scheme + i..])
            .unwrap_or("/");
        crate::repo::location::percent_decode(p)
    };
    let dir_path = dir_path.trim_end_matches('/').to_string() + "/";
    let mut out: Vec<String> = hrefs
        .iter()
        .filter_map(|h| {
            let h = h.split(['?', '#']).next().unwrap_or("");
            let path = if let Some(i) = h.find("://") {
                let rest = &h[i + 3..];
                rest.find('/').map(|j| &rest[j..]).unwrap_or("/")
            } else {
                h
            };
            let path = crate::repo::location::percent_decode(path);
            let rel = if path.starts_with('/') {
                path.strip_prefix(&dir_path)?.to_string()
            } else {
                path
            };
            let name = rel.strip_prefix("./").unwrap_or(&rel).trim_end_matches('/');
            (!name.is_empty() && !name.contains('/') && name != "." && name != "..")
                .then(|| name.to_string())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_entries_of_the_directory_are_kept_decoded_and_without_a_slash() {
        let hrefs: Vec<String> = [
            "/dav/my%20repo/images/",
            "/dav/my%20repo/images/pc1/",
            "http://h:8/dav/my%20repo/images/a&b",
            "/dav/my%20repo/images/x?sort=1",
            "/dav/my%20repo/other/y",
            "../",
            "./z",
            "/dav/my%20repo/images/deep/er",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            names_from_hrefs("http://h:8/dav/my%20repo/images/", &hrefs),
            vec!["a&b", "pc1", "x", "z"]
        );
    }
}
