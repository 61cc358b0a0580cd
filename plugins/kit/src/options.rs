//! The options every backend shares, typed once, and the parser that reads a backend's
//! options table into them.
//!
//! A backend's `[detector.options]` or `[recognizer.options]` is one flat table: the
//! shared keys ([`DetectorOptions`] or [`EmbedderOptions`]) plus the backend's own keys (a
//! struct the backend defines, such as its thread count). [`parse_with_backend`] splits the
//! table by the two structs' field names and reads each part with `deny_unknown_fields`.
//! That split is the reason this is not `#[serde(flatten)]`: serde cannot combine
//! `flatten` with `deny_unknown_fields`, and a misspelt key must stay an error naming it.
//!
//! Every option error is an [`ErrorCode::INVALID_CONFIG`] [`PluginError`] whose message
//! *begins with the dotted key* (`detector.options.min_face_size = "big": expected a
//! number (pixels)`). That prefix is the structured part: [`option_key`] reads it back,
//! and the host uses it to name the config file's line.

use facelab_plugin_api::{ErrorCode, Face, PluginError};
use serde::de::{self, DeserializeOwned, Visitor};
use serde::Deserialize;

use crate::align::Profile;
use crate::geometry::{FaceFilter, Letterbox, INPUT_MULTIPLE};

/// The score threshold of a detector whose model the manifest does not describe. The
/// host passes the manifest's per-model default for every model it knows.
pub const DEFAULT_SCORE_THRESHOLD: f32 = 0.5;

/// An option that is missing, of the wrong type, out of range or unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionError {
    /// `detector.options` or `recognizer.options`.
    pub section: String,
    /// The key inside the section.
    pub key: String,
    /// The value as written (TOML syntax), or `None` when the key is missing.
    pub value: Option<String>,
    /// What the key takes, e.g. `a number (pixels)`; for an unknown key, the known keys.
    pub expected: String,
}

impl OptionError {
    /// The [`PluginError`] that carries this across the ABI; its message starts with the
    /// dotted key so [`option_key`] can read it back.
    pub fn into_plugin_error(self) -> PluginError {
        let key = format!("{}.{}", self.section, self.key);
        let message = match &self.value {
            Some(v) => format!("{key} = {v}: expected {}", self.expected),
            None => format!("{key} is missing: expected {}", self.expected),
        };
        let help = if self.value.is_none() {
            "set the key, or name a model id from `facelab models list`, whose manifest entry declares it"
        } else {
            "fix the value; the plugin's README lists every option with its type and default"
        };
        PluginError::new(ErrorCode::INVALID_CONFIG, message, help)
    }
}

impl From<OptionError> for PluginError {
    fn from(e: OptionError) -> Self {
        e.into_plugin_error()
    }
}

/// The dotted key (`detector.options.min_face_size`) an option error names, or `None`
/// for any other error.
pub fn option_key(error: &PluginError) -> Option<&str> {
    if error.code != ErrorCode::INVALID_CONFIG {
        return None;
    }
    let message = error.message.as_str();
    let rest = ["detector.options.", "recognizer.options."]
        .iter()
        .find_map(|s| message.strip_prefix(s).map(|r| (s.len(), r)))?;
    let key_len = rest
        .1
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.1.len());
    (key_len > 0).then(|| &message[..rest.0 + key_len])
}

/// A short description of a shared key's unit or range, added to the type it takes.
fn unit(key: &str) -> Option<&'static str> {
    Some(match key {
        "score_threshold" => "from 0 to 1",
        "nms_iou" => "an IoU from 0 to 1",
        "min_face_size" | "input_width" | "input_height" | "max_input_side" => "pixels",
        "threads" => "threads",
        "mean" => "one value, or one per channel",
        "dim" => "the embedding's dimension",
        _ => return None,
    })
}

/// What serde's expectation (`f32`, `a boolean`, `` one of `a`, `b` ``) means to a user.
fn plain_type(serde_expected: &str) -> String {
    let t = serde_expected.trim();
    match t {
        "f32" | "f64" => "a number".to_owned(),
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            "a whole number".to_owned()
        }
        "a boolean" => "true or false".to_owned(),
        "a sequence" => "a list".to_owned(),
        other => other.replace('`', "\""),
    }
}

fn with_unit(key: &str, ty: String) -> String {
    match unit(key) {
        Some(u) => format!("{ty} ({u})"),
        None => ty,
    }
}

/// Reads `text` (one flat table) into `T`, naming the key of any error.
pub fn parse<T: DeserializeOwned>(text: &str, section: &str) -> Result<T, PluginError> {
    toml::from_str(text).map_err(|e| describe::<T>(text, section, &e))
}

/// Turns a TOML/serde error into an [`OptionError`] naming the key and expected type.
fn describe<T: DeserializeOwned>(text: &str, section: &str, e: &toml::de::Error) -> PluginError {
    let message = e.message().trim();
    let quoted = |after: &str| {
        message
            .split_once(after)
            .and_then(|(_, r)| r.split_once('`'))
            .map(|(k, _)| k.to_owned())
    };
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count())
        .and_then(|n| text.lines().nth(n));
    let key_value = line.and_then(|l| {
        l.split_once('=')
            .map(|(k, v)| (k.trim().trim_matches('"').to_owned(), v.trim().to_owned()))
    });
    let error = if let Some(key) = quoted("unknown field `") {
        OptionError {
            section: section.into(),
            value: key_value
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v)
                .or(Some(String::new())),
            key,
            expected: format!("one of the keys {}", field_names::<T>().join(", ")),
        }
    } else if let Some(key) = quoted("missing field `") {
        OptionError {
            section: section.into(),
            expected: with_unit(&key, "a value".into()),
            key,
            value: None,
        }
    } else if let (Some((key, value)), Some((_, expected))) =
        (key_value, message.rsplit_once("expected "))
    {
        OptionError {
            section: section.into(),
            expected: with_unit(&key, plain_type(expected)),
            key,
            value: Some(value),
        }
    } else {
        return PluginError::new(
            ErrorCode::INVALID_CONFIG,
            format!("invalid options in [{section}]: {message}"),
            "check the key names and value types against the plugin's README",
        );
    };
    error.into()
}

/// Reads one flat options table into the kit's shared part `S` and a backend's own part
/// `B`. A key in neither is an error naming it and listing the keys of both.
pub fn parse_with_backend<S: DeserializeOwned, B: DeserializeOwned>(
    text: &str,
    section: &str,
) -> Result<(S, B), PluginError> {
    let table: toml::Table = parse(text, section)?;
    let (shared_keys, backend_keys) = (field_names::<S>(), field_names::<B>());
    let (mut shared, mut backend) = (toml::Table::new(), toml::Table::new());
    for (key, value) in table {
        if shared_keys.contains(&key.as_str()) {
            shared.insert(key, value);
        } else if backend_keys.contains(&key.as_str()) {
            backend.insert(key, value);
        } else {
            return Err(OptionError {
                section: section.into(),
                value: Some(toml::Value::to_string(&value)),
                key,
                expected: format!(
                    "one of the keys {}",
                    shared_keys
                        .iter()
                        .chain(backend_keys)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
            .into());
        }
    }
    // Each part is read from its own text, so an error's span points at its own line.
    let part = |t: toml::Table| toml::to_string(&t).unwrap_or_default();
    Ok((
        parse(&part(shared), section)?,
        parse(&part(backend), section)?,
    ))
}

/// The field names of a struct that derives `Deserialize` (read from what the derive
/// passes to `deserialize_struct`), so the split above never repeats them.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("field names read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// The error for a value of `key` in `section` (`detector.options`) that parses but is out
/// of range or not allowed here; `value` is written as the config writes it (quote strings)
/// and `expected` says what the key takes.
pub fn out_of_range(section: &str, key: &str, value: impl ToString, expected: &str) -> PluginError {
    OptionError {
        section: section.into(),
        key: key.into(),
        value: Some(value.to_string()),
        expected: expected.into(),
    }
    .into()
}

/// The most threads a backend's `threads` key takes.
pub const MAX_THREADS: u32 = 64;

/// Checks a backend's `threads` key in `section`: 1 to [`MAX_THREADS`]. `default` is the
/// backend's own default, named in the error when it has one.
pub fn check_threads(section: &str, threads: u32, default: Option<u32>) -> Result<(), PluginError> {
    if (1..=MAX_THREADS).contains(&threads) {
        return Ok(());
    }
    let expected = match default {
        Some(d) => format!("1 to {MAX_THREADS} threads ({d} is the default)"),
        None => format!("1 to {MAX_THREADS} threads"),
    };
    Err(out_of_range(section, "threads", threads, &expected))
}

/// The keys every detector backend takes, in `[detector.options]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorOptions {
    /// Faces scoring below this are dropped. facelab sets it from the model manifest's
    /// default when the config does not.
    pub score_threshold: f32,
    /// Faces whose shorter side is below this many photo pixels are dropped.
    pub min_face_size: f32,
    /// Boxes overlapping more than this IoU are merged by NMS.
    pub nms_iou: f32,
    /// Keep the aspect ratio (pad) instead of stretching the photo to the input shape.
    pub letterbox: bool,
    /// Network input width; default: the model's own, or the family's usual size for a
    /// model with a dynamic input. Must match a model with a fixed input.
    pub input_width: Option<u32>,
    /// Network input height; see `input_width`.
    pub input_height: Option<u32>,
    /// Run the network at the photo's own size (long side capped at `max_input_side`,
    /// rounded up to a multiple of 32) instead of at a fixed size. Default: per family, as
    /// its authors evaluated it (on for YuNet and RetinaFace, off for SSD, YOLO, SCRFD).
    pub photo_sized_input: Option<bool>,
    /// The longest input side with `photo_sized_input`.
    pub max_input_side: u32,
}

/// The default `min_face_size`: the shorter side a box needs to match the smallest face a
/// person tags (see [`DetectorOptions::default`]).
pub const MIN_FACE_SIZE: f32 = 17.0;

impl Default for DetectorOptions {
    fn default() -> Self {
        DetectorOptions {
            score_threshold: DEFAULT_SCORE_THRESHOLD,
            // A face a person tags is at least 32 px tall (docs/detection.md), so about 24 px
            // wide at WIDER's median aspect of 0.76; a box whose shorter side is under
            // 24 × √0.5 ≈ 17 px covers less than half of it and can never match it at IoU 0.5.
            min_face_size: MIN_FACE_SIZE,
            nms_iou: 0.4,
            letterbox: true,
            input_width: None,
            input_height: None,
            photo_sized_input: None,
            max_input_side: 1280,
        }
    }
}

impl DetectorOptions {
    /// The section these keys live in.
    pub const SECTION: &'static str = "detector.options";

    /// Checks every range, naming the key.
    pub fn validate(&self) -> Result<(), PluginError> {
        let s = Self::SECTION;
        if !(0.0..=1.0).contains(&self.score_threshold) {
            return Err(out_of_range(
                s,
                "score_threshold",
                self.score_threshold,
                "a number from 0 to 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.nms_iou) {
            return Err(out_of_range(
                s,
                "nms_iou",
                self.nms_iou,
                "a number from 0 to 1 (0.4 is usual)",
            ));
        }
        if self.min_face_size.is_nan() || self.min_face_size < 0.0 {
            return Err(out_of_range(
                s,
                "min_face_size",
                self.min_face_size,
                "0 or more (pixels)",
            ));
        }
        for (key, v) in [
            ("input_width", self.input_width),
            ("input_height", self.input_height),
        ] {
            if let Some(v) = v.filter(|v| !(32..=4096).contains(v)) {
                return Err(out_of_range(s, key, v, "a size from 32 to 4096 (pixels)"));
            }
        }
        if !(32..=8192).contains(&self.max_input_side) {
            return Err(out_of_range(
                s,
                "max_input_side",
                self.max_input_side,
                "a size from 32 to 8192 (pixels)",
            ));
        }
        Ok(())
    }

    /// The score, size and NMS filters.
    pub fn filter(&self) -> FaceFilter {
        FaceFilter {
            score_threshold: self.score_threshold,
            min_face_size: self.min_face_size,
            nms_iou: self.nms_iou,
        }
    }

    /// The fixed network input: `input_width × input_height`, `default`'s side for a key that
    /// is not set (the family's usual size, or the model's own). Each side must be a
    /// multiple of [`INPUT_MULTIPLE`]; the error names the key that is not, or says the
    /// model's own size is not, and `usual` (`640 for the 2023mar model`) says what to set.
    pub fn input_size(&self, default: (u32, u32), usual: &str) -> Result<(u32, u32), PluginError> {
        let size = (
            self.input_width.unwrap_or(default.0),
            self.input_height.unwrap_or(default.1),
        );
        for (key, set, side) in [
            ("input_width", self.input_width, size.0),
            ("input_height", self.input_height, size.1),
        ] {
            if side.is_multiple_of(INPUT_MULTIPLE) {
                continue;
            }
            let expected = format!("a multiple of {INPUT_MULTIPLE} ({usual})");
            return Err(match set {
                Some(_) => out_of_range(Self::SECTION, key, side, &expected),
                None => PluginError::new(
                    ErrorCode::MODEL,
                    format!(
                        "the model's own input {}x{} is not a multiple of {INPUT_MULTIPLE}",
                        size.0, size.1
                    ),
                    format!("set input_width and input_height to multiples of {INPUT_MULTIPLE} ({usual})"),
                ),
            });
        }
        Ok(size)
    }

    /// How a `width × height` photo goes into a `input_w × input_h` network input:
    /// letterboxed, or stretched when `letterbox = false`.
    pub fn fit_input(&self, width: u32, height: u32, input_w: u32, input_h: u32) -> Letterbox {
        if self.letterbox {
            Letterbox::fit(width, height, input_w, input_h)
        } else {
            Letterbox::stretch(width, height, input_w, input_h)
        }
    }

    /// The faces a detector decoded in network pixels, mapped back through `lb` (from
    /// [`fit_input`](Self::fit_input)) to the `width × height` photo and filtered
    /// ([`filter`](Self::filter)): the last step of every letterboxing detector.
    pub fn faces_in_photo(
        &self,
        lb: &Letterbox,
        faces: Vec<Face>,
        width: u32,
        height: u32,
    ) -> Vec<Face> {
        let faces = faces.into_iter().map(|f| lb.face_to_src(f)).collect();
        self.filter().apply(faces, width, height)
    }
}

/// The channel order a recognizer's network expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    /// Blue, green, red (OpenCV's order).
    #[default]
    Bgr,
    /// Red, green, blue.
    Rgb,
}

/// Where the five alignment points come from for a face whose detector gave none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LandmarkSource {
    /// Their mean positions inside the face box (a documented, less precise fallback).
    #[default]
    Box,
    /// The 106-point Caffe landmark model, whose files the host appends to the model
    /// files (`[recognizer] landmarks = "landmark106"`).
    Landmark106,
}

/// The keys every embedder backend takes, in `[recognizer.options]`. facelab fills
/// `profile`, `colour`, `mean`, `scale` and `dim` from the model manifest when the config
/// does not set them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderOptions {
    /// Alignment profile: `arcface-112`, `arcface-112-opencv` (the same in OpenCV's pixel
    /// convention, for SFace), `openface-96` or `facenet-160`.
    pub profile: Profile,
    /// Channel order the network expects.
    #[serde(default)]
    pub colour: Colour,
    /// Mean subtracted per channel (one value, or one per channel in network order).
    #[serde(default)]
    pub mean: Vec<f32>,
    /// Factor applied after subtracting the mean.
    #[serde(default = "one")]
    pub scale: f32,
    /// The embedding's dimension, checked at load time.
    #[serde(default)]
    pub dim: Option<u32>,
    /// L2-normalise the output.
    #[serde(default = "yes")]
    pub normalize: bool,
    /// Where alignment points come from for faces without landmarks.
    #[serde(default)]
    pub landmarks: LandmarkSource,
    /// Also embed each crop mirrored left to right, and keep the mean of the two vectors
    /// ([`crate::align::fold_mirrored`]): the "flipped images" of FaceNet's and ArcFace's
    /// published LFW protocols. It doubles the cost of embedding.
    #[serde(default)]
    pub mirror: bool,
}

fn one() -> f32 {
    1.0
}
fn yes() -> bool {
    true
}

impl EmbedderOptions {
    /// The section these keys live in.
    pub const SECTION: &'static str = "recognizer.options";

    /// The mean as three channels, after checking `mean` and `scale`.
    pub fn mean3(&self) -> Result<[f32; 3], PluginError> {
        let s = Self::SECTION;
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(out_of_range(
                s,
                "scale",
                self.scale,
                "a positive number, e.g. 0.0078125 for 1/128",
            ));
        }
        match self.mean.as_slice() {
            [] => Ok([0.0; 3]),
            [m] => Ok([*m; 3]),
            [a, b, c] => Ok([*a, *b, *c]),
            other => Err(out_of_range(
                s,
                "mean",
                format!("{other:?}"),
                "one value, or one per channel",
            )),
        }
    }

    /// Whether the network takes RGB (rather than BGR).
    pub fn rgb(&self) -> bool {
        self.colour == Colour::Rgb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Backend {
        threads: u32,
    }

    fn detector(text: &str) -> Result<(DetectorOptions, Backend), PluginError> {
        parse_with_backend(text, DetectorOptions::SECTION)
    }

    #[test]
    fn a_string_where_a_number_belongs_names_key_value_and_type() {
        let e = detector("min_face_size = \"big\"").unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
        assert_eq!(
            e.message.as_str(),
            "detector.options.min_face_size = \"big\": expected a number (pixels)"
        );
        assert_eq!(option_key(&e), Some("detector.options.min_face_size"));
        let e = detector("score_threshold = \"0.3\"").unwrap_err();
        assert_eq!(
            e.message.as_str(),
            "detector.options.score_threshold = \"0.3\": expected a number (from 0 to 1)"
        );
    }

    #[test]
    fn backend_keys_are_typed_too() {
        let e = detector("threads = 1.5").unwrap_err();
        assert_eq!(
            e.message.as_str(),
            "detector.options.threads = 1.5: expected a whole number (threads)"
        );
        let e = detector("letterbox = 1").unwrap_err();
        assert!(
            e.message.contains("letterbox = 1: expected true or false"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it_despite_the_split() {
        let e = detector("treads = 4").unwrap_err();
        assert_eq!(option_key(&e), Some("detector.options.treads"), "{e}");
        assert!(
            e.message.contains("score_threshold") && e.message.contains("threads"),
            "the known keys of both parts are listed: {e}"
        );
    }

    #[test]
    fn keys_go_to_their_part_and_defaults_fill_the_rest() {
        let (shared, backend) =
            detector("threads = 3\nmin_face_size = 20\nscore_threshold = 0.7").unwrap();
        assert_eq!(backend.threads, 3);
        assert_eq!(shared.min_face_size, 20.0);
        assert_eq!(shared.score_threshold, 0.7);
        assert_eq!(shared.nms_iou, DetectorOptions::default().nms_iou);
        let (shared, _) = detector("").unwrap();
        assert_eq!(shared.score_threshold, DEFAULT_SCORE_THRESHOLD);
    }

    #[test]
    fn field_names_are_read_from_the_derive() {
        assert_eq!(field_names::<Backend>(), ["threads"]);
        assert!(field_names::<DetectorOptions>().contains(&"min_face_size"));
        assert!(field_names::<EmbedderOptions>().contains(&"landmarks"));
    }

    #[test]
    fn out_of_range_values_name_the_key_for_every_backend() {
        for (text, key) in [
            ("min_face_size = -1", "min_face_size"),
            ("score_threshold = 1.5", "score_threshold"),
            ("nms_iou = 2", "nms_iou"),
            ("input_width = 8", "input_width"),
            ("max_input_side = 9000", "max_input_side"),
        ] {
            let (o, _) = detector(text).unwrap();
            let e = o.validate().unwrap_err();
            assert_eq!(
                option_key(&e),
                Some(format!("detector.options.{key}").as_str()),
                "{e}"
            );
        }
    }

    #[test]
    fn embedder_enums_are_typed() {
        let parse_e = |t: &str| parse::<EmbedderOptions>(t, EmbedderOptions::SECTION);
        let o = parse_e("profile = \"arcface-112\"\ncolour = \"rgb\"\nlandmarks = \"landmark106\"")
            .unwrap();
        assert_eq!(o.profile, Profile::Arcface112);
        assert!(o.rgb());
        assert_eq!(o.landmarks, LandmarkSource::Landmark106);
        assert_eq!(o.mean3().unwrap(), [0.0; 3]);
        let e = parse_e("profile = \"arcface-112\"\ncolour = \"grb\"").unwrap_err();
        assert_eq!(option_key(&e), Some("recognizer.options.colour"), "{e}");
        assert!(e.message.contains("\"bgr\""), "{e}");
        let e = parse_e("profile = \"vgg-224\"").unwrap_err();
        assert!(e.message.contains("arcface-112"), "{e}");
        assert!(e.message.contains("arcface-112-opencv"), "{e}");
        let o = parse_e("profile = \"arcface-112-opencv\"").unwrap();
        assert_eq!(o.profile, Profile::Arcface112Opencv);
        let e = parse_e("colour = \"rgb\"").unwrap_err();
        assert_eq!(
            e.message.as_str(),
            "recognizer.options.profile is missing: expected a value"
        );
        let o = parse_e("profile = \"facenet-160\"\nmean = [1.0, 2.0]").unwrap();
        assert_eq!(
            option_key(&o.mean3().unwrap_err()),
            Some("recognizer.options.mean")
        );
    }

    #[test]
    fn threads_are_checked_naming_the_key_and_the_default() {
        assert!(check_threads("detector.options", 1, None).is_ok());
        assert!(check_threads("detector.options", MAX_THREADS, Some(2)).is_ok());
        let e = check_threads("recognizer.options", 0, Some(2)).unwrap_err();
        assert_eq!(
            e.message.as_str(),
            "recognizer.options.threads = 0: expected 1 to 64 threads (2 is the default)"
        );
        let e = check_threads("detector.options", 65, None).unwrap_err();
        assert_eq!(option_key(&e), Some("detector.options.threads"), "{e}");
        assert!(e.message.ends_with("expected 1 to 64 threads"), "{e}");
    }

    #[test]
    fn the_input_size_names_the_key_that_is_not_a_multiple_of_32() {
        let (o, _) = detector("input_height = 320").unwrap();
        assert_eq!(
            o.input_size((640, 640), "640 is usual").unwrap(),
            (640, 320)
        );
        let (o, _) = detector("input_width = 500").unwrap();
        let e = o.input_size((640, 640), "640 is usual").unwrap_err();
        assert_eq!(
            e.message.as_str(),
            "detector.options.input_width = 500: expected a multiple of 32 (640 is usual)"
        );
        let (o, _) = detector("").unwrap();
        let e = o.input_size((416, 300), "the .cfg's").unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::MODEL,
            "the size came from the model: {e}"
        );
        assert!(e.message.contains("416x300"), "{e}");
    }

    #[test]
    fn faces_are_mapped_back_through_the_fit_and_filtered() {
        let (mut o, _) = detector("min_face_size = 0").unwrap();
        // A 200×100 photo letterboxed into 100×100: scale 0.5, 25 px bars top and bottom.
        let lb = o.fit_input(200, 100, 100, 100);
        assert_eq!((lb.pad_x, lb.pad_y, lb.scale_x), (0, 25, 0.5));
        let face = |score| Face::new(facelab_plugin_api::BBox::new(10.0, 35.0, 20.0, 20.0), score);
        let faces = o.faces_in_photo(&lb, vec![face(0.9), face(0.1)], 200, 100);
        assert_eq!(faces.len(), 1, "the low score is dropped: {faces:?}");
        let b = faces[0].bbox;
        assert_eq!((b.x, b.y, b.width, b.height), (20.0, 20.0, 40.0, 40.0));
        o.letterbox = false;
        let lb = o.fit_input(200, 100, 100, 100);
        assert_eq!((lb.pad_y, lb.scale_x, lb.scale_y), (0, 0.5, 1.0));
    }

    #[test]
    fn other_errors_have_no_option_key() {
        let e = PluginError::new(ErrorCode::MODEL, "detector.options.x = 1: no", "");
        assert_eq!(option_key(&e), None);
        let e = PluginError::new(ErrorCode::INVALID_CONFIG, "something else", "");
        assert_eq!(option_key(&e), None);
    }
}
