//! Network shares: remembered on the stick once opened (with the password only after a
//! warning), a kept password skipping the prompt, and errors that say what to do next (a
//! refused password offers `p` to retype it; an unreachable server the network screen).

use super::super::advice::{next_step, NextKey};
use super::super::app::{App, ChosenRepo, Msg, Popup, Screen};
use super::super::menu::Action;
use super::super::repo::ImageList;
use super::super::repos::StickDir;
use super::super::strings as s;
use super::fixtures::*;
use crossterm::event::KeyCode;
use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc;
use wraith_engine::ops::known;
use wraith_engine::repo::{Credentials, Password};
use wraith_engine::{Error, Interlock, NetCause};

macro_rules! snap {
    ($name:expr, $app:expr) => {
        insta::assert_snapshot!($name, screen(&$app).backend())
    };
}

const SHARE: &str = "smb://tech@nas.example/images/lab";

/// The image list of a share just opened with a typed password, on a machine whose stick
/// keeps a list in `stick`.
fn opened_share(stick: &std::path::Path) -> (App, mpsc::Receiver<Msg>) {
    let (mut a, rx) = app();
    a.stick = Some(StickDir::at(stick.to_path_buf(), true, true));
    a.flow.action = Some(Action::Restore);
    a.flow.repo = Some(ChosenRepo {
        at: SHARE.into(),
        open: None,
        mount: None,
    });
    a.flow.creds = Credentials::new(None, Some(Password::new("Sup3r-s3cret")));
    a.screen = Screen::Images(ImageList {
        location: "smb://tech@nas.example/images/lab".into(),
        rows: Vec::new(),
        sel: 0,
        why: None,
    });
    (a, rx)
}

/// Asked once; `p` warns where the password goes (a FAT stick: anyone holding it can read
/// it); `y` then keeps the share in the list and the password apart, owner-only.
#[test]
fn a_share_is_remembered_with_its_password_only_after_a_warning() {
    let stick = tempfile::tempdir().expect("tempdir");
    let (mut a, rx) = opened_share(stick.path());
    a.offer_remember();
    assert!(matches!(a.popup, Some(Popup::Remember(_))));
    snap!("remember_ask", a);
    key(&mut a, KeyCode::Char('p'));
    let text = format!("{:?}", screen(&a).backend());
    assert!(!text.contains("Sup3r"), "{text}");
    snap!("remember_password_warning", a);
    key(&mut a, KeyCode::Char('y'));
    assert!(a.popup.is_none());
    wait_note(&mut a, &rx);
    assert_eq!(
        a.note.as_deref(),
        Some("Remembered smb://tech@nas.example/images/lab with its password")
    );
    let list = std::fs::read_to_string(stick.path().join(known::LIST_FILE)).expect("list");
    assert!(list.contains(SHARE) && !list.contains("Sup3r"), "{list}");
    let pw = stick.path().join(known::PASSWORDS_FILE);
    let mode = std::fs::metadata(&pw).expect("kept").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (k, _) = known::all("", Some(stick.path()));
    assert_eq!(
        k[0].password.as_ref().map(|p| p.expose()),
        Some("Sup3r-s3cret")
    );

    // Once per share: not asked again.
    a.note = None;
    a.offer_remember();
    assert!(a.popup.is_none());
}

/// `y` keeps the share without its password; `n` (or Esc) keeps nothing; a share that came
/// from the list is not offered; where no list can be kept nothing is asked.
#[test]
fn remembering_without_the_password_or_not_at_all() {
    let stick = tempfile::tempdir().expect("tempdir");
    let (mut a, rx) = opened_share(stick.path());
    a.offer_remember();
    key(&mut a, KeyCode::Char('y'));
    wait_note(&mut a, &rx);
    assert!(!stick.path().join(known::PASSWORDS_FILE).exists());
    assert!(std::fs::read_to_string(stick.path().join(known::LIST_FILE))
        .expect("list")
        .contains(SHARE));

    let other = tempfile::tempdir().expect("tempdir");
    let (mut a, _rx) = opened_share(other.path());
    a.offer_remember();
    key(&mut a, KeyCode::Char('p'));
    key(&mut a, KeyCode::Char('n'));
    assert!(a.popup.is_none());
    assert!(!other.path().join(known::LIST_FILE).exists());

    let (mut a, _rx) = opened_share(other.path());
    a.flow.from_known = true;
    a.offer_remember();
    assert!(a.popup.is_none(), "a known share offered again");
    let (mut a, _rx) = opened_share(other.path());
    a.stick = None;
    a.offer_remember();
    assert!(a.popup.is_none(), "offered with nowhere to keep it");
    let (mut a, _rx) = opened_share(other.path());
    a.flow.repo = Some(ChosenRepo {
        at: "/mnt/usb/images".into(),
        open: None,
        mount: None,
    });
    a.offer_remember();
    assert!(a.popup.is_none(), "a directory is not a share");
}

/// The next step comes from the kind of the engine's error, never from its words.
#[test]
fn each_kind_of_error_has_its_next_step() {
    let denied = Error::network_because(NetCause::Denied, "smb://tech@nas/images", "refused");
    let (line, key) = next_step(&denied, Some("smb://tech@nas/images"));
    assert_eq!(
        line,
        "The share refused the password for user tech: check it or press p to retype"
    );
    assert_eq!(
        key,
        Some(NextKey::Password {
            at: "smb://tech@nas/images".into()
        })
    );
    let (line, key) = next_step(&denied, Some("smb://nas/images"));
    assert!(line.contains("press t and write the user"), "{line}");
    assert!(matches!(key, Some(NextKey::Type { .. })));
    let gone = Error::network_because(NetCause::Unreachable, "smb://nas/images", "no route");
    let (line, key) = next_step(&gone, Some("smb://nas/images"));
    assert!(line.contains("press n for the network screen"), "{line}");
    assert!(matches!(key, Some(NextKey::Network { .. })));
    let missing = Error::NotFound {
        what: "/mnt/x".into(),
    };
    assert!(matches!(
        next_step(&missing, Some("/mnt/x")),
        (_, Some(NextKey::Type { .. }))
    ));
    let refused = Error::refused(Interlock::RepositoryOnSource, "on the source");
    assert!(next_step(&refused, None).0.contains("another drive"));
    let corrupt = Error::corrupt("pack", 7, "hash");
    assert_eq!(next_step(&corrupt, None).1, None);
}

/// A WebDAV share behind a login (nginx on loopback), remembered with its password on the
/// stick: chosen from the list it opens without the prompt. When the kept password is wrong
/// (changed on the server), the popup says so with the user's name, and `p` retypes it.
#[test]
fn a_kept_password_skips_the_prompt_and_a_refused_one_offers_to_retype_it() {
    const PASSWORD: &str = "lab-pa55";
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("lab")).expect("mkdir");
    wraith_engine::repo::Repository::open_or_create(&root.path().join("lab")).expect("repo");
    let nginx = wraith_testkit::servers::Nginx::start(root.path(), PASSWORD).expect("nginx");
    let url = nginx.url("auth", "lab").replacen(
        "http://",
        &format!("http://{}@", wraith_testkit::servers::Nginx::USER),
        1,
    );
    let stick = tempfile::tempdir().expect("tempdir");
    known::remember(stick.path(), &url, Some(&Password::new(PASSWORD))).expect("remember");
    // The remembered share is the first entry.
    let (a, _rx) = restore_first_found(finder(Vec::new(), "", Some(stick.path().to_path_buf())));
    assert!(!matches!(a.screen, Screen::Password(_)), "asked again");
    super::no_popup(&a);
    assert!(matches!(a.screen, Screen::Images(_)));
    assert!(
        a.popup.is_none(),
        "a known share was offered to be remembered"
    );

    // The server's password changed: the kept one is refused.
    known::remember(stick.path(), &url, Some(&Password::new("old-one"))).expect("remember");
    let (mut a, rx) = restore_first_found(finder(Vec::new(), "", Some(stick.path().to_path_buf())));
    let Some(Popup::Error(e)) = &a.popup else {
        panic!("no error popup")
    };
    assert_eq!(
        e.next,
        format!(
            "The share refused the password for user {}: check it or press p to retype",
            wraith_testkit::servers::Nginx::USER
        )
    );
    assert!(e.message.contains("HTTP 401"), "{e}");
    // The port is whatever the kernel gave: a fixed one in the snapshot.
    if let Some(Popup::Error(e)) = &mut a.popup {
        let port = format!(":{}", nginx.daemon.port);
        e.failed = e.failed.replace(&port, ":8080");
        e.message = e.message.replace(&port, ":8080");
    }
    snap!("error_password_refused", a);
    key(&mut a, KeyCode::Char('p'));
    let Screen::Password(p) = &a.screen else {
        panic!("p did not go back to the password prompt")
    };
    assert_eq!(p.at, url);
    assert!(a.flow.creds.password.is_none(), "the refused password kept");
    typed(&mut a, PASSWORD);
    key(&mut a, KeyCode::Enter);
    pump(&mut a, &rx);
    super::no_popup(&a);
    assert!(matches!(a.screen, Screen::Images(_)));
}

/// A server that cannot be reached: the popup says to check the cable and the address, and
/// `n` opens the network screen (and Esc there comes back to the location).
#[test]
fn an_unreachable_server_offers_the_network_screen() {
    let (mut a, _rx) = app();
    a.flow.action = Some(Action::Restore);
    a.flow.typed = true;
    a.screen = Screen::RepoPath(super::super::confirm::TextInput::new(
        "smb://tech@10.9.9.9/images",
    ));
    a.open_failed(
        "smb://tech@10.9.9.9/images",
        Error::network_because(
            NetCause::Unreachable,
            "smb://tech@10.9.9.9/images",
            "host unreachable: check the network connection and the server's address",
        ),
    );
    snap!("error_unreachable", a);
    assert!(format!("{:?}", screen(&a).backend()).contains(s::ERROR_NEXT_KEYS_NETWORK));
    key(&mut a, KeyCode::Char('n'));
    assert!(matches!(a.screen, Screen::Network(_)));
    key(&mut a, KeyCode::Esc);
    let Screen::RepoPath(i) = &a.screen else {
        panic!("expected the repository field")
    };
    assert_eq!(i.value, "smb://tech@10.9.9.9/images");
}
