//! `?` on every screen lists its keys; any key closes the list and does nothing else. In a
//! text field `?` is typed (a path may hold one) and F1 opens the help.

use super::super::app::{Popup, Screen};
use super::super::plan::PlanScreen;
use super::super::strings as s;
use super::fixtures::*;
use crossterm::event::KeyCode;

macro_rules! snap {
    ($name:expr, $app:expr) => {
        insta::assert_snapshot!($name, screen(&$app).backend())
    };
}

#[test]
fn question_mark_shows_the_home_screens_keys_and_any_key_closes_them() {
    let (mut a, _rx) = app();
    assert!(s::HOME_KEYS.contains("? help"));
    key(&mut a, KeyCode::Char('?'));
    let h = a.help.expect("the help");
    assert_eq!(h.keys, s::HELP_HOME);
    snap!("help_home", a);
    // The closing key is not also a command: q closes the help, it does not quit.
    key(&mut a, KeyCode::Char('q'));
    assert!(a.help.is_none());
    assert!(a.exit.is_none());
    assert!(matches!(a.screen, Screen::Home));
}

#[test]
fn question_mark_on_the_repository_list() {
    let (mut a, rx) = app();
    key(&mut a, KeyCode::Char('r'));
    looked(&mut a, &rx);
    key(&mut a, KeyCode::Char('?'));
    snap!("help_repos", a);
    key(&mut a, KeyCode::Esc);
    assert!(
        matches!(a.screen, Screen::Repos(_)),
        "Esc went past the help"
    );
}

/// Every screen and popup has its keys listed, and its key line says how to see them.
#[test]
fn every_screen_has_its_help() {
    let (mut a, rx) = app();
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.popup, Some(Popup::Menu(_))));
    key(&mut a, KeyCode::Char('?'));
    assert_eq!(a.help.map(|h| h.keys), Some(s::HELP_MENU));
    key(&mut a, KeyCode::Char('x'));
    // The menu is still there under it.
    assert!(matches!(a.popup, Some(Popup::Menu(_))));
    key(&mut a, KeyCode::Esc);
    key(&mut a, KeyCode::Char('r'));
    looked(&mut a, &rx);
    for line in [
        s::HOME_KEYS,
        s::MENU_KEYS,
        s::PICK_KEYS,
        s::REPOS_KEYS,
        s::REPOS_KNOWN_KEYS,
        s::BROWSE_KEYS,
        s::DETAILS_KEYS,
        s::READING_KEYS,
        s::RUN_KEYS,
        s::SUMMARY_KEYS,
        s::SUMMARY_SAVE_KEYS,
        s::SAVE_LOG_KEYS,
        s::NET_KEYS,
        s::WAITNET_KEYS,
        s::OPENING_KEYS,
        s::PREPARING_KEYS,
        s::START_KEYS,
        s::START_VERIFY_KEYS,
        s::START_LAYOUT_KEYS,
    ] {
        assert!(line.contains("? help"), "{line}");
        assert!(line.len() <= 78, "{line}: does not fit 80 columns");
    }
    for line in [
        s::INPUT_KEYS,
        s::PASSWORD_KEYS,
        s::CONFIRM_KEYS,
        s::CONFIRM_VERIFY_KEYS,
        s::CONFIRM_LAYOUT_KEYS,
        s::NET_FORM_KEYS,
    ] {
        assert!(line.contains("F1 help"), "{line}");
        assert!(line.len() <= 78, "{line}: does not fit 80 columns");
    }
    for line in [s::REPO_HINT, s::REPO_HINT_SHARE, s::REPOS_NONE_NEXT] {
        assert!(line.len() <= 78, "{line}: does not fit 80 columns");
    }
    // Each help line fits the popup.
    for keys in [
        s::HELP_HOME,
        s::HELP_MENU,
        s::HELP_PICK,
        s::HELP_REPOS,
        s::HELP_TYPE,
        s::HELP_PASSWORD,
        s::HELP_WAITNET,
        s::HELP_NET,
        s::HELP_NET_FORM,
        s::HELP_IMAGES,
        s::HELP_DETAILS,
        s::HELP_READING,
        s::HELP_PLAN,
        s::HELP_START,
        s::HELP_RUN,
        s::HELP_SUMMARY,
        s::HELP_SAVE_LOG,
        s::HELP_WAITING,
        s::HELP_REMEMBER,
    ] {
        for (k, what) in keys {
            assert!(k.len() <= 19 && what.len() <= 53, "{k}: {what}");
        }
    }
}

/// In the repository field `?` is part of what is typed; F1 shows the help.
#[test]
fn in_a_text_field_question_mark_is_typed_and_f1_helps() {
    let (mut a, _rx) = app();
    key(&mut a, KeyCode::Char('r'));
    key(&mut a, KeyCode::Char('t'));
    typed(&mut a, "/mnt/what?");
    let Screen::RepoPath(i) = &a.screen else {
        panic!("expected the repository field")
    };
    assert_eq!(i.value, "/mnt/what?");
    assert!(a.help.is_none());
    key(&mut a, KeyCode::F(1));
    let h = a.help.expect("F1 opens the help");
    assert!(h.typing);
    assert_eq!(h.keys, s::HELP_TYPE);
    assert!(format!("{:?}", screen(&a).backend()).contains("? is typed: F1 shows this help"));
    key(&mut a, KeyCode::Char('x'));
    let Screen::RepoPath(i) = &a.screen else {
        panic!("expected the repository field")
    };
    assert_eq!(i.value, "/mnt/what?", "the closing key was typed");

    // The same on a plan that asks for the target's name.
    a.screen = Screen::Plan(PlanScreen::new(Vec::new(), Some("sdb".into()), Some(true)));
    key(&mut a, KeyCode::Char('?'));
    assert!(a.help.is_none());
    let Screen::Plan(p) = &a.screen else {
        panic!("expected the plan")
    };
    assert_eq!(p.input.value, "?");
    // A plan with nothing to type (a save) takes `?` as help.
    a.screen = Screen::Plan(PlanScreen::new(Vec::new(), None, Some(true)));
    key(&mut a, KeyCode::Char('?'));
    assert_eq!(a.help.map(|h| h.keys), Some(s::HELP_START));
}
