//! HTML directory indexes (nginx `autoindex`, Apache `mod_autoindex`, Python's
//! `http.server`, and the like): the link targets of the page. Not an HTML parser: an index
//! page is generated, and every link in it is an `href=` attribute, quoted or not; what is not
//! an entry of the directory (sort links, the parent, other sites) is dropped later by
//! [`super::names_from_hrefs`].

/// Link targets of an HTML directory index.
pub fn hrefs(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find("href=") {
        at += i + 5;
        let rest = &html[at..];
        let (quote, body) = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => (q, &rest[1..]),
            _ => (' ', rest),
        };
        let end = body
            .find(|c: char| c == quote || (quote == ' ' && c == '>'))
            .unwrap_or(body.len());
        out.push(unescape(&body[..end]));
    }
    out
}

/// The character references an index page uses in a URL: the five predefined ones and `&#39;`.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::super::names_from_hrefs;
    use super::*;

    #[test]
    fn html_indexes_of_nginx_apache_and_python_give_the_entries() {
        let nginx = r#"<html><head><title>Index of /r/packs/</title></head><body><h1>Index of /r/packs/</h1><hr><pre><a href="../">../</a>
<a href="0a/">0a/</a>                                                 01-Jan-2026 00:00       -
<a href="ff/">ff/</a>                                                 01-Jan-2026 00:00       -
</pre><hr></body></html>"#;
        assert_eq!(
            names_from_hrefs("http://h/r/packs/", &hrefs(nginx)),
            vec!["0a", "ff"]
        );
        let apache = r#"<table><tr><th><a href="?C=N;O=D">Name</a></th></tr>
<tr><td><a href="/r/">Parent Directory</a></td></tr>
<tr><td><a href="x%20y.manifest">x y.manifest</a></td></tr></table>"#;
        assert_eq!(
            names_from_hrefs("http://h/r/images/pc/", &hrefs(apache)),
            vec!["x y.manifest"]
        );
        let python = "<ul>\n<li><a href='wraith-repo.json'>wraith-repo.json</a></li>\n\
                      <li><a href=\"/r/index/\">abs</a></li><li><a href=\"https://other/\">x</a></li></ul>";
        assert_eq!(
            names_from_hrefs("http://h/r/", &hrefs(python)),
            vec!["index", "wraith-repo.json"]
        );
    }

    #[test]
    fn an_unquoted_or_unterminated_href_ends_at_the_tag_or_the_text() {
        assert_eq!(hrefs("<a href=x.idx>x</a><a href=\"y"), vec!["x.idx", "y"]);
        assert_eq!(hrefs("<a href='a&amp;b'>"), vec!["a&b"]);
        assert!(hrefs("no links here").is_empty());
    }
}
