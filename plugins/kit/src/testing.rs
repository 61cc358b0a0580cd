//! What plugins' integration tests share (feature `testing`, for dev-dependencies): the
//! shared models and datasets beside the repository, and [`require_shared!`](crate::require_shared),
//! which skips a test without them or fails it when CI requires them.

use std::path::{Path, PathBuf};

/// The environment variable that turns a missing `../shared` from a skip into a failure
/// (`.ci/run` sets it), as in the host's tests.
pub const REQUIRE_SHARED: &str = "FACELAB_REQUIRE_SHARED";

/// `../shared` beside the repository (or `$FACELAB_SHARED`) when it holds every folder of
/// `needs` (`"models"`, `"datasets/samples"`), else what is missing, as a sentence.
pub fn locate_shared(needs: &[&str]) -> Result<PathBuf, String> {
    let (dir, from) = match std::env::var_os("FACELAB_SHARED") {
        Some(d) => (PathBuf::from(d), "FACELAB_SHARED"),
        // This crate is plugins/kit; `shared` sits beside the repository.
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
            "beside the repository",
        ),
    };
    holding(dir, from, needs)
}

/// `dir` when it holds every folder of `needs`; else what is missing, saying the folder
/// came `from` where.
fn holding(dir: PathBuf, from: &str, needs: &[&str]) -> Result<PathBuf, String> {
    let missing: Vec<&str> = needs
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_dir())
        .collect();
    if missing.is_empty() {
        Ok(dir)
    } else {
        Err(format!(
            "{} not found in {} ({from})",
            missing.join(" and "),
            dir.display()
        ))
    }
}

/// Whether a missing `../shared` must fail the test: `FACELAB_REQUIRE_SHARED` is set to
/// anything but empty or `0`.
pub fn shared_required() -> bool {
    std::env::var_os(REQUIRE_SHARED).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Returns `../shared` when it holds the folders named (`require_shared!(&["models",
/// "datasets/samples"])`); when it does not, returns from the calling test with a `SKIPPED`
/// message, or fails it when `FACELAB_REQUIRE_SHARED=1` (CI).
#[macro_export]
macro_rules! require_shared {
    ($needs:expr) => {
        match $crate::testing::locate_shared($needs) {
            Ok(dir) => dir,
            Err(missing) if $crate::testing::shared_required() => panic!(
                "{} is set but the shared folder is incomplete: {missing}",
                $crate::testing::REQUIRE_SHARED
            ),
            Err(missing) => {
                eprintln!(
                    "SKIPPED: {missing}; set FACELAB_SHARED to the shared folder to run this test"
                );
                return;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_missing_is_named() {
        let dir = std::env::temp_dir().join(format!("facelab-kit-shared-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("models")).unwrap();
        assert_eq!(holding(dir.clone(), "test", &["models"]), Ok(dir.clone()));
        let e = holding(
            dir.clone(),
            "test",
            &["models", "datasets/samples", "datasets/lfw"],
        )
        .unwrap_err();
        assert!(
            e.starts_with("datasets/samples and datasets/lfw not found in")
                && e.ends_with("(test)"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
