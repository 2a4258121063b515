//! The pictures of docs/GUIDE.md, drawn from the same fake machine and states as the snapshot
//! tests: the home screen, a restore plan, a running job and its summary. The test fails when
//! a picture differs from what the UI draws now, so the guide never shows an old screen;
//! `WRAITH_UPDATE_GUIDE=1 cargo test -p wraith guide` writes them again.

use super::super::svg::to_svg;
use super::fixtures::{app, screen};
use super::{clone_done_and_verified, restore_plan_app, running_app, saved_image};
use std::path::PathBuf;

#[test]
fn guide_pictures_are_the_screens_as_drawn_now() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/guide");
    let update = std::env::var_os("WRAITH_UPDATE_GUIDE").is_some_and(|v| v == "1");
    let pictures = [
        ("home", app().0),
        ("restore-plan", {
            let (image, m) = saved_image();
            restore_plan_app(&image, &m)
        }),
        // The running screen and the summary of a clone of sda onto sdb (40 GiB): a restore
        // looks the same, with its image in the title.
        ("running", running_app()),
        ("summary", clone_done_and_verified()),
    ];
    let mut stale = Vec::new();
    for (name, app) in pictures {
        let svg = to_svg(screen(&app).backend().buffer());
        let path = dir.join(format!("{name}.svg"));
        if update {
            std::fs::create_dir_all(&dir).expect("create docs/guide");
            std::fs::write(&path, &svg).expect("write a guide picture");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(svg.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "these pictures differ from the screens: {stale:?}; \
         run WRAITH_UPDATE_GUIDE=1 cargo test -p wraith guide to regenerate"
    );
}
