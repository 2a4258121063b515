//! The inline job encoding: a whole job in one kernel command-line parameter
//! (`wraith.run=action=clone;source=serial:ABC`) or one `wraith job --inline` argument.
//! init shows the fields in `--dry-run-cmdline`; the engine turns them into a job. Both call
//! [`fields`], so they cannot read a line differently.
//!
//! The rules:
//! - fields are separated by ASCII whitespace or `;` (the kernel splits its command line on
//!   ASCII whitespace too, so `;` lets a job fit in one unquoted parameter);
//! - each field is `KEY=VALUE`, split at its first `=`, so a value may contain `=`;
//! - key and value are percent-decoded *after* splitting (`%20` space, `%22` quote, `%3B`
//!   semicolon, `%3D` equals, `%25` percent): an escaped character is always data, never a
//!   separator;
//! - a field without `=`, or with nothing before it, is an error naming the field. The job
//!   format has no bare flags, so a lone word is a typo (`verify` for `verify=true`, a space
//!   inside an unquoted value) and must stop the job rather than be dropped or read as an
//!   empty value.

use std::fmt;

/// Why an inline job cannot be split into fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InlineError {
    /// A field without `=` (as written, not decoded).
    NotKeyValue { field: String },
    /// A field that starts with `=`.
    EmptyKey { field: String },
}

impl fmt::Display for InlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InlineError::NotKeyValue { field } => write!(
                f,
                "inline job: `{field}` is not key=value (write e.g. `{field}=true`; \
                 percent-encode a space in a value as %20)"
            ),
            InlineError::EmptyKey { field } => {
                write!(f, "inline job: `{field}` has no key before its `=`")
            }
        }
    }
}

impl std::error::Error for InlineError {}

/// Splits an inline job into `(key, value)` pairs, decoded, in the order written.
pub fn fields(text: &str) -> Result<Vec<(String, String)>, InlineError> {
    text.split(|c: char| c.is_ascii_whitespace() || c == ';')
        .filter(|f| !f.is_empty())
        .map(|field| match field.split_once('=') {
            None => Err(InlineError::NotKeyValue {
                field: field.to_string(),
            }),
            Some(("", _)) => Err(InlineError::EmptyKey {
                field: field.to_string(),
            }),
            Some((k, v)) => Ok((percent_decode(k), percent_decode(v))),
        })
        .collect()
}

/// `%XX` → that byte. A malformed escape (`100%`, `%zz`, `%+1`) stays as written, so a stray
/// `%` is not an error; bytes that do not form UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Digit by digit: u8::from_str_radix would also take a sign ("%+1").
            let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
            if let (Some(h), Some(l)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fields_split_on_ascii_whitespace_and_semicolons_and_decode_after_splitting() {
        assert_eq!(
            fields("action=clone;source=serial:ABC \t repo=/mnt/my%20images\nimage=a%3Bb"),
            Ok(kv(&[
                ("action", "clone"),
                ("source", "serial:ABC"),
                ("repo", "/mnt/my images"),
                ("image", "a;b"),
            ]))
        );
        assert_eq!(fields(" ; \n"), Ok(vec![]));
    }

    #[test]
    fn a_value_keeps_its_equals_signs_and_an_escaped_one_never_splits() {
        assert_eq!(
            fields("net=static:10.0.0.5/24,gw=10.0.0.1 a%3Db=c"),
            Ok(kv(&[
                ("net", "static:10.0.0.5/24,gw=10.0.0.1"),
                ("a=b", "c")
            ]))
        );
        assert_eq!(fields("k="), Ok(kv(&[("k", "")])));
    }

    #[test]
    fn a_word_without_equals_or_without_a_key_is_an_error_naming_it() {
        let e = fields("action=save verify repo=/x").unwrap_err();
        assert_eq!(
            e,
            InlineError::NotKeyValue {
                field: "verify".into()
            }
        );
        assert!(e.to_string().contains("`verify`"), "{e}");
        assert_eq!(
            fields("=x"),
            Err(InlineError::EmptyKey { field: "=x".into() })
        );
    }

    #[test]
    fn only_ascii_whitespace_separates_like_the_kernel() {
        // U+00A0 is whitespace to Rust but not to the kernel's isspace().
        assert_eq!(fields("image=a\u{a0}b"), Ok(kv(&[("image", "a\u{a0}b")])));
    }

    #[test]
    fn percent_decode_leaves_malformed_escapes() {
        assert_eq!(percent_decode("a%20b%22c%3bd%25"), "a b\"c;d%");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%+1"), "%+1");
        assert_eq!(percent_decode("%2"), "%2");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
