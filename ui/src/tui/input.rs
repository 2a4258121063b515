//! Keys from the terminal, on their own thread, into the loop as `Msg::Key`.
//!
//! On a serial line the bytes of an arrow key (ESC [ B) arrive one by one; when crossterm's
//! read sees the ESC alone it reports the Esc key and then '[' and 'B' as typed characters.
//! Esc means "back" or "cancel the job?" here, so a misread arrow is not harmless. This joins
//! such a split sequence again: after an Esc, characters that follow within a moment and form
//! a known sequence become that one key.

use super::app::Msg;
use crossterm::event::{self, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::sync::mpsc::Sender;
use std::time::Duration;

/// How long after an ESC the rest of a sequence may take: at 9600 baud a byte takes about a
/// millisecond, and a person does not type Esc and then '[' this fast.
const REST_OF_SEQUENCE: Duration = Duration::from_millis(60);

#[derive(Debug, PartialEq)]
pub enum Joined {
    /// The keys formed one key.
    Key(KeyEvent),
    /// Could still become one: wait for the next key.
    More,
    /// Not a sequence: the keys as they came.
    Keys(Vec<KeyEvent>),
}

/// Judges `seq`, which starts with Esc.
pub fn join(seq: &[KeyEvent]) -> Joined {
    let mut text = String::new();
    for k in &seq[1..] {
        match k.code {
            KeyCode::Char(c) if k.modifiers - KeyModifiers::SHIFT == KeyModifiers::NONE => {
                text.push(c)
            }
            _ => return Joined::Keys(seq.to_vec()),
        }
    }
    let code = match text.as_str() {
        "" | "[" | "O" | "[2" | "[3" | "[5" | "[6" => return Joined::More,
        "[A" | "OA" => KeyCode::Up,
        "[B" | "OB" => KeyCode::Down,
        "[C" | "OC" => KeyCode::Right,
        "[D" | "OD" => KeyCode::Left,
        "[H" | "OH" => KeyCode::Home,
        "[F" | "OF" => KeyCode::End,
        "[3~" => KeyCode::Delete,
        "[5~" => KeyCode::PageUp,
        "[6~" => KeyCode::PageDown,
        _ => return Joined::Keys(seq.to_vec()),
    };
    Joined::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn next_key() -> Option<KeyEvent> {
    loop {
        match event::read() {
            Ok(event::Event::Key(k)) if k.kind == KeyEventKind::Press => return Some(k),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// Reads keys until the terminal or the loop goes away.
pub fn spawn(tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let send = |k: KeyEvent| tx.send(Msg::Key(k)).is_ok();
        while let Some(k) = next_key() {
            if k.code != KeyCode::Esc || k.modifiers != KeyModifiers::NONE {
                if !send(k) {
                    return;
                }
                continue;
            }
            let mut seq = vec![k];
            let keys = loop {
                match join(&seq) {
                    Joined::Key(j) => break vec![j],
                    Joined::Keys(v) => break v,
                    Joined::More => {
                        if !event::poll(REST_OF_SEQUENCE).unwrap_or(false) {
                            break seq;
                        }
                        match next_key() {
                            Some(n) => seq.push(n),
                            None => break seq,
                        }
                    }
                }
            };
            if !keys.into_iter().all(send) {
                return;
            }
        }
    });
}

/// Ctrl and `c` together (Ctrl-C, Ctrl-L).
pub fn is_ctrl(k: &KeyEvent, c: char) -> bool {
    k.code == KeyCode::Char(c) && k.modifiers.contains(KeyModifiers::CONTROL)
}
