//! Where a bench ran: CPU, cores, OS, OpenCV and ONNX Runtime versions, git commit, date,
//! and the process's peak memory. Everything here is best effort: an unknown value is
//! `None`, never an error.

use std::path::Path;
use std::process::Command;

use super::report::{Environment, ModelEntry};

/// Runs a command and returns its trimmed stdout when it succeeds.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

fn os() -> Option<String> {
    let release = std::fs::read_to_string("/etc/os-release").ok();
    let name = release.as_deref().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|k| k.trim().to_owned());
    match (name, kernel) {
        (Some(n), Some(k)) => Some(format!("{n}, Linux {k}")),
        (n, k) => n.or(k),
    }
}

/// The version after `prefix` in a backend string such as `opencv-dnn 4.6.0` or
/// `onnxruntime 1.32.0 (cpu)`.
fn version_in(backend: &str, prefix: &str) -> Option<String> {
    let rest = backend.strip_prefix(prefix)?.trim_start();
    let v: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!v.is_empty()).then_some(v)
}

/// ONNX Runtime's version from the library `ORT_DYLIB_PATH` or the setup script points at
/// (`libonnxruntime.so.1.32.0`).
fn onnxruntime_from_files() -> Option<String> {
    let from_name = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("libonnxruntime.so."))
            .map(str::to_owned)
    };
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        if let Some(v) = from_name(Path::new(&p)) {
            return Some(v);
        }
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))?;
    let mut names: Vec<String> = std::fs::read_dir(data.join("facelab/onnxruntime"))
        .ok()?
        .flatten()
        .filter_map(|e| from_name(&e.path()))
        .collect();
    names.sort();
    names.pop()
}

/// Today's date and time, UTC, RFC 3339.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The environment, with library versions taken from the models' backend strings where a
/// plugin reported them.
pub fn detect(models: &[ModelEntry]) -> Environment {
    let backends: Vec<&str> = models.iter().filter_map(|m| m.backend.as_deref()).collect();
    let opencv_version = backends
        .iter()
        .find_map(|b| version_in(b, "opencv-dnn"))
        .or_else(|| output("pkg-config", &["--modversion", "opencv4"]));
    let onnxruntime_version = backends
        .iter()
        .find_map(|b| version_in(b, "onnxruntime"))
        .or_else(onnxruntime_from_files);
    let git_commit = output("git", &["rev-parse", "HEAD"]);
    let git_dirty = git_commit
        .as_ref()
        .and_then(|_| {
            Command::new("git")
                .args(["status", "--porcelain"])
                .output()
                .ok()
        })
        .map(|o| !o.stdout.is_empty());
    Environment {
        date: now_utc(),
        cpu_model: cpu_model(),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        os: os(),
        opencv_version,
        onnxruntime_version,
        git_commit,
        git_dirty,
        facelab_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// Resets the process's peak resident memory (`VmHWM`) so the next reading covers what
/// follows. Returns false where the kernel does not allow it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Returns the memory freed by an earlier pipeline to the OS (glibc keeps freed heap pages
/// resident), so the next pipeline's peak is its own. A no-op off glibc.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: glibc's malloc_trim has no preconditions; it only releases free pages.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// The process's peak resident memory, MiB (`VmHWM` of `/proc/self/status`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_out_of_backend_strings() {
        assert_eq!(
            version_in("opencv-dnn 4.6.0", "opencv-dnn").as_deref(),
            Some("4.6.0")
        );
        assert_eq!(
            version_in("onnxruntime 1.32.0 (cpu)", "onnxruntime").as_deref(),
            Some("1.32.0")
        );
        assert_eq!(version_in("onnxruntime  (cpu)", "onnxruntime"), None);
        assert_eq!(version_in("example", "opencv-dnn"), None);
    }

    #[test]
    fn the_date_is_rfc3339() {
        let d = now_utc();
        assert_eq!(d.len(), 20, "{d}");
        assert!(
            d.starts_with("20") && d.ends_with('Z') && &d[10..11] == "T",
            "{d}"
        );
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if Path::new("/proc/self/status").exists() {
            assert!(peak_rss_mib().is_some_and(|m| m > 0.0));
        }
    }
}
