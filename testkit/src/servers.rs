//! Real network servers for repository tests, started as unprivileged-config processes on
//! loopback ports with everything (config, state, logs) in a temporary directory, and killed
//! when their guard is dropped: nginx (WebDAV and static), Samba's smbd, and NFS-Ganesha.
//!
//! A QEMU guest on user networking reaches them at 10.0.2.2 on the same ports.

use crate::Result;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process; killed (and its temporary directory removed) on drop.
pub struct Daemon {
    child: Option<Child>,
    /// Config, state and logs.
    pub dir: tempfile::TempDir,
    pub port: u16,
    name: &'static str,
    argv: Vec<String>,
}

impl Daemon {
    fn spawn(
        name: &'static str,
        argv: Vec<String>,
        dir: tempfile::TempDir,
        port: u16,
    ) -> Result<Daemon> {
        let mut d = Daemon {
            child: None,
            dir,
            port,
            name,
            argv,
        };
        d.start()?;
        Ok(d)
    }

    /// Starts the process (again, after [`Daemon::stop`]) and waits until its port accepts.
    pub fn start(&mut self) -> Result<()> {
        let log = std::fs::File::create(self.dir.path().join(format!("{}.out", self.name)))?;
        // Its own process group, so stopping it also ends the children it forks (smbd serves
        // each connection from a child).
        let child = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.argv[0]))?;
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    return Err(format!(
                        "{} exited ({status}) before serving on port {}: {}",
                        self.name,
                        self.port,
                        self.log_tail()
                    )
                    .into());
                }
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err(format!(
                    "{} does not accept connections on port {}: {}",
                    self.name,
                    self.port,
                    self.log_tail()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process: the server vanishes as if its machine was switched off.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the process group we created for this child.
            unsafe {
                libc_kill(-(c.id() as i32), 9);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The last lines of the server's own output, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        if let Ok(rd) = std::fs::read_dir(self.dir.path()) {
            for e in rd.flatten() {
                let p = e.path();
                let is_log = p.extension().is_some_and(|x| x == "out" || x == "log");
                if is_log {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                    out.push_str(&format!("\n--- {}\n{tail}", p.display()));
                }
            }
        }
        out
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// A free TCP port on loopback (the kernel's choice; released just before the server binds).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn program(name: &str) -> Result<PathBuf> {
    crate::tools::find_tool(name)
        .ok_or_else(|| format!("{name} not installed (run ./build.sh deps)").into())
}

/// nginx serving one directory four ways, each a URL prefix:
/// - `/dav/` — WebDAV, read-write, no login (PUT, DELETE, MKCOL, COPY, MOVE, PROPFIND);
/// - `/auth/` — the same, behind HTTP basic auth ([`Nginx::USER`] and the given password);
/// - `/static/` — read-only with a directory index (autoindex): a plain static web server;
/// - `/noindex/` — read-only without a directory index.
pub struct Nginx {
    pub daemon: Daemon,
    pub root: PathBuf,
}

impl Nginx {
    pub const USER: &'static str = "wraith";

    pub fn start(root: &Path, password: &str) -> Result<Nginx> {
        let nginx = program("nginx")?;
        let dir = tempfile::Builder::new().prefix("wraith-nginx").tempdir()?;
        let port = free_port()?;
        let d = dir.path().display().to_string();
        let r = root.canonicalize()?.display().to_string();
        std::fs::write(
            dir.path().join("htpasswd"),
            format!("{}:{{PLAIN}}{password}\n", Self::USER),
        )?;
        let dav_ext = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so";
        let conf = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
load_module {dav_ext};
events {{ worker_connections 512; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 0;
    default_type application/octet-stream;
    types {{ text/html html; application/json json; }}
    server {{
        listen 127.0.0.1:{port};
        location /dav/ {{
            alias {r}/;
            dav_methods PUT DELETE MKCOL COPY MOVE;
            dav_ext_methods PROPFIND OPTIONS;
            dav_access user:rw group:r all:r;
        }}
        location /auth/ {{
            alias {r}/;
            auth_basic "wraith test";
            auth_basic_user_file {d}/htpasswd;
            dav_methods PUT DELETE MKCOL COPY MOVE;
            dav_ext_methods PROPFIND OPTIONS;
        }}
        location /static/ {{
            alias {r}/;
            autoindex on;
        }}
        location /noindex/ {{
            alias {r}/;
        }}
    }}
}}
"#
        );
        std::fs::write(dir.path().join("nginx.conf"), conf)?;
        let argv = vec![
            nginx.display().to_string(),
            "-p".into(),
            d.clone(),
            "-c".into(),
            format!("{d}/nginx.conf"),
        ];
        let daemon = Daemon::spawn("nginx", argv, dir, port)?;
        Ok(Nginx {
            daemon,
            root: root.to_path_buf(),
        })
    }

    /// `http://127.0.0.1:PORT/{prefix}/{sub}` (prefix: dav, auth, static, noindex).
    pub fn url(&self, prefix: &str, sub: &str) -> String {
        format!("http://127.0.0.1:{}/{prefix}/{sub}", self.daemon.port)
    }
}

/// Samba's smbd serving one directory as share [`Samba::SHARE`] to one user on a loopback port.
/// The SMB user is mapped to root (the only account a test machine surely has).
pub struct Samba {
    pub daemon: Daemon,
}

impl Samba {
    pub const SHARE: &'static str = "images";

    pub fn start(share_dir: &Path, user: &str, password: &str) -> Result<Samba> {
        let smbd = program("smbd")?;
        let dir = tempfile::Builder::new().prefix("wraith-samba").tempdir()?;
        let port = free_port()?;
        let d = dir.path().display().to_string();
        for sub in ["private", "lock", "state", "cache", "pid", "log"] {
            std::fs::create_dir_all(dir.path().join(sub))?;
        }
        std::fs::write(dir.path().join("users.map"), format!("root = {user}\n"))?;
        let share = share_dir.canonicalize()?.display().to_string();
        let conf = format!(
            r#"[global]
    server role = standalone server
    smb ports = {port}
    interfaces = 127.0.0.1
    bind interfaces only = yes
    disable netbios = yes
    server min protocol = SMB2_10
    private dir = {d}/private
    lock directory = {d}/lock
    state directory = {d}/state
    cache directory = {d}/cache
    pid directory = {d}/pid
    ncalrpc dir = {d}/ncalrpc
    log file = {d}/log/smbd.log
    log level = 1
    passdb backend = tdbsam:{d}/private/passdb.tdb
    username map = {d}/users.map
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    usershare path =
[{share_name}]
    path = {share}
    read only = no
    valid users = root
    create mask = 0644
"#,
            share_name = Self::SHARE
        );
        let conf_path = dir.path().join("smb.conf");
        std::fs::write(&conf_path, conf)?;
        // The password database entry for root, with the test password.
        let mut pdbedit = Command::new(program("pdbedit")?)
            .args([
                "-s",
                &conf_path.display().to_string(),
                "-a",
                "-u",
                "root",
                "-t",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = pdbedit.stdin.take() {
            stdin.write_all(format!("{password}\n{password}\n").as_bytes())?;
        }
        let out = pdbedit.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("pdbedit failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        let argv = vec![
            smbd.display().to_string(),
            "-F".into(),
            "--no-process-group".into(),
            "--debug-stdout".into(),
            "-s".into(),
            conf_path.display().to_string(),
        ];
        Ok(Samba {
            daemon: Daemon::spawn("smbd", argv, dir, port)?,
        })
    }

    pub fn port(&self) -> u16 {
        self.daemon.port
    }
}

/// NFS-Ganesha exporting one directory read-write (no root squash) over NFSv4 on a loopback
/// port, at the NFSv4 pseudo path [`Ganesha::PSEUDO`]. There is no rpcbind, so NFSv3 is off.
pub struct Ganesha {
    pub daemon: Daemon,
}

impl Ganesha {
    pub const PSEUDO: &'static str = "/export";

    pub fn start(export_dir: &Path) -> Result<Ganesha> {
        let ganesha = program("ganesha.nfsd")?;
        let dir = tempfile::Builder::new()
            .prefix("wraith-ganesha")
            .tempdir()?;
        let port = free_port()?;
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("recovery"))?;
        let export = export_dir.canonicalize()?.display().to_string();
        let conf = format!(
            r#"NFS_CORE_PARAM {{
    NFS_Port = {port};
    Bind_addr = 127.0.0.1;
    Protocols = 4;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
}}
NFSV4 {{
    Graceless = true;
    RecoveryRoot = {d}/recovery;
}}
NFS_KRB5 {{
    Active_krb5 = false;
}}
EXPORT {{
    Export_Id = 1;
    Path = {export};
    Pseudo = {pseudo};
    Access_Type = RW;
    Squash = No_Root_Squash;
    Protocols = 4;
    Transports = TCP;
    SecType = sys;
    FSAL {{
        Name = VFS;
    }}
}}
LOG {{
    Default_Log_Level = EVENT;
}}
"#,
            pseudo = Self::PSEUDO
        );
        std::fs::write(dir.path().join("ganesha.conf"), conf)?;
        let argv = vec![
            ganesha.display().to_string(),
            "-F".into(),
            "-f".into(),
            format!("{d}/ganesha.conf"),
            "-L".into(),
            format!("{d}/ganesha.log"),
            "-p".into(),
            format!("{d}/ganesha.pid"),
            "-N".into(),
            "NIV_EVENT".into(),
        ];
        Ok(Ganesha {
            daemon: Daemon::spawn("ganesha", argv, dir, port)?,
        })
    }

    pub fn port(&self) -> u16 {
        self.daemon.port
    }
}
