//! The JSON layout of the files init writes for people and programs alike (`net.json`, the
//! `--dry-run-cmdline` output): one top-level key per line, everything below it on that line
//! with `", "` and `": "` between items, so `cat` on a serial console reads well and a test
//! (or `grep`) can match one whole interface or request object as a substring.

use serde::Serialize;
use serde_json::ser::Formatter;
use std::io;

/// `value` as a JSON document in the layout above. serde_json's error on a value that is no
/// JSON (a map with non-string keys) comes back as the error.
pub fn document<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    write(value, true)
}

/// `value` on one line in the same spacing.
pub fn inline<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    write(value, false)
}

fn write<T: Serialize + ?Sized>(value: &T, lines: bool) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Spaced { depth: 0, lines });
    value.serialize(&mut ser)?;
    // serde_json writes only valid UTF-8.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

struct Spaced {
    depth: usize,
    /// Top-level keys on lines of their own.
    lines: bool,
}

impl Formatter for Spaced {
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        if self.lines && self.depth == 0 {
            w.write_all(b"\n}")
        } else {
            w.write_all(b"}")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        match (self.lines && self.depth == 1, first) {
            (true, true) => w.write_all(b"\n  "),
            (true, false) => w.write_all(b",\n  "),
            (false, true) => Ok(()),
            (false, false) => w.write_all(b", "),
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Doc {
        a: u32,
        list: Vec<(String, Option<String>)>,
        inner: Inner,
    }

    #[derive(Serialize)]
    struct Inner {
        x: bool,
        s: &'static str,
    }

    #[test]
    fn top_level_keys_take_a_line_each_and_the_rest_stays_on_it() {
        let d = Doc {
            a: 1,
            list: vec![("k\"".into(), None), ("v".into(), Some("w".into()))],
            inner: Inner { x: true, s: "é\n" },
        };
        let text = document(&d).unwrap();
        assert_eq!(
            text,
            "{\n  \"a\": 1,\n  \"list\": [[\"k\\\"\", null], [\"v\", \"w\"]],\n  \
             \"inner\": {\"x\": true, \"s\": \"é\\n\"}\n}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["inner"]["s"], "é\n");
        assert_eq!(inline(&d.inner).unwrap(), "{\"x\": true, \"s\": \"é\\n\"}");
        assert_eq!(document(&Vec::<u8>::new()).unwrap(), "[]");
    }
}
