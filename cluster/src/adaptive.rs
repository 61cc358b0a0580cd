//! The link threshold that adapts to the library, so clusters hold on photos unlike the
//! set it was tuned on.
//!
//! A fixed cosine threshold does not transfer across image quality or recognizers: small,
//! blurred or compressed faces have less separable embeddings, so strangers score higher,
//! and every recognizer has its own similarity scale. What does transfer is a *false-link
//! rate*: how often two different people score above the threshold. The library can
//! estimate the strangers' similarity distribution itself:
//!
//! - **Random pairs of its faces.** In a library of many people almost every pair is two
//!   different people, so the bulk of the random-pair distribution is the strangers'
//!   distribution. Its *median* and *MAD* (scaled to a standard deviation) are robust to the
//!   pairs that are one person, even when one person holds a large share of the photos.
//! - **Known negatives** ([`Evidence::negative_sims`]): faces in the same photo (always two
//!   people), faces named as different people, a face rejected for a person against that
//!   person's faces. Clean, but biased high (people photographed together look alike), which
//!   errs on the side of precision.
//!
//! **The rule.** `threshold = max(declared, median + z·spread of random pairs, median + z·spread
//! of known negatives)`, each term used only when it has enough evidence
//! ([`AutoParams::min_faces`], [`AutoParams::min_negatives`]). `z` is one constant for every
//! recognizer and every library ([`AutoParams::z`], chosen once by the rule in the README):
//! the threshold sits `z` strangers' standard deviations above the strangers' median, so it
//! moves with the recognizer's scale and with the photos' quality. The recognizer's declared
//! same-person threshold (its manifest rule, a euclidean one converted to cosine) is the
//! floor: the library's evidence can make clustering stricter than the model's own rule,
//! never looser. With too little evidence the declared rule is used alone; with no declared
//! rule and too little evidence there is nothing to stand on, and [`resolve`] says so.
//!
//! **The ceiling.** The evidence may raise the threshold at most [`AutoParams::ceiling`] of
//! the way from the declared threshold to a perfect match: `≤ declared + ceiling·(1 −
//! declared)`, 0.525. `z` assumes the strangers' similarities have tails like a normal
//! distribution's, as MobileFaceNet's do. dlib's ResNet was trained with a hinge at its 0.6
//! distance, so its strangers' tail ends early: on LFW its random pairs have median 0.845 and
//! spread 0.037, `z = 4.25` puts the threshold at 1.0, and every face stays alone, while its
//! faces of one person score about 0.95. The ceiling for dlib (declared 0.911) is 0.958; for
//! MobileFaceNet (0.27) it is 0.653, above every threshold the rule gave on the robustness
//! sets (0.44 to 0.52), so it changes nothing there. 0.525 was chosen by `z`'s rule (the
//! crate's README) on dlib's embeddings of the robustness sets.
//!
//! A user who fixes `[cluster] threshold = <number>` gets that number ([`Threshold::Fixed`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::linalg::{Kernel, Rng};
use crate::{Error, Result};

/// `[cluster] threshold`: a cosine similarity, or `"auto"` for [`resolve`]'s rule.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Threshold {
    /// Derived from the library's evidence and the recognizer's declared rule.
    #[default]
    Auto,
    /// Fixed by the user, in `[-1, 1]`.
    Fixed(f32),
}

impl Serialize for Threshold {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Threshold::Auto => s.serialize_str("auto"),
            Threshold::Fixed(v) => s.serialize_f32(*v),
        }
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Threshold;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a cosine similarity in [-1, 1] or \"auto\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Threshold, E> {
                if v == "auto" {
                    Ok(Threshold::Auto)
                } else {
                    Err(E::custom(format!(
                        "threshold {v:?} is neither a number nor \"auto\""
                    )))
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Threshold, E> {
                Ok(Threshold::Fixed(v as f32))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Threshold, E> {
                Ok(Threshold::Fixed(v as f32))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Threshold, E> {
                Ok(Threshold::Fixed(v as f32))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Auto => f.write_str("auto"),
            Threshold::Fixed(v) => write!(f, "{v}"),
        }
    }
}

/// `[cluster.auto]`: the adaptive rule's constants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoParams {
    /// Strangers' standard deviations above their median.
    pub z: f32,
    /// Fewest faces for the random-pair estimate.
    pub min_faces: usize,
    /// Fewest known negative pairs for their estimate.
    pub min_negatives: usize,
    /// Random pairs sampled (all pairs when there are fewer).
    pub pairs: usize,
    /// Seed of the sample.
    pub seed: u64,
    /// The share of the way from the declared threshold to 1 that the evidence may raise
    /// the threshold (the ceiling; 1 turns it off).
    pub ceiling: f32,
}

impl Default for AutoParams {
    fn default() -> Self {
        AutoParams {
            z: 4.25,
            min_faces: 20,
            min_negatives: 200,
            pairs: 200_000,
            seed: 18,
            ceiling: 0.525,
        }
    }
}

/// What the library knows beyond its embeddings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence<'a> {
    /// The recognizer's declared same-person rule as a cosine similarity: the floor and the
    /// fallback.
    pub declared: Option<f32>,
    /// Cosine similarities of pairs known to be two people (same photo, different names,
    /// rejections).
    pub negative_sims: &'a [f32],
}

/// Where a threshold came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "source")]
pub enum Source {
    /// `[cluster] threshold` set by the user.
    Fixed,
    /// The recognizer's declared rule: the library's evidence was too little or lower.
    Declared {
        /// Why the library's estimate was not used.
        reason: String,
    },
    /// The library's random pairs.
    RandomPairs,
    /// The library's known negative pairs.
    KnownNegatives,
    /// The ceiling above the declared rule ([`AutoParams::ceiling`]): the library's estimate
    /// was higher.
    Ceiling {
        /// The library's estimate that the ceiling replaced.
        estimate: f32,
    },
}

/// A resolved threshold and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    /// The cosine similarity at which faces link.
    pub value: f32,
    /// Which term of the rule set it.
    #[serde(flatten)]
    pub source: Source,
    /// The declared rule, when given.
    pub declared: Option<f32>,
    /// Random pairs: (pairs, median, spread), when there were enough faces.
    pub random: Option<Estimate>,
    /// Known negatives: (pairs, median, spread), when there were enough.
    pub negatives: Option<Estimate>,
}

/// A strangers' distribution estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// Pairs measured.
    pub pairs: usize,
    /// Their median similarity.
    pub median: f32,
    /// 1.4826 × their median absolute deviation (a standard deviation for a normal
    /// distribution, unmoved by a minority of same-person pairs).
    pub spread: f32,
    /// `median + z·spread`.
    pub threshold: f32,
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} (", self.value)?;
        match &self.source {
            Source::Fixed => f.write_str("fixed by [cluster] threshold")?,
            Source::Declared { reason } => write!(f, "the recognizer's declared rule; {reason}")?,
            Source::RandomPairs => f.write_str("strangers' distribution from random pairs")?,
            Source::KnownNegatives => {
                f.write_str("strangers' distribution from known negatives")?
            }
            Source::Ceiling { estimate } => write!(
                f,
                "the ceiling above the recognizer's declared rule; the library's estimate {estimate:.3} is higher"
            )?,
        }
        f.write_str(")")
    }
}

fn estimate(mut sims: Vec<f32>, z: f32) -> Estimate {
    let median = median(&mut sims);
    let mut dev: Vec<f32> = sims.iter().map(|s| (s - median).abs()).collect();
    let spread = 1.4826 * self::median(&mut dev);
    Estimate {
        pairs: sims.len(),
        median,
        spread,
        threshold: median + z * spread,
    }
}

fn median(v: &mut [f32]) -> f32 {
    crate::stats::median(v) as f32
}

/// Similarities of up to `pairs` distinct random pairs of rows (every pair when there are
/// fewer), seeded.
fn random_pair_sims(data: &[f32], dim: usize, pairs: usize, seed: u64) -> Vec<f32> {
    let n = data.len() / dim;
    let kernel = Kernel::detect();
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let all = n * (n - 1) / 2;
    if all <= pairs {
        let mut out = Vec::with_capacity(all);
        for i in 0..n {
            for j in i + 1..n {
                out.push(kernel.dot(row(i), row(j)));
            }
        }
        return out;
    }
    let mut rng = Rng::new(seed);
    (0..pairs)
        .map(|_| {
            let i = rng.below(n);
            let mut j = rng.below(n - 1);
            if j >= i {
                j += 1;
            }
            kernel.dot(row(i), row(j))
        })
        .collect()
}

/// The highest threshold the evidence may set above a declared `d`.
fn ceiling(d: f32, share: f32) -> f32 {
    d + share.clamp(0.0, 1.0) * (1.0 - d).max(0.0)
}

/// The cosine threshold for `data` (`n` unit rows of `dim`) by the rule of this module.
///
/// Errors: [`Error::NoEvidence`] when the rule is auto, there is no declared rule and too
/// little evidence; [`Error::Degenerate`] when the random pairs' median similarity is ≥ 0.999
/// (the recognizer gives every face the same vector: clustering would make one cluster of
/// everyone).
pub fn resolve(
    data: &[f32],
    dim: usize,
    threshold: Threshold,
    p: &AutoParams,
    evidence: &Evidence<'_>,
) -> Result<Resolved> {
    let n = data.len().checked_div(dim).unwrap_or(0);
    let declared = evidence.declared;
    let mut out = Resolved {
        value: 0.0,
        source: Source::Fixed,
        declared,
        random: None,
        negatives: None,
    };
    if let Threshold::Fixed(v) = threshold {
        out.value = v;
        return Ok(out);
    }
    if n >= p.min_faces.max(2) {
        let e = estimate(random_pair_sims(data, dim, p.pairs, p.seed), p.z);
        if e.median >= 0.999 {
            return Err(Error::Degenerate(format!(
                "{n} embeddings are all (nearly) the same vector (median similarity of random pairs {:.4}): the recognizer is not telling faces apart, so any threshold makes one cluster of everyone (help: check the recognizer's model and preprocessing, then re-embed)",
                e.median
            )));
        }
        out.random = Some(e);
    }
    if evidence.negative_sims.len() >= p.min_negatives.max(1) {
        out.negatives = Some(estimate(evidence.negative_sims.to_vec(), p.z));
    }
    let mut best: Option<(f32, Source)> = None;
    for (e, source) in [
        (out.random, Source::RandomPairs),
        (out.negatives, Source::KnownNegatives),
    ] {
        if let Some(e) = e {
            if best.as_ref().is_none_or(|(v, _)| e.threshold > *v) {
                best = Some((e.threshold, source));
            }
        }
    }
    match (best, declared) {
        (Some((v, _)), Some(d)) if v > ceiling(d, p.ceiling) => {
            out.value = ceiling(d, p.ceiling);
            out.source = Source::Ceiling { estimate: v };
        }
        (Some((v, source)), Some(d)) if v > d => {
            out.value = v.min(1.0);
            out.source = source;
        }
        (Some((v, _)), Some(d)) => {
            out.value = d;
            out.source = Source::Declared {
                reason: format!(
                    "the library's estimate {v:.3} is below it, and clustering is never looser than the model's own rule"
                ),
            };
        }
        (Some((v, source)), None) => {
            out.value = v.min(1.0);
            out.source = source;
        }
        (None, Some(d)) => {
            out.value = d;
            out.source = Source::Declared {
                reason: format!(
                    "too little evidence in the library ({n} faces, fewer than {}; {} known negative pairs, fewer than {})",
                    p.min_faces,
                    evidence.negative_sims.len(),
                    p.min_negatives
                ),
            };
        }
        (None, None) => {
            if n < 2 {
                // Nothing can link: any threshold gives the same result.
                out.value = 1.0;
                out.source = Source::Declared {
                    reason: format!("{n} faces: nothing to link"),
                };
            } else {
                return Err(Error::NoEvidence(format!(
                    "threshold = \"auto\" needs the recognizer's declared threshold or at least {} faces (or {} known negative pairs); there are {n} faces and {} pairs (help: set [cluster] threshold to a number, or use a recognizer the model manifest knows)",
                    p.min_faces,
                    p.min_negatives,
                    evidence.negative_sims.len()
                )));
            }
        }
    }
    Ok(out)
}
