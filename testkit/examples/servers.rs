//! Starts the test servers on loopback over one directory, for benches and by hand:
//! `cargo run -p wraith-testkit --example servers -- DIR [nginx] [samba] [ganesha]`.
//! Prints one JSON line with their repository URLs (`{"http": .., "smb": .., "nfs": ..}`;
//! the SMB user is `tech`, password `wraith`), then serves until stdin closes.

use std::io::Read;
use wraith_testkit::servers::{Ganesha, Nginx, Samba};

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(
        args.next()
            .ok_or("usage: servers DIR [nginx|samba|ganesha]...")?,
    );
    let mut which: Vec<String> = args.collect();
    if which.is_empty() {
        which = vec!["nginx".into()];
    }
    std::fs::create_dir_all(&dir)?;
    let mut urls = serde_json::Map::new();
    let (mut nginx, mut samba, mut ganesha) = (None, None, None);
    for w in &which {
        match w.as_str() {
            "nginx" => {
                let n = Nginx::start(&dir, "wraith")?;
                urls.insert("http".into(), n.url("dav", "repo").into());
                nginx = Some(n);
            }
            "samba" => {
                let s = Samba::start(&dir, "tech", "wraith")?;
                urls.insert(
                    "smb".into(),
                    format!("smb://tech@127.0.0.1:{}/{}/repo", s.port(), Samba::SHARE).into(),
                );
                samba = Some(s);
            }
            "ganesha" => {
                let g = Ganesha::start(&dir)?;
                urls.insert(
                    "nfs".into(),
                    format!("nfs://127.0.0.1:{}{}/repo", g.port(), Ganesha::PSEUDO).into(),
                );
                ganesha = Some(g);
            }
            other => return Err(format!("unknown server {other}").into()),
        }
    }
    println!("{}", serde_json::Value::Object(urls));
    // Serve until whoever started us closes our stdin (or dies).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop((nginx, samba, ganesha));
    Ok(())
}
