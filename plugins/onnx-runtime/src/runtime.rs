//! Loading the ONNX Runtime library and opening sessions: the one place that talks to
//! `ort` about the process-wide runtime.
//!
//! The `ort` crate is built with `load-dynamic`, so the library is opened at run time.
//! Its implicit loading (through `ORT_DYLIB_PATH` on first use) panics on a missing or
//! too-old library, so every session is opened through [`environment`], which calls
//! [`ort::init_from`] on a path found here and turns each failure into a [`PluginError`]
//! that names the path and the fix. A process can load one ONNX Runtime library only; the
//! first success is kept in a [`OnceLock`] and reused by every detector.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use facelab_plugin_kit::api::{ErrorCode, PluginError};
use ort::environment::Environment;
use ort::ep::ExecutionProviderDispatch;
use ort::session::Session;

/// The environment variable `ort` itself reads; honoured here as an explicit choice.
const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// What the setup script installs and how to run it.
const SETUP_HELP: &str = "run `bash scripts/setup.sh` in the facelab repository: it unpacks ONNX \
     Runtime 1.32 into ${XDG_DATA_HOME:-~/.local/share}/facelab/onnxruntime/. Or point the \
     detector option `ort_library` (or ORT_DYLIB_PATH) at a libonnxruntime.so.1.x file, x >= 31";

/// The loaded library and its environment, shared by every session of the process.
struct Runtime {
    library: PathBuf,
    environment: Environment,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// Serialises load attempts, so two detectors created at once do not both load.
static LOADING: Mutex<()> = Mutex::new(());

/// The folder `scripts/setup.sh` unpacks the library into.
pub fn install_dir() -> Option<PathBuf> {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data_home.join("facelab").join("onnxruntime"))
}

/// The version numbers in a `libonnxruntime.so.1.32.0` file name, for picking the newest.
fn so_version(name: &str) -> Option<Vec<u32>> {
    let rest = name.strip_prefix("libonnxruntime.so")?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    rest.strip_prefix('.')?
        .split('.')
        .map(|p| p.parse().ok())
        .collect()
}

/// The newest `libonnxruntime.so.1.*` (or a plain `libonnxruntime.so`) in `dir`.
fn newest_in(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = so_version(&name)?;
            (version.is_empty() || version[0] == 1).then(|| (version, e.path()))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, path)| path)
}

/// Where the library is: the `ort_library` option, else `ORT_DYLIB_PATH`, else the newest
/// file in [`install_dir`]. An explicit path is used as given; it is never replaced by a
/// guess.
pub fn locate(explicit: Option<&str>) -> Result<PathBuf, PluginError> {
    let explicit = explicit
        .map(|p| ("detector option ort_library", p.to_owned()))
        .or_else(|| {
            std::env::var(ORT_DYLIB_PATH)
                .ok()
                .filter(|p| !p.is_empty())
                .map(|p| (ORT_DYLIB_PATH, p))
        });
    if let Some((from, path)) = explicit {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(PluginError::new(
                ErrorCode::INFERENCE,
                format!(
                    "ONNX Runtime library not found at {} (from {from})",
                    path.display()
                ),
                SETUP_HELP,
            ));
        }
        return Ok(path);
    }
    let dir = install_dir().ok_or_else(|| {
        PluginError::new(
            ErrorCode::INFERENCE,
            "cannot find the ONNX Runtime library: neither XDG_DATA_HOME nor HOME is set",
            SETUP_HELP,
        )
    })?;
    newest_in(&dir).ok_or_else(|| {
        PluginError::new(
            ErrorCode::INFERENCE,
            format!(
                "ONNX Runtime library not found: no libonnxruntime.so.1.* in {}",
                dir.display()
            ),
            SETUP_HELP,
        )
    })
}

/// The process's ONNX Runtime environment, loading the library on first use.
///
/// Later calls reuse the first library loaded. A later call whose `ort_library` names
/// another file is refused rather than silently served by the first one.
fn environment(explicit: Option<&str>) -> Result<&'static Runtime, PluginError> {
    let loaded = |runtime| match explicit {
        None => Ok(runtime),
        Some(path) => check_same_library(runtime, &locate(Some(path))?),
    };
    if let Some(runtime) = RUNTIME.get() {
        return loaded(runtime);
    }
    let _loading = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(runtime) = RUNTIME.get() {
        return loaded(runtime);
    }
    let wanted = locate(explicit)?;
    let load_error = |e: String| {
        PluginError::new(
            ErrorCode::INFERENCE,
            format!("cannot load ONNX Runtime from {}: {e}", wanted.display()),
            SETUP_HELP,
        )
    };
    let environment = ort::init_from(&wanted)
        .map_err(|e| load_error(e.to_string()))?
        .with_name("facelab")
        .with_telemetry(false)
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    Ok(RUNTIME.get_or_init(|| Runtime {
        library: wanted,
        environment,
    }))
}

fn check_same_library(
    runtime: &'static Runtime,
    wanted: &Path,
) -> Result<&'static Runtime, PluginError> {
    let same = match (runtime.library.canonicalize(), wanted.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => runtime.library == wanted,
    };
    if !same {
        return Err(PluginError::new(
            ErrorCode::INVALID_CONFIG,
            format!(
                "ort_library = {} but this process already loaded ONNX Runtime from {}",
                wanted.display(),
                runtime.library.display()
            ),
            "a process can load one ONNX Runtime library; give every onnx-runtime detector the same ort_library",
        ));
    }
    Ok(runtime)
}

/// The path of the library this process loaded, if any (for [`ModelInfo::backend`]).
///
/// [`ModelInfo::backend`]: facelab_plugin_kit::api::ModelInfo::backend
pub fn loaded_library() -> Option<&'static Path> {
    RUNTIME.get().map(|r| r.library.as_path())
}

/// An execution provider a session runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// ONNX Runtime's default CPU provider (MLAS). Always available.
    Cpu,
    /// NVIDIA CUDA; needs the `cuda` cargo feature and a CUDA build of ONNX Runtime.
    Cuda,
    /// Intel OpenVINO; needs the `openvino` cargo feature and an OpenVINO build of ONNX Runtime.
    Openvino,
}

/// The error for a provider this build was compiled without.
#[cfg(not(all(feature = "cuda", feature = "openvino")))]
fn not_built(name: &str) -> PluginError {
    PluginError::new(
        ErrorCode::INVALID_CONFIG,
        format!("execution_provider = \"{name}\" but this onnx-runtime plugin was built without it"),
        format!("rebuild with `cargo build --release -p facelab-onnx-runtime --features {name}`, or use \"cpu\""),
    )
}

/// The execution providers for `provider`, or an error when this build lacks it. The one
/// place providers are chosen. ONNX Runtime runs operators a provider cannot on the CPU.
fn execution_providers(provider: Provider) -> Result<Vec<ExecutionProviderDispatch>, PluginError> {
    match provider {
        // No arena: photo-sized inputs change shape with every photo and batches with every
        // face count, and an arena keeps its largest chunks for the life of the session
        // (a WIDER mini scan grew to 1 GB); freed tensors go back to the allocator instead.
        Provider::Cpu => Ok(vec![ort::ep::CPU::default()
            .with_arena_allocator(false)
            .build()]),
        #[cfg(feature = "cuda")]
        Provider::Cuda => Ok(vec![ort::ep::CUDA::default().build().error_on_failure()]),
        #[cfg(not(feature = "cuda"))]
        Provider::Cuda => Err(not_built("cuda")),
        #[cfg(feature = "openvino")]
        Provider::Openvino => Ok(vec![ort::ep::OpenVINO::default()
            .build()
            .error_on_failure()]),
        #[cfg(not(feature = "openvino"))]
        Provider::Openvino => Err(not_built("openvino")),
    }
}

/// How to open a session.
#[derive(Debug, Clone)]
pub struct SessionConfig<'a> {
    /// An explicit library path (the `ort_library` option).
    pub ort_library: Option<&'a str>,
    /// Intra-op threads.
    pub threads: u32,
    /// Where to run.
    pub provider: Provider,
    /// Let idle intra-op workers spin between operators.
    pub spinning: bool,
}

/// Opens `model` in a new session. Errors name the model file.
pub fn open_session(model: &str, config: &SessionConfig<'_>) -> Result<Session, PluginError> {
    let runtime = environment(config.ort_library)?;
    let providers = execution_providers(config.provider)?;
    let ort_error = |stage: &str, e: ort::Error| {
        let (code, help) = match stage {
            "parsing" => (
                ErrorCode::MODEL,
                "the file is corrupt or not an ONNX model; `facelab models verify` re-checks cached models",
            ),
            "execution provider" => (
                ErrorCode::INFERENCE,
                "this ONNX Runtime library lacks the provider; install a build with it, or use execution_provider = \"cpu\"",
            ),
            _ => (ErrorCode::INFERENCE, ""),
        };
        PluginError::new(
            code,
            format!("cannot load model {model} ({stage}): {e}"),
            help,
        )
    };
    Session::builder(&runtime.environment)
        .map_err(|e| ort_error("session options", e))?
        .with_intra_threads(config.threads as usize)
        .map_err(|e| ort_error("threads", e.into()))?
        // By default idle workers sleep instead of spinning: the host decodes the next photo
        // meanwhile, and spinning on a busy 2-core machine cost up to half the speed
        // (measured with SCRFD-500M: 46 → 29 ms per photo while another process used one
        // core). On an idle machine spinning lowers the latency of small models (MobileFaceNet,
        // one face: 10.1 → 7.8 ms), so it is an option.
        .with_intra_op_spinning(config.spinning)
        .map_err(|e| ort_error("threads", e.into()))?
        // The memory pattern is planned, and kept, per input shape: with a new shape for
        // nearly every photo it only grows.
        .with_memory_pattern(false)
        .map_err(|e| ort_error("session options", e.into()))?
        .with_execution_providers(providers)
        .map_err(|e| ort_error("execution provider", e.into()))?
        .commit_from_file(model)
        .map_err(|e| ort_error("parsing", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_file_names_order_by_number_not_text() {
        assert_eq!(so_version("libonnxruntime.so.1.32.0"), Some(vec![1, 32, 0]));
        assert_eq!(so_version("libonnxruntime.so"), Some(vec![]));
        assert_eq!(so_version("libonnxruntime.so.1.32.0.part"), None);
        assert_eq!(so_version("libonnxruntime_providers_shared.so"), None);
        assert!(so_version("libonnxruntime.so.1.9.0") < so_version("libonnxruntime.so.1.31.1"));
    }

    #[test]
    fn an_explicit_missing_library_names_the_path_and_the_setup_script() {
        let e = locate(Some("/nonexistent/libonnxruntime.so.1.32.0")).unwrap_err();
        assert!(
            e.message.contains("/nonexistent/libonnxruntime.so.1.32.0"),
            "{e}"
        );
        assert!(e.message.contains("ort_library"), "{e}");
        assert!(e.help.contains("scripts/setup.sh"), "{e}");
    }
}
