//! The kernel's own split of its command line into parameters (`next_arg` in lib/cmdline.c):
//! whitespace separates parameters except inside double quotes; a value that starts with `"`
//! loses that quote and one trailing quote, as does a parameter that starts with `"`
//! (`"wraith.run=a b"`). Quotes cannot be escaped: a value cannot contain `"`. Pure and total
//! (any text splits into something), so it is fuzzed.

/// Splits a command line into `(name, value)` pairs with the kernel's quoting rules.
pub fn split_params(line: &str) -> Vec<(String, Option<String>)> {
    let mut params = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return params;
        }
        let mut token = String::new();
        let mut in_quote = false;
        while let Some(&c) = chars.peek() {
            if c.is_ascii_whitespace() && !in_quote {
                break;
            }
            if c == '"' {
                in_quote = !in_quote;
            }
            token.push(c);
            chars.next();
        }
        params.push(unquote_param(&token));
    }
}

/// One raw token (quotes still in it) to a name and an optional value, as the kernel does.
fn unquote_param(token: &str) -> (String, Option<String>) {
    let (quoted, body) = match token.strip_prefix('"') {
        Some(rest) => (true, rest),
        None => (false, token),
    };
    let ends_with_quote = body.ends_with('"');
    match body.split_once('=') {
        Some((name, value)) => {
            // The kernel removes at most one trailing quote, whether the quote opened the
            // value or the whole parameter.
            let value = match value.strip_prefix('"') {
                Some(v) if ends_with_quote => strip_last_quote(v),
                Some(v) => v,
                None if quoted && ends_with_quote => strip_last_quote(value),
                None => value,
            };
            (name.to_string(), Some(value.to_string()))
        }
        None => {
            let name = if quoted && ends_with_quote {
                strip_last_quote(body)
            } else {
                body
            };
            (name.to_string(), None)
        }
    }
}

fn strip_last_quote(s: &str) -> &str {
    s.strip_suffix('"').unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: Option<&str>) -> (String, Option<String>) {
        (name.to_string(), value.map(str::to_string))
    }

    #[test]
    fn splits_on_whitespace_including_newline_and_tabs() {
        assert_eq!(
            split_params("  ro\tquiet console=ttyS0,115200\n"),
            vec![
                p("ro", None),
                p("quiet", None),
                p("console", Some("ttyS0,115200"))
            ]
        );
    }

    #[test]
    fn empty_and_blank_lines_give_no_params() {
        assert!(split_params("").is_empty());
        assert!(split_params(" \n").is_empty());
    }

    #[test]
    fn quoted_value_keeps_spaces_and_loses_its_quotes() {
        assert_eq!(
            split_params(r#"a=1 wraith.run="action=clone source=serial:ABC" b"#),
            vec![
                p("a", Some("1")),
                p("wraith.run", Some("action=clone source=serial:ABC")),
                p("b", None)
            ]
        );
    }

    #[test]
    fn wholly_quoted_param_loses_outer_quotes() {
        assert_eq!(
            split_params(r#""wraith.run=a b" x"#),
            vec![p("wraith.run", Some("a b")), p("x", None)]
        );
        assert_eq!(
            split_params(r#""flag with space""#),
            vec![p("flag with space", None)]
        );
    }

    #[test]
    fn quotes_in_the_middle_group_but_stay_like_the_kernel() {
        // The kernel only strips a quote that opens the value; inner quotes only group.
        assert_eq!(
            split_params(r#"k=a"b c"d e"#),
            vec![p("k", Some(r#"a"b c"d"#)), p("e", None)]
        );
    }

    #[test]
    fn unterminated_quote_runs_to_the_end_of_the_line() {
        assert_eq!(
            split_params(r#"wraith.run="a b c"#),
            vec![p("wraith.run", Some("a b c"))]
        );
    }

    #[test]
    fn empty_quoted_value_is_empty() {
        assert_eq!(split_params(r#"k="""#), vec![p("k", Some(""))]);
    }

    #[test]
    fn value_may_contain_equals_signs() {
        assert_eq!(
            split_params("wraith.run=action=clone"),
            vec![p("wraith.run", Some("action=clone"))]
        );
    }
}
