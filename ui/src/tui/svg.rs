//! A drawn screen as an SVG picture: the pictures of docs/GUIDE.md are made from the same
//! TestBackend buffers the snapshot tests check (tests/guide.rs), so they show what the UI
//! really draws.
//!
//! What a cell shows is kept: its text, its colours in the Linux console's palette (the UI is
//! made for it, theme.rs), bold, and reversed video (fg and bg swapped). Bold text is also
//! bright, as the console shows it (it has no bold font: bold red is light red). Other
//! modifiers are not used by the theme and are left out. Cells sit on a fixed grid; runs of cells with the
//! same look become one `<text>` (or one `<rect>` for a background), whose `textLength` pins
//! its width to the grid whatever monospace font the viewer has. No font is embedded.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use std::fmt::Write;

/// Cell width and height in SVG pixels, and the font size: a 15 px monospace glyph is about
/// 9 px wide; 17 px rows let box-drawing lines join.
const W: u32 = 9;
const H: u32 = 17;
const FONT_PX: u32 = 15;
/// The baseline within a row.
const BASELINE: u32 = 13;

/// The console's colours where the buffer says "default".
const DEFAULT_FG: &str = "#aaaaaa";
const DEFAULT_BG: &str = "#000000";

/// The Linux console's (VGA) palette for the 16 named colours, xterm's for the rest.
fn rgb(c: Color, default: &'static str) -> String {
    let named = match c {
        Color::Reset => default,
        Color::Black => "#000000",
        Color::Red => "#aa0000",
        Color::Green => "#00aa00",
        Color::Yellow => "#aa5500",
        Color::Blue => "#0000aa",
        Color::Magenta => "#aa00aa",
        Color::Cyan => "#00aaaa",
        Color::Gray => "#aaaaaa",
        Color::DarkGray => "#555555",
        Color::LightRed => "#ff5555",
        Color::LightGreen => "#55ff55",
        Color::LightYellow => "#ffff55",
        Color::LightBlue => "#5555ff",
        Color::LightMagenta => "#ff55ff",
        Color::LightCyan => "#55ffff",
        Color::White => "#ffffff",
        Color::Rgb(r, g, b) => return format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) => return indexed(i),
    };
    named.to_string()
}

/// xterm's 256 colours: the 16 named ones, a 6x6x6 cube, then 24 greys.
fn indexed(i: u8) -> String {
    const NAMED: [Color; 16] = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    match i {
        0..=15 => rgb(NAMED[i as usize], DEFAULT_FG),
        16..=231 => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let v = i - 16;
            let (r, g, b) = (level(v / 36), level(v / 6 % 6), level(v % 6));
            format!("#{r:02x}{g:02x}{b:02x}")
        }
        232..=255 => {
            let l = 8 + 10 * (i - 232);
            format!("#{l:02x}{l:02x}{l:02x}")
        }
    }
}

/// How a cell looks once reversed video is applied.
#[derive(Clone, PartialEq)]
struct Look {
    fg: String,
    bg: String,
    bold: bool,
}

/// The bright colour the console shows for bold text in `c`.
fn bright(c: Color) -> Color {
    match c {
        Color::Reset | Color::Gray => Color::White,
        Color::Black => Color::DarkGray,
        Color::Red => Color::LightRed,
        Color::Green => Color::LightGreen,
        Color::Yellow => Color::LightYellow,
        Color::Blue => Color::LightBlue,
        Color::Magenta => Color::LightMagenta,
        Color::Cyan => Color::LightCyan,
        c => c,
    }
}

fn look(cell: &ratatui::buffer::Cell) -> Look {
    let bold = cell.modifier.contains(Modifier::BOLD);
    let fg = if bold { bright(cell.fg) } else { cell.fg };
    let (mut fg, mut bg) = (rgb(fg, DEFAULT_FG), rgb(cell.bg, DEFAULT_BG));
    if cell.modifier.contains(Modifier::REVERSED) {
        std::mem::swap(&mut fg, &mut bg);
    }
    Look { fg, bg, bold }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The picture of `buf`: one `<rect>` per run of a non-black background, one `<text>` per run
/// of same-looking text in a row (single blanks between words included).
pub fn to_svg(buf: &Buffer) -> String {
    let area = buf.area;
    let (width, height) = (u32::from(area.width) * W, u32::from(area.height) * H);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, \
         Liberation Mono, monospace\" font-size=\"{FONT_PX}\" xml:space=\"preserve\">\n\
         <rect width=\"{width}\" height=\"{height}\" fill=\"{DEFAULT_BG}\"/>\n"
    );
    for y in area.top()..area.bottom() {
        let cells: Vec<(u32, &str, Look)> = (area.left()..area.right())
            .filter_map(|x| {
                let c = buf.cell((x, y))?;
                (!c.skip && !c.symbol().is_empty())
                    .then(|| (u32::from(x - area.left()), c.symbol(), look(c)))
            })
            .collect();
        let top = u32::from(y - area.top()) * H;
        // Backgrounds first, so text is drawn over them.
        let mut i = 0;
        while i < cells.len() {
            let bg = &cells[i].2.bg;
            let j = i + cells[i..].iter().take_while(|c| &c.2.bg == bg).count();
            if bg != DEFAULT_BG {
                let (x, w) = (cells[i].0 * W, (cells[j - 1].0 + 1 - cells[i].0) * W);
                let _ = writeln!(
                    out,
                    "<rect x=\"{x}\" y=\"{top}\" width=\"{w}\" height=\"{H}\" fill=\"{bg}\"/>"
                );
            }
            i = j;
        }
        let mut i = 0;
        while i < cells.len() {
            if cells[i].1 == " " {
                i += 1;
                continue;
            }
            let first = &cells[i].2;
            // A single blank joins the run (between words); two or more end it, so columns
            // and borders start on the grid even where a viewer ignores textLength.
            let blank = |k: usize| cells.get(k).is_none_or(|c| c.1 == " ");
            let joins = |k: usize| match blank(k) {
                true => !blank(k + 1),
                false => cells[k].2.fg == first.fg && cells[k].2.bold == first.bold,
            };
            let mut j = i;
            while j < cells.len() && joins(j) {
                j += 1;
            }
            while blank(j - 1) {
                j -= 1;
            }
            let text: String = cells[i..j].iter().map(|c| c.1).collect();
            let (x, w) = (cells[i].0 * W, (cells[j - 1].0 + 1 - cells[i].0) * W);
            let bold = if first.bold {
                " font-weight=\"bold\""
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<text x=\"{x}\" y=\"{}\" textLength=\"{w}\" fill=\"{}\"{bold}>{}</text>",
                top + BASELINE,
                first.fg,
                escape(&text)
            );
            i = j;
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    fn buffer(lines: &[&str]) -> Buffer {
        Buffer::with_lines(lines.iter().copied())
    }

    fn count(svg: &str, what: &str) -> usize {
        svg.matches(what).count()
    }

    #[test]
    fn markup_characters_are_escaped() {
        let svg = to_svg(&buffer(&["a<b & c>d"]));
        assert!(svg.contains(">a&lt;b &amp; c&gt;d</text>"), "{svg}");
        assert_eq!(count(&svg, "<text"), 1, "{svg}");
    }

    #[test]
    fn the_picture_is_the_grid_of_cells() {
        let svg = to_svg(&Buffer::empty(Rect::new(0, 0, 80, 25)));
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.contains("width=\"720\" height=\"425\""), "{svg}");
        // A blank screen is its background only.
        assert_eq!(count(&svg, "<text"), 0, "{svg}");
        assert_eq!(count(&svg, "<rect"), 1, "{svg}");
    }

    #[test]
    fn runs_of_one_look_are_one_text_up_to_a_gap() {
        let mut b = buffer(&["ab cd e  f      "]);
        b.set_style(Rect::new(0, 0, 2, 1), Style::default().fg(Color::Cyan));
        let svg = to_svg(&b);
        // "ab" is cyan; "cd e" grey with its blank; "f" after a gap starts on its own cell.
        assert_eq!(count(&svg, "<text"), 3, "{svg}");
        assert!(
            svg.contains("<text x=\"0\" y=\"13\" textLength=\"18\" fill=\"#00aaaa\">ab</text>"),
            "{svg}"
        );
        assert!(
            svg.contains("<text x=\"27\" y=\"13\" textLength=\"36\" fill=\"#aaaaaa\">cd e</text>"),
            "{svg}"
        );
        assert!(
            svg.contains("<text x=\"81\" y=\"13\" textLength=\"9\" fill=\"#aaaaaa\">f</text>"),
            "{svg}"
        );
    }

    #[test]
    fn colours_bold_and_reversed_video() {
        let mut b = buffer(&["warn", "sel ", "key "]);
        b.set_style(
            Rect::new(0, 0, 4, 1),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        );
        b.set_style(
            Rect::new(0, 1, 4, 1),
            Style::default().add_modifier(Modifier::REVERSED),
        );
        b.set_style(
            Rect::new(0, 2, 3, 1),
            Style::default().fg(Color::Black).bg(Color::Cyan),
        );
        let svg = to_svg(&b);
        // Bold red is light red, as on the console.
        assert!(
            svg.contains("fill=\"#ff5555\" font-weight=\"bold\">warn</text>"),
            "{svg}"
        );
        // Reversed: the default black becomes the text colour over a grey bar.
        assert!(
            svg.contains("<rect x=\"0\" y=\"17\" width=\"36\" height=\"17\" fill=\"#aaaaaa\"/>"),
            "{svg}"
        );
        assert!(svg.contains("fill=\"#000000\">sel</text>"), "{svg}");
        assert!(
            svg.contains("<rect x=\"0\" y=\"34\" width=\"27\" height=\"17\" fill=\"#00aaaa\"/>"),
            "{svg}"
        );
        assert_eq!(count(&svg, "<rect"), 3, "{svg}");
    }

    #[test]
    fn other_palettes() {
        assert_eq!(rgb(Color::Rgb(1, 2, 255), DEFAULT_FG), "#0102ff");
        assert_eq!(indexed(1), "#aa0000");
        assert_eq!(indexed(196), "#ff0000");
        assert_eq!(indexed(232), "#080808");
        assert_eq!(rgb(Color::Reset, DEFAULT_BG), "#000000");
    }
}
