//! The test servers start, serve on their ports and answer real clients.

use std::process::Command;
use wraith_testkit::servers::{Ganesha, Nginx, Samba};

#[test]
fn nginx_serves_webdav_static_and_auth() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), b"hi\n").unwrap();
    let n = Nginx::start(root.path(), "pw").unwrap();
    let get = |url: &str, extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(extra)
            .arg(url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(get(&n.url("static", "hello.txt"), &[]), "200");
    assert_eq!(get(&n.url("auth", "hello.txt"), &[]), "401");
    assert_eq!(
        get(&n.url("auth", "hello.txt"), &["-u", "wraith:pw"]),
        "200"
    );
    assert_eq!(
        get(&n.url("dav", "new.txt"), &["-X", "PUT", "-d", "x"]),
        "201"
    );
    assert_eq!(
        get(&n.url("static", "new2.txt"), &["-X", "PUT", "-d", "x"]),
        "405"
    );
    assert_eq!(get(&n.url("noindex", ""), &[]), "403");
    assert_eq!(std::fs::read(root.path().join("new.txt")).unwrap(), b"x");
}

#[test]
fn samba_serves_its_share_to_its_user_only() {
    let share = tempfile::tempdir().unwrap();
    std::fs::write(share.path().join("seen.txt"), b"hi\n").unwrap();
    let s = Samba::start(share.path(), "tech", "s3cret").unwrap();
    let ls = |cred: &str| {
        Command::new("smbclient")
            .args([
                "-p",
                &s.port().to_string(),
                "//127.0.0.1/images",
                "-U",
                cred,
                "-c",
                "ls",
            ])
            .output()
            .unwrap()
    };
    let ok = ls("tech%s3cret");
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("seen.txt"),
        "{ok:?}\n{}",
        s.daemon.log_tail()
    );
    let bad = ls("tech%wrong");
    assert!(!bad.status.success());
}

#[test]
fn ganesha_accepts_nfs_connections() {
    let export = tempfile::tempdir().unwrap();
    let g = Ganesha::start(export.path()).unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", g.port())).is_ok());
}
