//! Fused recognizers: several models' embeddings of one face as one vector, and their
//! same-person rules as one cosine rule.
//!
//! [`fuse`] L2-normalises each model's embedding, scales it by 1/√k (k models) and
//! concatenates the parts. The fused vector has unit length, and the dot product of two
//! fused vectors is the mean of the models' cosine similarities, so everything that takes
//! the cosine of two embeddings (compare, the evaluations, the bench, suggestions,
//! clustering) compares by that mean without knowing the models were fused.
//!
//! A face missing some model's embedding (a library face whose scan of that model has not
//! run, or failed) is fused from the models it has: each present part scaled by
//! 1/√present, the missing parts zero. Two faces with the same models compare by the mean
//! of those models' cosines; a face with `p` of the `k` models against a complete one by
//! the mean over its `p` models times √(p/k), which errs towards "different people".
//!
//! Each recognizer declares its same-person rule in the manifest, as a cosine similarity or
//! a euclidean distance. [`CosineRule`] is that rule on cosine similarity: a euclidean
//! threshold `t` becomes the equivalent rule on vectors of the length `r` the model
//! declares (`embedding.norm`, 1 when absent): cosine ≥ 1 − t²/(2r²) (‖a − b‖² = 2r² −
//! 2r² cos θ for ‖a‖ = ‖b‖ = r). A fused recognizer's rule is the mean of its models' rules
//! ([`CosineRule::mean`]): the mean of cosines that are each at their model's threshold.

use facelab_cluster::linalg::normalized;
use facelab_models::manifest::{Model, Threshold, ThresholdKind};

/// The fused vector of one face: part `i` is model `i`'s embedding (`None` when the face
/// has none), `dims[i]` that model's dimension. Each present part is L2-normalised and
/// scaled by 1/√(present parts); a missing part, or one whose length is not its model's
/// dimension (a stale vector), is zeros. The result has `dims.iter().sum()` values.
///
/// # Panics
/// When `parts` and `dims` differ in length.
pub fn fuse(parts: &[Option<&[f32]>], dims: &[usize]) -> Vec<f32> {
    assert_eq!(parts.len(), dims.len(), "one dimension per part");
    let present: Vec<Option<&[f32]>> = parts
        .iter()
        .zip(dims)
        .map(|(p, d)| p.filter(|v| v.len() == *d))
        .collect();
    let n = present.iter().flatten().count();
    let scale = if n == 0 { 0.0 } else { 1.0 / (n as f32).sqrt() };
    let mut out = Vec::with_capacity(dims.iter().sum());
    for (part, dim) in present.iter().zip(dims) {
        match part {
            Some(v) => out.extend(normalized(v).into_iter().map(|x| x * scale)),
            None => out.extend(std::iter::repeat_n(0.0, *dim)),
        }
    }
    out
}

/// A recognizer's same-person rule as the library applies it: cosine similarity of
/// L2-normalised vectors, with the usable range the user may calibrate within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineRule {
    /// The default threshold.
    pub default: f32,
    /// The lowest usable threshold.
    pub min: f32,
    /// The highest usable threshold.
    pub max: f32,
}

/// Cosine similarity of two vectors of length `norm` at euclidean distance `d`.
pub fn cosine_of_distance(d: f32, norm: f32) -> f32 {
    1.0 - d * d / (2.0 * norm * norm)
}

impl CosineRule {
    /// The rule a manifest model declares: its threshold, with a euclidean one converted at
    /// the vector length the model declares. `None` without a recognizer threshold.
    pub fn of_model(m: &Model) -> Option<CosineRule> {
        let norm = m.embedding.and_then(|e| e.norm).unwrap_or(1.0);
        Self::with_norm(m.threshold.as_ref()?, norm)
    }

    /// The rule of a manifest threshold for unit vectors; `None` for a detector's score
    /// threshold.
    pub fn from_threshold(t: &Threshold) -> Option<CosineRule> {
        Self::with_norm(t, 1.0)
    }

    /// The rule of a manifest threshold for vectors of length `norm`.
    pub fn with_norm(t: &Threshold, norm: f32) -> Option<CosineRule> {
        match t.kind {
            ThresholdKind::Cosine => Some(CosineRule {
                default: t.default,
                min: t.min,
                max: t.max,
            }),
            // A larger distance is a smaller similarity: the range's ends swap.
            ThresholdKind::Euclidean => Some(CosineRule {
                default: cosine_of_distance(t.default, norm),
                min: cosine_of_distance(t.max, norm),
                max: cosine_of_distance(t.min, norm),
            }),
            ThresholdKind::Score => None,
        }
    }

    /// The rule of a fused recognizer: the mean of its models' rules (default, lowest and
    /// highest), or `None` when a model declares none (nothing says where the mean of the
    /// cosines would be). The rule of one model is that model's.
    pub fn mean(rules: &[Option<CosineRule>]) -> Option<CosineRule> {
        let rules: Vec<CosineRule> = rules.iter().copied().collect::<Option<_>>()?;
        let n = rules.len() as f32;
        let mean = |f: fn(&CosineRule) -> f32| rules.iter().map(f).sum::<f32>() / n;
        (!rules.is_empty()).then(|| CosineRule {
            default: mean(|r| r.default),
            min: mean(|r| r.min),
            max: mean(|r| r.max),
        })
    }

    /// The rule as a manifest threshold of kind cosine.
    pub fn threshold(&self) -> Threshold {
        Threshold {
            kind: ThresholdKind::Cosine,
            default: self.default,
            min: self.min,
            max: self.max,
            verify_from: None,
            verify_second: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facelab_cluster::linalg::{cosine, dot};

    #[test]
    fn the_fused_dot_product_is_the_mean_of_the_cosines() {
        let (a1, a2) = ([3.0, 4.0, 0.0], [1.0, 2.0]);
        let (b1, b2) = ([4.0, 3.0, 1.0], [-2.0, 1.5]);
        let dims = [3, 2];
        let a = fuse(&[Some(&a1), Some(&a2)], &dims);
        let b = fuse(&[Some(&b1), Some(&b2)], &dims);
        assert_eq!(a.len(), 5);
        let mean = (cosine(&a1, &b1) + cosine(&a2, &b2)) / 2.0;
        assert!((dot(&a, &b) - mean).abs() < 1e-6);
        assert!((dot(&a, &a) - 1.0).abs() < 1e-6, "unit length");
    }

    #[test]
    fn a_missing_part_is_zeros_and_the_rest_compares_on_what_it_has() {
        let (a1, b1, b2) = ([1.0, 2.0, 2.0], [2.0, 1.0, 2.0], [0.5, 0.5]);
        let dims = [3, 2];
        let a = fuse(&[Some(&a1), None], &dims);
        assert_eq!(&a[3..], &[0.0, 0.0]);
        assert!((dot(&a, &a) - 1.0).abs() < 1e-6, "unit length");
        // Two faces with the same one model: that model's cosine.
        let b_alone = fuse(&[Some(&b1), None], &dims);
        assert!((dot(&a, &b_alone) - cosine(&a1, &b1)).abs() < 1e-6);
        // Against a face with both: the shared model's cosine times sqrt(1/2).
        let b = fuse(&[Some(&b1), Some(&b2)], &dims);
        let expected = cosine(&a1, &b1) * 0.5f32.sqrt();
        assert!((dot(&a, &b) - expected).abs() < 1e-6);
        // A part of the wrong length counts as missing; none present is all zeros.
        assert_eq!(fuse(&[Some(&a1[..2]), Some(&b2)], &dims)[..3], [0.0; 3]);
        assert_eq!(fuse(&[None, None], &dims), vec![0.0; 5]);
    }

    #[test]
    fn one_model_is_its_unit_vector_and_its_rule_is_its_own() {
        let v = [3.0, 4.0];
        assert_eq!(fuse(&[Some(&v)], &[2]), vec![0.6, 0.8]);
        let r = CosineRule {
            default: 0.3,
            min: 0.1,
            max: 0.8,
        };
        assert_eq!(CosineRule::mean(&[Some(r)]), Some(r));
        assert_eq!(CosineRule::mean(&[]), None);
        assert_eq!(CosineRule::mean(&[Some(r), None]), None);
    }

    #[test]
    fn the_fused_rule_of_sface_and_dlib_is_the_mean_of_their_cosine_rules() {
        let m = facelab_models::Manifest::embedded();
        let sface = CosineRule::of_model(m.get("sface-2021dec").unwrap());
        let dlib = CosineRule::of_model(m.get("dlib-resnet-128").unwrap());
        let fused = CosineRule::mean(&[sface, dlib]).unwrap();
        // SFace 0.32; dlib's euclidean 0.6 at vector length 1.42 is cosine 0.9107.
        assert!(
            (fused.default - (0.32 + 0.9107) / 2.0).abs() < 1e-3,
            "{fused:?}"
        );
        assert!(fused.min < fused.default && fused.default < fused.max);
        let t = fused.threshold();
        assert_eq!((t.kind, t.default), (ThresholdKind::Cosine, fused.default));
    }
}
