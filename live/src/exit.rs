//! Exit codes by which the `wraith` UI, or `wraith job` at its end, asks init for what comes
//! next. Any other code is the program's own (0 done, 1 mismatch, 2 error, 130 cancelled;
//! see the UI's documentation): init then applies `wraith.after=` / `wraith.onfail=` or
//! restarts the UI. Codes above 100 so they never collide with those or with a shell's
//! 126/127/128+N.

/// Power the machine off.
pub const POWEROFF: u8 = 100;
/// Reboot the machine.
pub const REBOOT: u8 = 101;
/// Start the rescue shell on the console.
pub const SHELL: u8 = 102;

/// What an exit code asks of init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Poweroff,
    Reboot,
    Shell,
}

impl Request {
    pub fn code(self) -> u8 {
        match self {
            Request::Poweroff => POWEROFF,
            Request::Reboot => REBOOT,
            Request::Shell => SHELL,
        }
    }

    /// The request an exit status carries, if any (it is an `i32` as `waitpid` gives it).
    pub fn from_code(code: i32) -> Option<Request> {
        [Request::Poweroff, Request::Reboot, Request::Shell]
            .into_iter()
            .find(|r| i32::from(r.code()) == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_survives_its_exit_code_and_other_codes_ask_nothing() {
        for r in [Request::Poweroff, Request::Reboot, Request::Shell] {
            assert_eq!(Request::from_code(i32::from(r.code())), Some(r));
        }
        assert_eq!((POWEROFF, REBOOT, SHELL), (100, 101, 102));
        for other in [0, 1, 2, 99, 103, 130, -1, 356] {
            assert_eq!(Request::from_code(other), None, "{other}");
        }
    }
}
