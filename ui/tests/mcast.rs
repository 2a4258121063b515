//! `wraith restore mcast://SERVER:HTTPPORT/PATH/IMAGE DISK` end to end: the wraith binary joins
//! a multicast session on loopback (the engine's sender, as `wraith serve --multicast` will
//! run it) and fills in from nginx serving the repository; the target must equal a normal
//! restore and hold the same filesystems.
#![allow(clippy::panic)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use wraith_engine::events::{Cancel, Ctx};
use wraith_engine::mcast::{Sender, SenderConfig};
use wraith_engine::repo::Repository;
use wraith_testkit::servers::{free_port, Nginx};
use wraith_testkit::{DiskBuilder, FsType, Table, MIB};

#[test]
fn the_cli_restores_from_a_multicast_session() {
    let disk = DiskBuilder::new(64 * MIB, Table::Gpt)
        .seed(0x636c_6d63)
        .part(40 * MIB, FsType::Ext4, "root")
        .part(16 * MIB, FsType::Raw, "media")
        .build()
        .expect("fixture disk");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo_dir = dir.path().join("repo");
    let source = wraith_engine::device::Device::open_read(&disk.path).expect("open source");
    let p = wraith_engine::plan::plan(&source, source.identity.clone()).expect("plan");
    let repo = Repository::open_or_create(&repo_dir).expect("repository");
    let saved = wraith_engine::pipeline::save::save(
        &source,
        &p,
        &repo,
        &wraith_engine::pipeline::save::SaveOptions {
            name: "lab".into(),
            machine: None,
            all_sectors: false,
            zstd_level: None,
        },
        &Ctx::quiet(),
    )
    .expect("save");
    let nginx = Nginx::start(&repo_dir, "pw").expect("nginx starts");
    let port = loop {
        let p = free_port().expect("port");
        if p < u16::MAX && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    let sender = Sender::new(
        Arc::new(Repository::open(&repo_dir).expect("open")),
        &saved.image,
        SenderConfig {
            clients: 1,
            wait: Duration::from_secs(60),
            rate_mbps: 200,
            group: std::net::Ipv4Addr::new(239, 255, 77, (port % 250) as u8 + 1),
            port,
            ttl: 0,
            interface: std::net::Ipv4Addr::LOCALHOST,
            ..Default::default()
        },
    )
    .expect("sender");
    let target = dir.path().join("target.img");
    let url = format!(
        "mcast://127.0.0.1:{}/static/lab@{}",
        nginx.daemon.port, saved.image.id
    );
    let (out, report) = std::thread::scope(|s| {
        let run = s.spawn(|| sender.run(&Cancel::new(), &mut |_| {}));
        let out = Command::new(env!("CARGO_BIN_EXE_wraith"))
            .args(["restore", &url])
            .arg(&target)
            .args([
                "--yes",
                "--port",
                &port.to_string(),
                "--interface",
                "127.0.0.1",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("running wraith");
        (out, run.join().expect("sender thread"))
    });
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "wraith restore {url} failed:\n{text}");
    let report = report.expect("the session ran");
    // The stream carried the image: the summary says so, and the receiver reported it.
    assert!(
        text.contains("multicast: "),
        "no multicast summary:\n{text}"
    );
    let client = report.clients.first().expect("the receiver joined");
    assert!(
        client.chunks_multicast > 0 && client.chunks_multicast >= client.chunks_http,
        "{client:?}\n{text}"
    );
    assert_eq!(client.state, "done");
    wraith_testkit::assert_same_filesystems(&disk, &target);
    // Byte for byte what a normal restore gives.
    let reference = dir.path().join("reference.img");
    let plan = wraith_engine::ops::prepare_restore(&wraith_engine::ops::RestoreChoice {
        repository: Arc::new(Repository::open(&repo_dir).expect("open")),
        image: saved.image,
        target: reference.clone(),
        verify: false,
        layout: Default::default(),
        accept_failing_target: false,
        naming: None,
    })
    .expect("plan");
    wraith_engine::ops::run(plan, &Ctx::quiet()).expect("reference restore");
    assert!(
        std::fs::read(&target).expect("target") == std::fs::read(&reference).expect("reference"),
        "the multicast target differs from a normal restore"
    );
}
