//! The child processes of the scan task: running them and measuring them from outside
//! (`wait4(2)`, through a small spawner process), the config `facelab scan` runs with, and a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{anyhow, bail, Context as _};
use serde_json::Value;

use facelab_engine::config::{Config, ModelSection};

/// What a command printed last on stdout (its last non-empty line).
pub fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// Runs `cmd` to its end with stderr shown; returns stdout, or an error with its code.
pub(crate) fn run_shown(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{what} could not start: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed ({})", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A folder under the system's temporary folder, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> std::io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("facelab-bench-scan-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `[detector]`/`[recognizer]` table, with absolute model paths.
fn section_table(s: &ModelSection) -> toml::Value {
    let mut t = toml::Table::new();
    let text = |v: &str| toml::Value::String(v.to_owned());
    let list =
        |v: Vec<String>| toml::Value::Array(v.into_iter().map(toml::Value::String).collect());
    t.insert("plugin".into(), text(&s.plugin));
    t.insert("kind".into(), text(&s.kind));
    if !s.model.is_empty() {
        t.insert("model".into(), text(&s.model));
    }
    if !s.model_files.is_empty() {
        let files = s
            .model_files
            .iter()
            .map(|f| absolute(f).display().to_string());
        t.insert("model_files".into(), list(files.collect()));
    }
    if !s.model_sha256.is_empty() {
        t.insert("model_sha256".into(), list(s.model_sha256.clone()));
    }
    if let Some(l) = &s.landmarks {
        t.insert("landmarks".into(), text(l));
    }
    t.insert("options".into(), toml::Value::Table(s.options.clone()));
    if !s.fuse.is_empty() {
        let fuse = s.fuse.iter().map(section_table).collect();
        t.insert("fuse".into(), toml::Value::Array(fuse));
    }
    toml::Value::Table(t)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// The config `facelab scan` runs with: the pipeline's detector, recognizer and robust
/// options, with the bench's plugin path, model store and image limit.
pub(crate) fn child_config(
    config: &Config,
    store: &facelab_models::ModelStore,
) -> anyhow::Result<String> {
    let mut t = toml::Table::new();
    t.insert("detector".into(), section_table(&config.detector));
    if let Some(r) = &config.recognizer {
        t.insert("recognizer".into(), section_table(r));
    }
    t.insert("detection".into(), toml::Value::try_from(config.detection)?);
    let path = |p: &Path| toml::Value::String(absolute(p).display().to_string());
    let mut plugins = toml::Table::new();
    let search: Vec<toml::Value> = config.plugins.search_path.iter().map(|p| path(p)).collect();
    plugins.insert("search_path".into(), toml::Value::Array(search));
    t.insert("plugins".into(), toml::Value::Table(plugins));
    let mut models = toml::Table::new();
    models.insert("cache_dir".into(), path(&store.settings.cache_dir));
    if let Some(m) = &store.settings.mirror {
        models.insert("mirror".into(), path(m));
    }
    if let Some(m) = &config.models.manifest {
        models.insert("manifest".into(), path(m));
    }
    models.insert(
        "python".into(),
        toml::Value::String(store.settings.python.clone()),
    );
    t.insert("models".into(), toml::Value::Table(models));
    let mut images = toml::Table::new();
    images.insert(
        "max_pixels".into(),
        toml::Value::Integer(config.images.max_pixels as i64),
    );
    t.insert("images".into(), toml::Value::Table(images));
    Ok(toml::to_string(&t)?)
}

/// A child process's end, measured from outside.
#[derive(Debug)]
pub struct Measured {
    /// Wall seconds.
    pub wall: f64,
    /// User plus system CPU seconds.
    pub cpu: f64,
    /// Its own peak resident set size, MiB.
    pub rss_mib: f64,
    /// What it printed on stdout.
    pub stdout: String,
}

/// The last lines of `text`, for an error message.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

/// What the spawner (`facelab measure-child`) saw of the command it ran: its end and its
/// own resource use, written as JSON for the process that asked.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ChildUsage {
    /// The exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// User plus system CPU seconds.
    pub cpu: f64,
    /// Peak resident set size, KiB (`ru_maxrss`).
    pub maxrss_kib: i64,
}

/// Waits for child `pid` with `wait4`: its status and resource use.
fn reap(pid: libc::pid_t) -> std::io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to the two locals above; `pid` is the caller's own child,
        // which the caller never waits for otherwise (dropping a Child does not wait).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `facelab measure-child OUT -- PROGRAM ARGS…`: runs the program with this process's
/// stdin, stdout and stderr, reaps it, writes its [`ChildUsage`] to `out` and returns the exit
/// code to end with (128 + the signal when a signal ended it).
///
/// Why a process in between: on Linux a child's `ru_maxrss` starts from the high-water mark
/// of the memory it was forked from, carried over at fork and at exec. A child forked from
/// the bench (hundreds of MiB by the time the scan task runs) reports the bench's size, not
/// its own. This spawner is small when it forks, so what it reports is the program's own peak.
pub fn spawner_main(out: &Path, program: &std::ffi::OsStr, args: &[std::ffi::OsString]) -> i32 {
    let run = || -> anyhow::Result<ChildUsage> {
        let child = Command::new(program)
            .args(args)
            .spawn()
            .with_context(|| format!("cannot start {}", program.to_string_lossy()))?;
        let (status, usage) = reap(child.id() as libc::pid_t)?;
        drop(child);
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Ok(ChildUsage {
            code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
            signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
            cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
            maxrss_kib: usage.ru_maxrss,
        })
    };
    let usage = match run() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("facelab measure-child: {e:#}");
            return 127;
        }
    };
    let text = serde_json::to_string(&usage).expect("plain data");
    if let Err(e) = std::fs::write(out, text) {
        eprintln!("facelab measure-child: cannot write {}: {e}", out.display());
        return 127;
    }
    match (usage.code, usage.signal) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => 127,
    }
}

/// Runs `cmd` with stdout and stderr into files in `dir`, through `facelab measure-child`
/// (the running facelab binary), for its CPU time and its own peak RSS (see
/// [`spawner_main`]). Exit codes in `ok` are success; any other is an error naming the
/// command and the end of its stderr.
pub(super) fn measure(cmd: &mut Command, dir: &Path, ok: &[i32]) -> anyhow::Result<Measured> {
    let spawner = std::env::current_exe().context("cannot find the facelab binary")?;
    measure_with(&spawner, cmd, dir, ok)
}

/// [`measure`] with `spawner` as the facelab binary that runs `cmd`.
pub fn measure_with(
    spawner: &Path,
    cmd: &Command,
    dir: &Path,
    ok: &[i32],
) -> anyhow::Result<Measured> {
    let (out_path, err_path) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let usage_path = dir.join("usage.json");
    let _ = std::fs::remove_file(&usage_path);
    let described = format!("{cmd:?}");
    let mut through = Command::new(spawner);
    through
        .arg("measure-child")
        .arg(&usage_path)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => through.env(k, v),
            None => through.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        through.current_dir(d);
    }
    let start = Instant::now();
    let child = through
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()
        .with_context(|| format!("cannot start {described} through {}", spawner.display()))?;
    let reaped = reap(child.id() as libc::pid_t);
    let wall = start.elapsed().as_secs_f64();
    drop(child);
    reaped.map_err(|e| anyhow!("waiting for {described}: {e}"))?;
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let usage: ChildUsage = std::fs::read_to_string(&usage_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| anyhow!("{described} could not be run:\n{}", tail(&stderr)))?;
    if !usage.code.is_some_and(|c| ok.contains(&c)) {
        let how = match (usage.code, usage.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "an unknown end".to_owned(),
        };
        bail!("{described} failed ({how}):\n{}", tail(&stderr));
    }
    Ok(Measured {
        wall,
        cpu: usage.cpu,
        rss_mib: usage.maxrss_kib as f64 / 1024.0,
        stdout,
    })
}

/// The JSON `what` printed, or an error quoting the end of its output.
pub fn parse_json(text: &str, what: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text)
        .with_context(|| format!("{what} printed no JSON summary: {}", tail(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_config_is_a_valid_config_with_absolute_paths() {
        let text = "[detector]\nplugin = \"opencv-dnn\"\nkind = \"yunet\"\nmodel = \"yunet-2023mar\"\n[detector.options]\nmin_face_size = 17\n[recognizer]\nplugin = \"x\"\nkind = \"y\"\nmodel_files = [\"m.onnx\"]\nlandmarks = \"landmark106\"\n[detection]\ntiling = false\n[plugins]\nsearch_path = [\"plugins\"]\n";
        let config = Config::parse(text, Path::new("rel/facelab.toml")).unwrap();
        let store =
            facelab_engine::pipeline::model_store(&config, Some(Path::new("cache"))).unwrap();
        let child = child_config(&config, &store).unwrap();
        let back = Config::parse(&child, Path::new("/elsewhere/facelab.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{child}"));
        assert_eq!(back.detector.model, "yunet-2023mar");
        assert_eq!(back.detector.options, config.detector.options);
        assert!(!back.detection.tiling);
        let r = back.recognizer.unwrap();
        assert!(r.model_files[0].is_absolute() && r.model_files[0].ends_with("rel/m.onnx"));
        assert_eq!(r.landmarks.as_deref(), Some("landmark106"));
        assert!(back.plugins.search_path[0].ends_with("rel/plugins"));
        assert!(back.models.cache_dir.unwrap().is_absolute());
    }
}
