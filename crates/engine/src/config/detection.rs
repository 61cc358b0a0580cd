//! `[detection]`: the options of robust detection and of the second look, with their
//! defaults. The code that uses them is `crate::robust` and `crate::verify`.

use serde::Deserialize;

/// `[detection]`: the robust-detection options.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RobustOptions {
    /// Also detect on overlapping full-resolution tiles when the photo is larger than the
    /// network input, and merge with the whole-photo pass.
    pub tiling: bool,
    /// Tile side as a multiple of the network's input side (1.0 = full resolution).
    pub tile_scale: f32,
    /// Fraction of a tile shared with its neighbour.
    pub tile_overlap: f32,
    /// Most tiles per photo; tiles grow to stay within it.
    pub max_tiles: u32,
    /// When nothing is found, retry on the photo padded by this fraction of its long side
    /// on every side (0 turns it off): a face that fills the frame is found.
    pub closeup_padding: f32,
    /// When nothing is found and the photo had no EXIF orientation, retry rotated by 90°,
    /// 180° and 270°, and map boxes back.
    pub rotation_retry: bool,
    /// IoU above which faces from different passes are one face.
    pub merge_iou: f32,
    /// Look again at the faces scoring between the model's `verify_from` and its threshold
    /// (`crate::verify`); off keeps only faces at the threshold.
    pub verify: bool,
    /// Candidates from this score up are looked at again [default: the model's manifest
    /// `verify_from`].
    pub verify_from: Option<f32>,
    /// The evidence (mean of the candidate's score and its two second scores) a candidate
    /// needs [default: the model's manifest `verify_second`].
    pub verify_score: Option<f32>,
    /// The square cut around a candidate, as a multiple of its long side.
    pub verify_context: f32,
    /// That square's side once scaled, in pixels.
    pub verify_size: u32,
}

/// The default [`RobustOptions::verify_context`]; see plugins/opencv-dnn/README.md.
pub const VERIFY_CONTEXT: f32 = 3.0;
/// The default [`RobustOptions::verify_size`].
pub const VERIFY_SIZE: u32 = 240;

impl RobustOptions {
    /// Checks the values; an error gives the key (under `[detection]`), what is wrong and
    /// the fix.
    pub fn check(&self) -> Result<(), (&'static str, String, &'static str)> {
        let range = |key, v: f32, lo: f32, hi: f32, fix| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err((key, format!("= {v} is out of range"), fix))
            }
        };
        range(
            "tile_overlap",
            self.tile_overlap,
            0.0,
            0.9,
            "use a fraction from 0 to 0.9",
        )?;
        range(
            "tile_scale",
            self.tile_scale,
            0.25,
            8.0,
            "use a value from 0.25 to 8",
        )?;
        range(
            "closeup_padding",
            self.closeup_padding,
            0.0,
            2.0,
            "use a fraction from 0 (off) to 2",
        )?;
        for (key, v) in [
            ("verify_from", self.verify_from),
            ("verify_score", self.verify_score),
        ] {
            if let Some(v) = v {
                range(key, v, 0.01, 0.99, "use a detector score from 0.01 to 0.99")?;
            }
        }
        range(
            "verify_context",
            self.verify_context,
            1.2,
            6.0,
            "use a multiple of the face's side from 1.2 to 6, for example 3",
        )?;
        if !(48..=1024).contains(&self.verify_size) {
            return Err((
                "verify_size",
                format!("= {} is out of range", self.verify_size),
                "use a side from 48 to 1024 pixels, for example 240",
            ));
        }
        Ok(())
    }
}

impl Default for RobustOptions {
    fn default() -> Self {
        RobustOptions {
            tiling: false,
            tile_scale: 1.0,
            tile_overlap: 0.25,
            max_tiles: 16,
            // Measured on the 40 tight 150x150 crops of samples/bbt/people: YuNet finds
            // 0 / 19 / 38 / 40 at padding 0 / 0.2 / 0.3 / 0.5, YOLO 27 / 40 / 40 / 40. Rule:
            // the smallest padding at which every detector finds them all. It only runs
            // when the direct pass found nothing.
            closeup_padding: 0.5,
            rotation_retry: false,
            merge_iou: 0.4,
            verify: true,
            verify_from: None,
            verify_score: None,
            verify_context: VERIFY_CONTEXT,
            verify_size: VERIFY_SIZE,
        }
    }
}
