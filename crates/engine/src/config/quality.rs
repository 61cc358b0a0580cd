//! `[library] min_quality`: the quality a face needs to take part in suggestions and
//! clusters (measured by `crate::quality`).

use serde::{Deserialize, Serialize};

/// `[library] min_quality`: faces whose quality is below it stay out of suggestions and
/// clusters. A number from 0 (off) to 1; the config checks the range when it is read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MinQuality(f32);

/// The default `min_quality`; see [`MinQuality::default`] for the rule.
pub const DEFAULT_MIN_QUALITY: f32 = 0.0;

impl Default for MinQuality {
    /// [`DEFAULT_MIN_QUALITY`], 0: off. Rule: the largest value on the grid 0, 0.05, 0.1,
    /// 0.15, 0.2, 0.3, 0.4, 0.5, 0.6 at which, and at every smaller grid value, the BCubed F
    /// over every face of the LFW clustering set (a face left out counted as a cluster of its
    /// own, as a user sees it) is at least the ungated F with the default method (Chinese
    /// Whispers). None above 0 is: LFW's faces are nearly all good (15 of 5,894 below 0.5),
    /// and leaving a few out only costs recall (0.9877 ungated; 0.9825 at 0.1, 0.9860 at
    /// 0.3). The tables, a rerun at the current detector defaults, and the same with a fifth
    /// of the photos degraded are in `docs/library.md`.
    fn default() -> Self {
        MinQuality(DEFAULT_MIN_QUALITY)
    }
}

impl MinQuality {
    /// A threshold in [0, 1]; `None` outside.
    pub fn new(value: f32) -> Option<MinQuality> {
        MinQuality(value).is_valid().then_some(MinQuality(value))
    }

    /// Whether the value is in [0, 1] (a value read from a config may not be).
    pub fn is_valid(self) -> bool {
        (0.0..=1.0).contains(&self.0)
    }

    /// The value.
    pub fn value(self) -> f32 {
        self.0
    }

    /// Whether a face of quality `q` takes part in suggestions and clusters. An unknown
    /// quality (a face stored before facelab measured quality) passes.
    pub fn passes(self, q: Option<f32>) -> bool {
        q.is_none_or(|q| q >= self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_quality_is_a_fraction_and_unknown_quality_passes() {
        assert!(MinQuality::new(1.5).is_none() && MinQuality::new(-0.1).is_none());
        let m = MinQuality::new(0.4).unwrap();
        assert!(m.passes(None) && m.passes(Some(0.4)) && !m.passes(Some(0.39)));
    }
}
