//! `wraith serve REPO`: serves a repository, the network-boot files and per-machine jobs to a
//! room over HTTP (crate wraith-serve), with `--pxe` runs dnsmasq for DHCP/TFTP, with
//! `--wake` wakes the room's machines first, says which URLs to use, then shows the room's
//! machines as a live table (or JSON lines) until Ctrl-C or SIGTERM.
//!
//! Where things come from is decided here: the interface, the boot files (`--boot-dir`, the
//! live system's own medium, or `out/pxe` of the checkout the binary was built in) and the
//! jobs directory (`--jobs`, else `REPO/jobs` when it exists). Must not: write anything but
//! what wraith-serve writes (job results in `results/`), or leave dnsmasq running.

use super::Ctx;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wraith_engine::mcast::sender::{
    ClientInfo, Sender, SenderConfig, SenderProgress, SenderReport,
};
use wraith_serve::{boot, iface, jobs, pxe, room, wake, Room};

pub struct Args<'a> {
    pub repo: &'a Path,
    pub listen: Option<&'a str>,
    pub interface: Option<&'a str>,
    pub pxe: bool,
    pub dhcp_range: Option<&'a str>,
    pub boot_dir: Option<&'a Path>,
    pub jobs: Option<&'a Path>,
    pub wake: &'a [String],
    pub wake_from: Option<&'a Path>,
    pub rom_dir: Option<&'a Path>,
    pub wake_to: Option<Ipv4Addr>,
    pub kernel_args: Option<&'a str>,
    pub multicast: &'a crate::cli::ServeMulticastArgs,
}

/// The port a room's clients use when none is given: unprivileged, and what nginx-less
/// technicians expect of a small web server.
const DEFAULT_PORT: u16 = 8080;

pub fn run(ctx: &Ctx, a: &Args) -> Result<u8> {
    crate::render::stop_on_sigterm();
    let repo = a
        .repo
        .canonicalize()
        .with_context(|| format!("repository {}", a.repo.display()))?;
    if !repo.is_dir() {
        bail!("{}: not a directory", repo.display());
    }
    if !repo.join(wraith_engine::repo::CONFIG_FILE).is_file() {
        ctx.r.warn(&format!(
            "{}: no {} here, so this is not a Wraith repository (yet); it is served anyway",
            repo.display(),
            wraith_engine::repo::CONFIG_FILE
        ));
    }
    // Jobs: given, else the repository's own jobs/ (one directory to carry on a drive). It
    // is then hidden from the repository's listing and served only as /jobs/<MAC>.toml.
    let jobs_dir = match a.jobs {
        Some(j) if !j.is_dir() => bail!("--jobs {}: not a directory", j.display()),
        Some(j) => Some(j.to_path_buf()),
        None => Some(repo.join("jobs")).filter(|j| j.is_dir()),
    };

    let listen: SocketAddr = match a.listen {
        Some(l) => l
            .parse()
            .map_err(|_| anyhow!("--listen {l}: write ADDR:PORT, e.g. 0.0.0.0:8080"))?,
        None => SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_PORT)),
    };
    let specific = match listen.ip() {
        std::net::IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
        _ => None,
    };
    let chosen = iface::choose(a.interface, specific);
    let need_iface = a.pxe || !a.wake.is_empty() || a.wake_from.is_some();
    let chosen = match chosen {
        Ok(i) => Some(i),
        Err(e) if need_iface || a.interface.is_some() => bail!("{e}"),
        Err(e) => {
            ctx.r
                .warn(&format!("{e}; the URLs below use the address to listen on"));
            None
        }
    };
    let listener = TcpListener::bind(listen).with_context(|| {
        format!("listening on {listen} (is another server on that port? choose one with --listen ADDR:PORT)")
    })?;
    let port = listener.local_addr()?.port();
    let host = specific
        .or(chosen.as_ref().map(|i| i.addr))
        .unwrap_or(Ipv4Addr::LOCALHOST);
    let base = format!("http://{host}:{port}");

    let mut mounted = None;
    let boot_dir = boot_files(ctx, a.boot_dir, &mut mounted)?;
    if a.pxe && boot_dir.is_none() {
        bail!(
            "--pxe needs the kernel and initramfs to boot the room with: give --boot-dir DIR \
             (./build.sh pxe writes out/pxe/){}",
            if wraith_engine::live::running_live() {
                "; this live system found no Wraith medium to take them from (it was \
                 network-booted, or its USB stick is gone)"
            } else {
                ""
            }
        );
    }
    let pxe_cfg = if a.pxe {
        let i = chosen
            .as_ref()
            .ok_or_else(|| anyhow!("--pxe needs a network interface"))?;
        let p = pxe::Pxe {
            interface: i.name.clone(),
            addr: i.addr,
            prefix: i.prefix,
            range: a
                .dhcp_range
                .map(pxe::parse_range)
                .transpose()
                .map_err(|e| anyhow!(e))?,
            roms: pxe::rom_dir(a.rom_dir).map_err(|e| anyhow!(e))?,
            script: format!("http://{}:{port}/boot/wraith.ipxe", i.addr),
        };
        p.check().map_err(|e| anyhow!(e))?;
        Some(p)
    } else {
        if a.dhcp_range.is_some() {
            bail!("--dhcp-range only means something with --pxe");
        }
        None
    };
    let macs = wake_list(a)?;

    let room = Room::new();
    let stop = Arc::new(AtomicBool::new(false));
    let cfg = wraith_serve::Config {
        repo: repo.clone(),
        jobs: jobs_dir.clone(),
        boot: boot_dir.clone(),
        base: base.clone(),
        kernel_args: a.kernel_args.unwrap_or("").to_string(),
        max_upload: wraith_serve::MAX_UPLOAD,
    };
    let server = {
        let (room, stop) = (room.clone(), stop.clone());
        std::thread::Builder::new()
            .name("serve-http".into())
            .spawn(move || wraith_serve::serve(listener, cfg, room, stop))?
    };

    let mut dnsmasq = match &pxe_cfg {
        Some(p) => {
            let room = room.clone();
            let json = ctx.json;
            let d = pxe::Dnsmasq::start(p, move |line| {
                // Passed through on stderr: what the DHCP/TFTP side did, for the technician.
                if json {
                    eprintln!("{}", json!({ "event": "dnsmasq", "message": line }));
                } else {
                    eprintln!("{line}");
                }
                if let Some(s) = pxe::parse_log(line) {
                    let state = if s.rom {
                        room::State::Pxe
                    } else {
                        room::State::Dhcp
                    };
                    room.saw(s.mac.as_deref(), s.ip.map(Into::into), state, &s.what);
                }
            });
            match d {
                Ok(d) => Some(d),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    let _ = server.join();
                    bail!("{e}");
                }
            }
        }
        None => None,
    };

    // What is served, and the URLs to use.
    let (job_macs, job_default) = jobs_dir.as_deref().map(jobs::inventory).unwrap_or_default();
    if ctx.json {
        println!(
            "{}",
            json!({
                "result": "serving",
                "repository": repo,
                "url": format!("{base}/repo"),
                "interface": chosen.as_ref().map(|i| json!({"name": i.name, "address": i.addr.to_string(), "prefix": i.prefix, "why": i.why})),
                "boot": boot_dir.as_ref().map(|b| b.dir.clone()),
                "ipxe": boot_dir.as_ref().map(|_| format!("{base}/boot/wraith.ipxe")),
                "jobs": jobs_dir.as_ref().map(|j| json!({"dir": j, "machines": job_macs, "default": job_default})),
                "pxe": pxe_cfg.as_ref().map(|p| json!({
                    "mode": if p.range.is_some() { "dhcp" } else { "proxy" },
                    "roms": p.roms,
                    "dnsmasq_pid": dnsmasq.as_ref().map(|d| d.pid()),
                })),
                "wake": macs.len(),
            })
        );
    } else {
        println!(
            "serving repository {} (read-only; job results are kept in its results/)",
            repo.display()
        );
        if let Some(i) = &chosen {
            println!("  on {} {}/{} ({})", i.name, i.addr, i.prefix, i.why);
        }
        println!("  restore:  wraith restore {base}/repo:NAME DISK");
        println!("  in a job: repository = \"http://{{server}}/repo\"  ({{server}} becomes {host}:{port})");
        match &boot_dir {
            Some(b) => {
                println!("  network boot: chain {base}/boot/wraith.ipxe   (kernel and initramfs from {})", b.dir.display());
            }
            None => println!("  network boot: off (no boot files; give --boot-dir DIR holding vmlinuz and initramfs.zst)"),
        }
        match &jobs_dir {
            Some(j) => println!(
                "  jobs: {} ({} machine files{}); machines fetch {base}/jobs/<MAC>.toml",
                j.display(),
                job_macs.len(),
                if job_default {
                    ", and default.toml for the others"
                } else {
                    ", no default.toml: other machines boot to the UI"
                }
            ),
            None => println!(
                "  jobs: none (put <MAC>.toml or default.toml in {}/jobs/ or give --jobs DIR)",
                repo.display()
            ),
        }
        if let Some(p) = &pxe_cfg {
            println!(
                "  PXE: dnsmasq {} on {} (BIOS {}, UEFI {} from {}, then iPXE over HTTP)",
                match p.range {
                    None => "as proxy-DHCP beside the site's DHCP server".to_string(),
                    Some((a, b)) => format!("as DHCP server for {a}-{b}"),
                },
                p.interface,
                pxe::BIOS_ROM,
                pxe::UEFI_ROM,
                p.roms.display()
            );
        }
        println!("  room: {base}/room (JSON); Ctrl-C stops");
    }
    std::io::stdout().flush().ok();

    // The multicast session: after the HTTP server, which fills in what the stream misses.
    let mut session = match &a.multicast.multicast {
        None => None,
        Some(spec) => {
            let from = chosen.as_ref().map(|i| i.addr).or(specific);
            match start_multicast(ctx, &repo, spec, a.multicast, from, host, port) {
                Ok(m) => Some(m),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    drop(dnsmasq);
                    let _ = server.join();
                    return Err(e);
                }
            }
        }
    };

    if !macs.is_empty() {
        let i = chosen
            .as_ref()
            .ok_or_else(|| anyhow!("--wake needs a network interface"))?;
        let to = a.wake_to.unwrap_or_else(|| i.broadcast());
        let sent =
            wake::send(&macs, i.addr, to, &wake::PORTS, wake::ROUNDS).map_err(|e| anyhow!(e));
        match sent {
            Ok(n) => ctx.r.note(&format!(
                "wake-on-LAN: {n} magic packets for {} machines sent to {to} (ports 9 and 7)",
                macs.len()
            )),
            Err(e) => ctx.r.warn(&e.to_string()),
        }
    }

    let result = watch(ctx, &room, &server, &mut dnsmasq, &mut session);
    if let Some(t) = session.take().and_then(|m| m.thread) {
        // Stopped before the session ended: it stops at once (it shares the cancel token).
        let _ = t.join();
    }
    stop.store(true, Ordering::Relaxed);
    drop(dnsmasq);
    let served = server.join();
    drop(mounted);
    result?;
    match served {
        Ok(Ok(())) => Ok(crate::EXIT_OK),
        Ok(Err(e)) => Err(anyhow!("the HTTP server failed: {e}")),
        Err(_) => Err(anyhow!("the HTTP server stopped unexpectedly")),
    }
}

/// Shows the room until Ctrl-C: a table redrawn in place on a terminal, else a line (or a
/// JSON line) whenever a machine's row changes.
fn watch(
    ctx: &Ctx,
    room: &Room,
    server: &std::thread::JoinHandle<std::io::Result<()>>,
    dnsmasq: &mut Option<pxe::Dnsmasq>,
    session: &mut Option<Multicast>,
) -> Result<()> {
    let tty = !ctx.json && std::io::stdout().is_terminal();
    let mut drawn = 0usize;
    let mut last: Vec<room::Row> = Vec::new();
    while !ctx.cancel.is_cancelled() {
        std::thread::sleep(Duration::from_millis(500));
        if server.is_finished() {
            return Ok(());
        }
        if let Some(status) = dnsmasq.as_mut().and_then(|d| d.exited()) {
            bail!("dnsmasq stopped ({status}); PXE is off, so serve stops too");
        }
        let mut rows = room.rows();
        if let Some(m) = session.as_mut() {
            m.tell(ctx)?;
            merge_receivers(&mut rows, &m.sender.clients());
        }
        let mut out = std::io::stdout().lock();
        if tty {
            if rows.is_empty() {
                continue;
            }
            // Back up over the last table and draw it again.
            if drawn > 0 {
                let _ = write!(out, "\x1b[{drawn}A");
            }
            let lines = room::table(&rows);
            for l in &lines {
                let _ = writeln!(out, "\x1b[2K{l}");
            }
            drawn = lines.len();
        } else {
            for r in &rows {
                let before = last.iter().find(|o| o.mac == r.mac && o.ip == r.ip);
                let changed = before.is_none_or(|b| {
                    b.state != r.state
                        || b.detail != r.detail
                        || b.errors != r.errors
                        || b.percent.map(|p| p as u64 / 10) != r.percent.map(|p| p as u64 / 10)
                });
                if !changed {
                    continue;
                }
                if ctx.json {
                    let _ = writeln!(out, "{}", room::json_line(r));
                } else if let Some(line) = room::table(std::slice::from_ref(r)).get(1) {
                    let _ = writeln!(out, "{line}");
                }
            }
            last = rows;
        }
        // A reader that went away (a closed pipe) does not stop the room being served.
        let _ = out.flush();
    }
    Ok(())
}

/// The machines to wake: `--wake` MACs and the lines of `--wake-from`.
fn wake_list(a: &Args) -> Result<Vec<[u8; 6]>> {
    let mut out = Vec::new();
    for m in a.wake {
        out.push(wake::parse_mac(m).ok_or_else(|| anyhow!("--wake {m}: not a MAC address"))?);
    }
    if let Some(f) = a.wake_from {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("--wake-from {}", f.display()))?;
        out.extend(
            wake::parse_list(&text).map_err(|e| anyhow!("--wake-from {}: {e}", f.display()))?,
        );
    }
    Ok(out)
}

/// The kernel and initramfs for network boot: `--boot-dir`; on the live system, those of the
/// Wraith medium it booted from (mounted read-only for as long as `mounted` lives); on a host,
/// `out/pxe` of the checkout this binary was built in, or of the current directory.
fn boot_files(
    ctx: &Ctx,
    given: Option<&Path>,
    mounted: &mut Option<wraith_engine::mount::Mounted>,
) -> Result<Option<boot::BootDir>> {
    if let Some(d) = given {
        return boot::BootDir::open(d)
            .map(Some)
            .map_err(|e| anyhow!("--boot-dir {e}"));
    }
    if wraith_engine::live::running_live() {
        for dev in wraith_engine::live::wraith_media() {
            let Ok(m) = wraith_engine::mount::mount_any_readonly(&dev, "serve-boot") else {
                continue;
            };
            if let Ok(b) = boot::BootDir::open(&m.point.join("boot")) {
                ctx.r.note(&format!(
                    "network boot: this live system's kernel and initramfs, from {}",
                    dev.display()
                ));
                *mounted = Some(m);
                return Ok(Some(b));
            }
        }
        return Ok(None);
    }
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // target/{debug,release}/wraith → the checkout is three levels up.
        cands.extend(exe.ancestors().skip(1).take(4).map(|d| d.join("out/pxe")));
    }
    if let Ok(cwd) = std::env::current_dir() {
        cands.push(cwd.join("out/pxe"));
    }
    Ok(cands.iter().find_map(|d| boot::BootDir::open(d).ok()))
}

/// A multicast session running beside the HTTP server.
struct Multicast {
    sender: Arc<Sender>,
    /// Until the session ended and was told.
    thread: Option<std::thread::JoinHandle<wraith_engine::Result<SenderReport>>>,
    progress: Arc<Mutex<Option<SenderProgress>>>,
    /// The session state last told.
    told: Option<wraith_engine::mcast::wire::State>,
}

/// Starts sending `spec` (NAME or NAME@ID of the repository at `repo`) to the room, from the
/// interface address `from` (the kernel's choice when None), and says how machines join.
fn start_multicast(
    ctx: &Ctx,
    repo: &Path,
    spec: &str,
    m: &crate::cli::ServeMulticastArgs,
    from: Option<Ipv4Addr>,
    host: Ipv4Addr,
    http_port: u16,
) -> Result<Multicast> {
    let r = Arc::new(
        wraith_engine::repo::Repository::open(repo)
            .with_context(|| format!("--multicast {spec}: the repository"))?,
    );
    let (name, id) = match spec.split_once('@') {
        Some((n, i)) => (n, Some(i)),
        None => (spec, None),
    };
    let image = r
        .resolve(name, id)
        .with_context(|| format!("--multicast {spec}"))?;
    let cfg = SenderConfig {
        clients: m.clients,
        wait: Duration::from_secs(m.wait),
        rate_mbps: m.rate,
        fec_percent: m.fec,
        group: m.group,
        port: m.port,
        ttl: m.ttl,
        interface: from.unwrap_or(Ipv4Addr::UNSPECIFIED),
    };
    let sender = Arc::new(
        Sender::new(r, &image, cfg).with_context(|| format!("multicast session of {image}"))?,
    );
    let url = wraith_engine::mcast::client::McastUrl {
        host: host.to_string(),
        http_port: Some(http_port),
        path: "repo".into(),
        image: image.name.clone(),
        id: None,
    }
    .shown();
    let start = match (m.clients, m.wait) {
        (0, w) => format!("starts in {w} s"),
        (n, w) => format!("starts when {n} machines are ready, or after {w} s"),
    };
    let port_arg = if m.port == wraith_engine::mcast::DEFAULT_PORT {
        String::new()
    } else {
        format!(" --port {}", m.port)
    };
    if ctx.json {
        println!(
            "{}",
            json!({
                "event": "multicast",
                "image": image.to_string(),
                "group": m.group.to_string(),
                "port": m.port,
                "rate_mbps": m.rate,
                "clients": m.clients,
                "wait": m.wait,
                "url": url,
            })
        );
    } else {
        println!(
            "  multicast: {image} to {}:{} at {} Mbit/s, {start}\n  \
             machines join with: wraith restore {url}{port_arg} DISK   (or a job with multicast = true)",
            m.group,
            m.port + 1,
            m.rate,
        );
    }
    std::io::stdout().flush().ok();
    let progress = Arc::new(Mutex::new(None));
    let thread = {
        let (sender, progress, cancel) = (sender.clone(), progress.clone(), ctx.cancel.clone());
        std::thread::Builder::new()
            .name("serve-multicast".into())
            .spawn(move || {
                sender.run(&cancel, &mut |p: &SenderProgress| {
                    *progress.lock().unwrap_or_else(|e| e.into_inner()) = Some(p.clone());
                })
            })?
    };
    Ok(Multicast {
        sender,
        thread: Some(thread),
        progress,
        told: None,
    })
}

impl Multicast {
    /// Says when the stream starts and, once, what the session did when it ended.
    fn tell(&mut self, ctx: &Ctx) -> Result<()> {
        use wraith_engine::mcast::wire::State;
        let p = self
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(p) = p {
            if self.told != Some(p.state) && p.state == State::Streaming {
                let text = format!(
                    "multicast: streaming {} chunks to {} machines ({} joined)",
                    p.chunks, p.ready, p.clients
                );
                if ctx.json {
                    println!(
                        "{}",
                        json!({"event": "multicast_started", "chunks": p.chunks,
                               "clients": p.clients, "ready": p.ready})
                    );
                } else {
                    println!("{text}");
                }
            }
            self.told = Some(p.state);
        }
        let Some(thread) = self.thread.take_if(|t| t.is_finished()) else {
            return Ok(());
        };
        let report = match thread.join() {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => bail!("the multicast session failed: {e}"),
            Err(_) => bail!("the multicast session stopped unexpectedly"),
        };
        if ctx.json {
            println!("{}", json!({"event": "multicast_ended", "report": report}));
        } else {
            println!(
                "multicast: session ended: {} chunks, {:.1} MB sent for {:.1} MB stored ({:.3}x), \
                 {} repair requests, {} machines; the HTTP server goes on (fill-in, results)",
                report.chunks,
                report.bytes_sent as f64 / 1e6,
                report.stored_bytes as f64 / 1e6,
                report.bytes_sent as f64 / report.stored_bytes.max(1) as f64,
                report.repair_requests,
                report.clients.len()
            );
        }
        Ok(())
    }
}

/// The session's receivers in the room table: a machine already seen (by address or MAC)
/// gets the stream's view of its progress, one not seen yet a row of its own.
fn merge_receivers(rows: &mut Vec<room::Row>, clients: &[ClientInfo]) {
    for c in clients {
        let ip = c
            .addr
            .parse::<SocketAddr>()
            .map(|a| a.ip())
            .or_else(|_| c.addr.parse::<std::net::IpAddr>())
            .ok();
        let state = match c.state.as_str() {
            "done" => room::State::Done,
            "lost" | "left" => room::State::Failed,
            _ => room::State::Working,
        };
        let detail = format!(
            "multicast {}: {} chunks by stream, {} over HTTP{}",
            c.state,
            c.chunks_multicast,
            c.chunks_http,
            if c.bad_datagrams > 0 {
                format!(", {} bad datagrams dropped", c.bad_datagrams)
            } else {
                String::new()
            }
        );
        let same = |r: &room::Row| {
            (ip.is_some() && r.ip == ip)
                || (c.mac.is_some()
                    && r.mac.as_deref().map(str::to_lowercase)
                        == c.mac.as_deref().map(str::to_lowercase))
        };
        let row = match rows.iter_mut().position(|r| same(r)) {
            Some(i) => &mut rows[i],
            None => {
                rows.push(room::Row {
                    mac: c.mac.clone(),
                    ip,
                    state,
                    step: Some("restore".into()),
                    percent: None,
                    rate: 0.0,
                    served: 0,
                    errors: 0,
                    detail: String::new(),
                    idle: c.seconds_since_report,
                });
                let last = rows.len() - 1;
                &mut rows[last]
            }
        };
        // A job's own report (verify, done) goes further than the stream's view.
        if state > row.state {
            row.state = state;
        }
        if row.percent.is_none() || row.state == room::State::Working {
            row.percent = Some(c.percent as f64);
        }
        row.rate = row.rate.max(c.mb_per_s * 1e6);
        row.served = row.served.max(c.bytes);
        row.errors = row.errors.max(c.bad_datagrams.min(u32::MAX as u64) as u32);
        row.detail = detail;
    }
}
