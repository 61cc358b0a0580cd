//! Finding and loading plugin libraries through `abi_stable`.
//!
//! Each plugin `.so` is opened with `lib_header_from_path(..).init_root_module()`, which
//! checks the ABI version and the type layout. (`RootModule::load_from_*` caches one module
//! per interface type for the whole process and would hand back the first plugin for
//! every path.) Every load failure is collected, so a user sees all of them at once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use abi_stable::library::{lib_header_from_path, LibraryError};
use facelab_plugin_api::{PluginInfo, PluginModule_Ref, ABI_VERSION, CAP_PANIC_SAFE};

/// Environment variable with extra plugin folders (`:`-separated), searched first.
pub const PLUGIN_PATH_ENV: &str = "FACELAB_PLUGIN_PATH";

/// The file name of a plugin library: `opencv-dnn` → `libfacelab_opencv_dnn.so`.
pub fn library_file_name(plugin: &str) -> String {
    format!(
        "{}facelab_{}{}",
        std::env::consts::DLL_PREFIX,
        plugin.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

/// Where plugins are looked for, in order.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    /// The folders, first match wins.
    pub dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// `FACELAB_PLUGIN_PATH`, then the config's `plugins.search_path`, then the config's
    /// folder, then the folder of the running binary.
    pub fn new(extra: &[PathBuf], config_dir: Option<&Path>) -> Self {
        let mut dirs: Vec<PathBuf> = std::env::var_os(PLUGIN_PATH_ENV)
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        dirs.extend(extra.iter().cloned());
        dirs.extend(config_dir.map(Path::to_owned));
        if let Some(exe_dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_owned))
        {
            dirs.push(exe_dir);
        }
        let mut seen = std::collections::HashSet::new();
        dirs.retain(|d| seen.insert(d.clone()));
        SearchPath { dirs }
    }

    /// The library for `plugin`: a name looked up on the path, or a path used as given.
    pub fn locate(&self, plugin: &str) -> Result<PathBuf, LoadError> {
        if plugin.contains(std::path::MAIN_SEPARATOR)
            || plugin.ends_with(std::env::consts::DLL_SUFFIX)
        {
            let path = PathBuf::from(plugin);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(LoadError::NotFound {
                    plugin: plugin.to_owned(),
                    file: path.display().to_string(),
                    searched: vec![],
                })
            };
        }
        let file = library_file_name(plugin);
        self.dirs
            .iter()
            .map(|d| d.join(&file))
            .find(|p| p.is_file())
            .ok_or_else(|| LoadError::NotFound {
                plugin: plugin.to_owned(),
                file,
                searched: self.dirs.clone(),
            })
    }
}

/// Why one plugin could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// No library file for the plugin on the search path.
    NotFound {
        /// The plugin as named in the config.
        plugin: String,
        /// The file name looked for.
        file: String,
        /// The folders searched.
        searched: Vec<PathBuf>,
    },
    /// The file could not be opened as a shared library.
    Open {
        /// The library.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// The library is not a facelab plugin (no abi_stable root module).
    NotAPlugin {
        /// The library.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// The plugin was built against an incompatible plugin-api version.
    AbiVersion {
        /// The library.
        path: PathBuf,
        /// The plugin-api version the plugin was built against.
        found: String,
    },
    /// Same version, but the types differ (the plugin-api source was changed locally).
    AbiLayout {
        /// The library.
        path: PathBuf,
        /// abi_stable's full report; very long, shown with `--verbose`.
        details: String,
    },
    /// The plugin does not declare a capability the host needs.
    MissingCapability {
        /// The library.
        path: PathBuf,
        /// The missing capability.
        capability: String,
    },
}

fn rebuild_hint(path: &Path) -> String {
    format!(
        "rebuild the plugin against facelab-plugin-api {ABI_VERSION}: in its crate, set `facelab-plugin-api = \"{ABI_VERSION}\"` and run `cargo build --release`, then replace {}",
        path.display()
    )
}

impl LoadError {
    /// The message for `--verbose`, with abi_stable's full layout report when there is one.
    pub fn verbose(&self) -> String {
        match self {
            LoadError::AbiLayout { details, .. } => format!("{self}\n{details}"),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound { plugin, file, searched } if searched.is_empty() => {
                write!(f, "plugin `{plugin}`: no such file {file} (help: check the path in the config)")
            }
            LoadError::NotFound { plugin, file, searched } => write!(
                f,
                "plugin `{plugin}`: {file} not found in {} (help: build it with `cargo build --release --workspace`, or add its folder to {PLUGIN_PATH_ENV} or plugins.search_path)",
                searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
            LoadError::Open { path, message } => write!(
                f,
                "cannot open plugin {}: {message} (help: is it a shared library for this machine? rebuild it)",
                path.display()
            ),
            LoadError::NotAPlugin { path, message } => write!(
                f,
                "{} is not a facelab plugin: {message} (help: plugins export a root module with #[export_root_module]; see plugins/example)",
                path.display()
            ),
            LoadError::AbiVersion { path, found } => write!(
                f,
                "plugin {} was built for plugin ABI {found}, but this facelab uses ABI {ABI_VERSION} (help: {})",
                path.display(),
                rebuild_hint(path)
            ),
            LoadError::AbiLayout { path, .. } => write!(
                f,
                "plugin {} declares ABI {ABI_VERSION} but its types differ from this facelab's (help: {}; --verbose shows the full layout report)",
                path.display(),
                rebuild_hint(path)
            ),
            LoadError::MissingCapability { path, capability } => write!(
                f,
                "plugin {} lacks capability `{capability}` (help: update the plugin)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// Every plugin that failed to load, reported together.
#[derive(Debug)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} plugin(s) failed to load:", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// One loaded plugin library.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// The library file.
    pub path: PathBuf,
    /// Its root module.
    pub module: PluginModule_Ref,
    /// What it provides.
    pub info: PluginInfo,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

/// Loads one plugin library and checks its ABI and capabilities.
pub fn load(path: &Path) -> Result<LoadedPlugin, LoadError> {
    let header = lib_header_from_path(path).map_err(|e| classify(path, e))?;
    // Check the version first: abi_stable would report it inside a layout report of
    // thousands of lines.
    let found = header.version_strings();
    if !abi_compatible(found.version.as_str(), ABI_VERSION) {
        return Err(LoadError::AbiVersion {
            path: path.to_owned(),
            found: found.version.to_string(),
        });
    }
    let module = header
        .init_root_module::<PluginModule_Ref>()
        .map_err(|e| classify(path, e))?;
    let info = (module.plugin_info())();
    if !info
        .capabilities
        .iter()
        .any(|c| c.as_str() == CAP_PANIC_SAFE)
    {
        return Err(LoadError::MissingCapability {
            path: path.to_owned(),
            capability: CAP_PANIC_SAFE.to_owned(),
        });
    }
    Ok(LoadedPlugin {
        path: path.to_owned(),
        module,
        info,
    })
}

/// Semver compatibility as abi_stable applies it: same major, and same minor while 0.x.
fn abi_compatible(found: &str, ours: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split('.')
            .take(2)
            .map(|p| p.parse().unwrap_or(u64::MAX))
            .collect()
    };
    let (f, o) = (parts(found), parts(ours));
    match (f.as_slice(), o.as_slice()) {
        ([0, fm], [0, om]) => fm == om,
        ([fmaj, ..], [omaj, ..]) => fmaj == omaj,
        _ => false,
    }
}

fn classify(path: &Path, e: LibraryError) -> LoadError {
    let path = path.to_owned();
    match e {
        LibraryError::OpenError { err, .. } => LoadError::Open {
            path,
            message: err.to_string(),
        },
        LibraryError::GetSymbolError { err, .. } => LoadError::NotAPlugin {
            path,
            message: err.to_string(),
        },
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => LoadError::AbiVersion {
            path,
            found: actual_version.to_string(),
        },
        LibraryError::AbiInstability(details) => LoadError::AbiLayout {
            path,
            details: details.to_string(),
        },
        other => LoadError::NotAPlugin {
            path,
            message: other.to_string().lines().next().unwrap_or("").to_owned(),
        },
    }
}

/// The plugins a config needs, loaded, by the name the config uses.
#[derive(Debug, Default)]
pub struct PluginSet {
    /// Loaded plugins keyed by config name.
    pub plugins: BTreeMap<String, LoadedPlugin>,
}

impl PluginSet {
    /// Loads each named plugin; returns every failure together if any fails.
    pub fn load<'a>(
        names: impl IntoIterator<Item = &'a str>,
        search: &SearchPath,
    ) -> Result<Self, LoadErrors> {
        let mut set = PluginSet::default();
        let mut errors = Vec::new();
        for name in names {
            if set.plugins.contains_key(name) {
                continue;
            }
            match search.locate(name).and_then(|p| load(&p)) {
                Ok(plugin) => {
                    set.plugins.insert(name.to_owned(), plugin);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(LoadErrors(errors))
        }
    }

    /// The plugin the config calls `name`.
    pub fn get(&self, name: &str) -> Option<&LoadedPlugin> {
        self.plugins.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_compatibility_follows_semver_with_0x_minor_as_breaking() {
        assert!(abi_compatible("0.1.0", "0.1.0"));
        assert!(abi_compatible("0.1.7", "0.1.0"));
        assert!(!abi_compatible("0.2.0", "0.1.0"));
        assert!(abi_compatible("1.4.0", "1.0.2"));
        assert!(!abi_compatible("2.0.0", "1.0.0"));
        assert!(!abi_compatible("garbage", "0.1.0"));
    }

    #[test]
    fn plugin_names_map_to_library_files() {
        assert_eq!(library_file_name("opencv-dnn"), "libfacelab_opencv_dnn.so");
    }
}
