//! Which terminal the UI runs on, and the TERM it gets, from `wraith.console=` and the
//! kernel's `console=` parameters.

use super::ConsoleKind;

/// The terminal the UI runs on and the TERM it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    pub device: String,
    pub term: &'static str,
}

/// Picks the UI's terminal. A real device rather than /dev/console, because /dev/console
/// cannot be a controlling terminal on open, and job control (Ctrl-C in the UI or shell)
/// needs one. `wraith.console` overrides; otherwise the last `console=` (= /dev/console)
/// decides; with none, the kernel uses the first virtual terminal.
pub fn choose_terminal(wanted: Option<ConsoleKind>, kernel_consoles: &[String]) -> Terminal {
    let names: Vec<&str> = kernel_consoles
        .iter()
        .map(|c| c.split(',').next().unwrap_or(""))
        .collect();
    let vt = |name: &str| match name {
        "tty" | "tty0" => "/dev/tty1".to_string(),
        other => format!("/dev/{other}"),
    };
    let linux = |device: String| Terminal {
        device,
        term: "linux",
    };
    let serial = |device: String| Terminal {
        device,
        term: "vt100",
    };
    match wanted {
        Some(ConsoleKind::Serial) => serial(
            names
                .iter()
                .rev()
                .find(|n| console_class(n) == Class::Serial)
                .map_or("/dev/ttyS0".to_string(), |n| format!("/dev/{n}")),
        ),
        Some(ConsoleKind::Tty) => linux(
            names
                .iter()
                .rev()
                .find(|n| console_class(n) == Class::Vt)
                .map_or("/dev/tty1".to_string(), |n| vt(n)),
        ),
        None => match names.last() {
            None => linux("/dev/tty1".to_string()),
            Some(n) => match console_class(n) {
                Class::Vt => linux(vt(n)),
                Class::Serial => serial(format!("/dev/{n}")),
                // Unknown console drivers: let the kernel route /dev/console; vt100 is the
                // TERM that degrades most gracefully.
                Class::Other => serial("/dev/console".to_string()),
            },
        },
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Class {
    Vt,
    Serial,
    Other,
}

fn console_class(name: &str) -> Class {
    if let Some(rest) = name.strip_prefix("tty") {
        if rest.is_empty() || rest.bytes().all(|b| b.is_ascii_digit()) {
            return Class::Vt;
        }
        return Class::Serial;
    }
    if name.starts_with("hvc") {
        return Class::Serial;
    }
    Class::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consoles(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn term_is_vt100_on_a_serial_console_and_linux_on_a_vt() {
        let t = choose_terminal(None, &consoles(&["tty0", "ttyS0,115200n8"]));
        assert_eq!(
            t,
            Terminal {
                device: "/dev/ttyS0".into(),
                term: "vt100"
            }
        );
        let t = choose_terminal(None, &consoles(&["ttyS0,115200", "tty0"]));
        assert_eq!(
            t,
            Terminal {
                device: "/dev/tty1".into(),
                term: "linux"
            }
        );
        let t = choose_terminal(None, &consoles(&["tty2"]));
        assert_eq!(
            t,
            Terminal {
                device: "/dev/tty2".into(),
                term: "linux"
            }
        );
        let t = choose_terminal(None, &consoles(&["hvc0"]));
        assert_eq!(t.term, "vt100");
    }

    #[test]
    fn no_console_param_means_first_vt() {
        let t = choose_terminal(None, &[]);
        assert_eq!(
            t,
            Terminal {
                device: "/dev/tty1".into(),
                term: "linux"
            }
        );
    }

    #[test]
    fn wraith_console_overrides_the_kernel_choice() {
        let both = consoles(&["tty0", "ttyS1,9600"]);
        let t = choose_terminal(Some(ConsoleKind::Tty), &both);
        assert_eq!(
            t,
            Terminal {
                device: "/dev/tty1".into(),
                term: "linux"
            }
        );
        let t = choose_terminal(
            Some(ConsoleKind::Serial),
            &consoles(&["ttyS1,9600", "tty0"]),
        );
        assert_eq!(
            t,
            Terminal {
                device: "/dev/ttyS1".into(),
                term: "vt100"
            }
        );
        let t = choose_terminal(Some(ConsoleKind::Serial), &[]);
        assert_eq!(
            t,
            Terminal {
                device: "/dev/ttyS0".into(),
                term: "vt100"
            }
        );
    }

    #[test]
    fn unknown_console_driver_falls_back_to_dev_console() {
        let t = choose_terminal(None, &consoles(&["lp0"]));
        assert_eq!(
            t,
            Terminal {
                device: "/dev/console".into(),
                term: "vt100"
            }
        );
    }
}
