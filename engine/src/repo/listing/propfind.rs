//! WebDAV PROPFIND answers (RFC 4918 §9.1, a `207 Multi-Status` body): the `href` of every
//! `response`, read with a namespace-aware XML parser, so what matters is the element's
//! namespace (`DAV:`) and local name, never how the server spells the prefix: `<D:href>`,
//! `<lp1:href xmlns:lp1="DAV:">`, `<href xmlns="DAV:">` are the same element, an `href` in
//! another namespace is not. Entities and CDATA come out decoded.

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

const DAV: Namespace<'static> = Namespace(b"DAV:");

/// What an open element is, as far as the listing cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    /// `DAV:response`.
    Response,
    /// `DAV:href` directly inside a `DAV:response`: an entry.
    Href,
    Other,
}

/// The `href`s of the answer's responses, in order, trimmed, empty ones left out. Malformed
/// XML (mismatched or unclosed elements, an unknown entity, a truncated body) is an error
/// naming the byte offset: a listing cut short must not pass for a short directory.
pub fn hrefs(xml: &str) -> Result<Vec<String>, String> {
    let mut reader = NsReader::from_str(xml);
    let mut open: Vec<Open> = Vec::new();
    let mut out = Vec::new();
    // The text of the entry being read; `Some` exactly while an `Open::Href` is innermost.
    let mut text: Option<String> = None;
    let bad = |at: u64, what: String| format!("malformed XML at byte {at}: {what}");
    loop {
        // The namespace borrows the reader: only whether it is DAV: is kept.
        let read = reader
            .read_resolved_event()
            .map(|(ns, event)| (ns == ResolveResult::Bound(DAV), event))
            .map_err(|e| e.to_string());
        let (dav, event) = read.map_err(|e| bad(reader.error_position(), e))?;
        let at = reader.buffer_position();
        match event {
            Event::Start(e) => {
                let kind = match e.local_name().as_ref() {
                    b"response" if dav => Open::Response,
                    b"href" if dav && open.last() == Some(&Open::Response) => Open::Href,
                    _ => Open::Other,
                };
                // Markup inside an href is not a URL; keep only what is directly in it.
                text = (kind == Open::Href).then(String::new);
                open.push(kind);
            }
            // The guard pops for every end tag; only an href's end keeps its text.
            Event::End(_) if open.pop() == Some(Open::Href) => {
                if let Some(t) = text.take() {
                    let t = t.trim();
                    if !t.is_empty() {
                        out.push(t.to_string());
                    }
                }
            }
            Event::Text(t) => {
                if let Some(buf) = text.as_mut() {
                    let s = t.unescape().map_err(|e| bad(at, e.to_string()))?;
                    buf.push_str(&s);
                }
            }
            Event::CData(c) => {
                if let Some(buf) = text.as_mut() {
                    let s = c.decode().map_err(|e| bad(at, e.to_string()))?;
                    buf.push_str(&s);
                }
            }
            Event::Eof if open.is_empty() => return Ok(out),
            Event::Eof => {
                return Err(bad(
                    at,
                    format!("the answer ends inside {} open elements", open.len()),
                ))
            }
            // Declarations, comments, processing instructions, empty elements (an empty
            // `<href/>` names nothing).
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::names_from_hrefs;
    use super::*;

    #[test]
    fn webdav_listings_give_the_entries_of_the_directory() {
        let xml = r#"<?xml version="1.0" encoding="utf-8" ?>
<D:multistatus xmlns:D="DAV:">
<D:response><D:href>/dav/my%20repo/images/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop></D:propstat></D:response>
<D:response><D:href>/dav/my%20repo/images/pc1/</D:href></D:response>
<D:response><D:href>http://h:8/dav/my%20repo/images/a&amp;b</D:href></D:response>
</D:multistatus>"#;
        let names = names_from_hrefs("http://h:8/dav/my%20repo/images/", &hrefs(xml).unwrap());
        assert_eq!(names, vec!["a&b".to_string(), "pc1".to_string()]);
    }

    #[test]
    fn an_href_with_attributes_is_read() {
        let xml = r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href xml:lang="en" class='x'>/r/a.idx</D:href></D:response></D:multistatus>"#;
        assert_eq!(hrefs(xml).unwrap(), vec!["/r/a.idx"]);
    }

    #[test]
    fn any_prefix_bound_to_dav_is_dav_and_it_may_be_declared_on_the_element() {
        let xml = r#"<ns0:multistatus xmlns:ns0="DAV:"><ns0:response><a:href xmlns:a="DAV:">/r/one</a:href></ns0:response><ns0:response><ns0:href>/r/two</ns0:href></ns0:response></ns0:multistatus>"#;
        assert_eq!(hrefs(xml).unwrap(), vec!["/r/one", "/r/two"]);
    }

    #[test]
    fn the_default_namespace_works_too() {
        let xml = "<multistatus xmlns=\"DAV:\"><response><href>/r/x.idx</href></response>\
                   <response><href xmlns=\"DAV:\">\n  /r/  \n</href></response></multistatus>";
        assert_eq!(hrefs(xml).unwrap(), vec!["/r/x.idx", "/r/"]);
        assert_eq!(
            names_from_hrefs("http://h/r/", &hrefs(xml).unwrap()),
            vec!["x.idx"]
        );
    }

    #[test]
    fn an_href_outside_dav_or_outside_a_response_is_not_an_entry() {
        let xml = r#"<D:multistatus xmlns:D="DAV:" xmlns:X="urn:other">
<D:response><X:href>/r/not-dav</X:href><D:href>/r/yes</D:href>
<D:propstat><D:prop><D:owner><D:href>/principals/me</D:href></D:owner></D:prop></D:propstat></D:response>
<href>/r/no-namespace</href></D:multistatus>"#;
        assert_eq!(hrefs(xml).unwrap(), vec!["/r/yes"]);
    }

    #[test]
    fn entities_and_character_references_are_decoded() {
        let xml = r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/r/a&amp;b&#x20;c&#33;&lt;&gt;&quot;&apos;</D:href></D:response></D:multistatus>"#;
        assert_eq!(hrefs(xml).unwrap(), vec!["/r/a&b c!<>\"'"]);
    }

    #[test]
    fn cdata_is_taken_as_it_is_and_may_mix_with_text() {
        let xml = r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href><![CDATA[/r/a&amp;<b>]]></D:href></D:response><D:response><D:href>/r/<![CDATA[c d]]>&amp;e</D:href></D:response></D:multistatus>"#;
        assert_eq!(hrefs(xml).unwrap(), vec!["/r/a&amp;<b>", "/r/c d&e"]);
    }

    #[test]
    fn comments_and_empty_hrefs_name_nothing() {
        let xml = r#"<D:multistatus xmlns:D="DAV:"><!-- hi --><D:response><D:href/></D:response><D:response><D:href>  </D:href></D:response></D:multistatus>"#;
        assert_eq!(hrefs(xml).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn malformed_or_truncated_answers_are_errors_naming_where() {
        for bad in [
            r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/r/a</D:href>"#,
            r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/r/a</D:response></D:multistatus>"#,
            r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/r/&nbsp;</D:href></D:response></D:multistatus>"#,
        ] {
            let e = hrefs(bad).unwrap_err();
            assert!(e.contains("malformed XML at byte"), "{bad}: {e}");
        }
        assert_eq!(hrefs("").unwrap(), Vec::<String>::new());
    }
}
