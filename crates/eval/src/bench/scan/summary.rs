//! The scan task's numbers from its runs: each side's medians, the ratios within runs, the
//! headline comparison of a set.

use std::collections::HashMap;
use std::path::PathBuf;

use facelab_plugin_api::Face;

use crate::bench::report::{ScanHeadline, ScanRatio, ScanRun, ScanSide, Spread};
use crate::bench::suite::scan::ScanSet;
use crate::operating::{operating_point, OperatingPoint, Truth};
use facelab_engine::stats::median;

/// One side's run: the measures, what it read, and its faces by relative path.
pub struct SideRun {
    /// The measures.
    pub run: ScanRun,
    /// Photos it read.
    pub photos: usize,
    /// Photos it could not read.
    pub failed: usize,
    /// Its faces, by path relative to the set's folder.
    pub faces: HashMap<PathBuf, Vec<Face>>,
}

/// The median, smallest and largest of the finite values.
fn spread(values: &[f64]) -> Spread {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    Spread {
        median: median(&mut finite.clone()),
        min: finite.iter().copied().fold(f64::INFINITY, f64::min),
        max: finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// The side's summary over its runs; the faces and the operating point are the first run's.
pub fn side(
    label: Option<u32>,
    runs: &[SideRun],
    photos: usize,
    truth: Option<&HashMap<PathBuf, Truth>>,
) -> ScanSide {
    let n = photos.max(1) as f64;
    let med = |f: &dyn Fn(&ScanRun) -> f64| {
        median(&mut runs.iter().map(|r| f(&r.run)).collect::<Vec<_>>())
    };
    let first = &runs[0];
    let point = truth.map(|truth| {
        let (truths, found): (Vec<Truth>, Vec<Vec<Face>>) = truth
            .iter()
            .map(|(rel, t)| (t.clone(), first.faces.get(rel).cloned().unwrap_or_default()))
            .unzip();
        operating_point(&truths, &found, 0.0)
    });
    let stage_seconds = first.run.stage_seconds.as_ref().map(|stages| {
        stages
            .keys()
            .map(|k| {
                let mut v: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.run.stage_seconds.as_ref()?.get(k).copied())
                    .collect();
                (k.clone(), median(&mut v))
            })
            .collect()
    });
    ScanSide {
        side: if label.is_some() { "script" } else { "facelab" }.into(),
        max_side: label,
        photos: first.photos,
        failed: first.failed,
        wall_seconds: med(&|r| r.wall_seconds),
        photos_per_s: med(&|r| n / r.wall_seconds),
        cpu_seconds_per_photo: med(&|r| r.cpu_seconds / n),
        peak_rss_mib: med(&|r| r.peak_rss_mib),
        faces: first.run.faces,
        point,
        stage_seconds,
        runs: runs.iter().map(|r| r.run.clone()).collect(),
    }
}

/// facelab ÷ one script variant, run by run.
pub fn ratio(max_side: u32, facelab: &ScanSide, script: &ScanSide) -> ScanRatio {
    let per_run = |f: &dyn Fn(&ScanRun, &ScanRun) -> f64| -> Spread {
        let v: Vec<f64> = facelab
            .runs
            .iter()
            .zip(&script.runs)
            .map(|(a, b)| f(a, b))
            .collect();
        spread(&v)
    };
    let found = |s: &ScanSide| s.point.map(|p: OperatingPoint| p.found as i64);
    ScanRatio {
        max_side,
        photos_per_s: per_run(&|a, b| b.wall_seconds / a.wall_seconds),
        cpu_per_photo: per_run(&|a, b| a.cpu_seconds / b.cpu_seconds),
        peak_rss: per_run(&|a, b| a.peak_rss_mib / b.peak_rss_mib),
        faces_difference: facelab.faces as i64 - script.faces as i64,
        taggable_difference: found(facelab).zip(found(script)).map(|(a, b)| a - b),
    }
}

/// The comparison the set's headline quotes: facelab against its `compare` variant.
pub fn headline(
    set: &ScanSet,
    variants: &[u32],
    sides: &[ScanSide],
    ratios: &[ScanRatio],
) -> Option<ScanHeadline> {
    let max_side = set.compare_with(variants);
    let r = ratios.iter().find(|r| r.max_side == max_side)?;
    let script = sides.iter().find(|s| s.max_side == Some(max_side))?;
    let facelab = &sides[0];
    let faces_ok = r.taggable_difference.unwrap_or(r.faces_difference) >= 0;
    let rss_ok = facelab.peak_rss_mib <= script.peak_rss_mib;
    let ratio = r.photos_per_s.median;
    Some(ScanHeadline {
        set: set.name.clone(),
        max_side,
        photos_per_s_ratio: ratio,
        target_ratio: set.target_ratio,
        target_rss: set.target_rss,
        faces_ok,
        rss_ok,
        met: set
            .target_ratio
            .map(|t| ratio >= t && faces_ok && (rss_ok || !set.target_rss)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(wall: f64, cpu: f64, rss: f64) -> SideRun {
        SideRun {
            run: ScanRun {
                wall_seconds: wall,
                cpu_seconds: cpu,
                peak_rss_mib: rss,
                faces: 1,
                inner_seconds: None,
                stage_seconds: None,
            },
            photos: 10,
            failed: 0,
            faces: HashMap::from([(
                PathBuf::from("a.jpg"),
                vec![Face::new(
                    facelab_plugin_api::BBox::new(0.0, 0.0, 40.0, 40.0),
                    0.9,
                )],
            )]),
        }
    }

    #[test]
    fn ratios_are_taken_within_runs_then_the_median() {
        // facelab 2, 4, 10 s; the script 6, 8, 10 s: per-run photos/s ratios 3, 2, 1.
        let facelab = side(
            None,
            &[
                run(2.0, 1.0, 100.0),
                run(4.0, 1.0, 100.0),
                run(10.0, 1.0, 100.0),
            ],
            10,
            None,
        );
        let script = side(
            Some(1280),
            &[
                run(6.0, 4.0, 200.0),
                run(8.0, 4.0, 200.0),
                run(10.0, 4.0, 200.0),
            ],
            10,
            None,
        );
        assert_eq!(facelab.photos_per_s, 2.5);
        assert_eq!(facelab.cpu_seconds_per_photo, 0.1);
        let r = ratio(1280, &facelab, &script);
        assert_eq!(
            (
                r.photos_per_s.median,
                r.photos_per_s.min,
                r.photos_per_s.max
            ),
            (2.0, 1.0, 3.0)
        );
        assert_eq!((r.cpu_per_photo.median, r.peak_rss.median), (0.25, 0.5));
        assert_eq!((r.faces_difference, r.taggable_difference), (0, None));
        let set = ScanSet {
            name: "camera".into(),
            path: None,
            generate: Some("camera".into()),
            limit: None,
            compare: Some(1280),
            target_ratio: Some(3.0),
            target_rss: true,
            variants: None,
        };
        let h = headline(
            &set,
            &[0, 1280],
            &[facelab.clone(), script.clone()],
            std::slice::from_ref(&r),
        )
        .unwrap();
        assert_eq!(
            (h.photos_per_s_ratio, h.faces_ok, h.rss_ok, h.met),
            (2.0, true, true, Some(false))
        );
        let easier = ScanSet {
            target_ratio: Some(2.0),
            ..set
        };
        let h = headline(&easier, &[0, 1280], &[facelab, script], &[r]).unwrap();
        assert_eq!(h.met, Some(true));
    }

    #[test]
    fn taggable_faces_are_matched_against_the_ground_truth() {
        let truth = HashMap::from([
            (
                PathBuf::from("a.jpg"),
                Truth::labels(&[facelab_plugin_api::BBox::new(0.0, 0.0, 40.0, 40.0)], &[]),
            ),
            (
                PathBuf::from("b.jpg"),
                Truth::labels(&[facelab_plugin_api::BBox::new(0.0, 0.0, 40.0, 40.0)], &[]),
            ),
        ]);
        let s = side(None, &[run(1.0, 1.0, 1.0)], 2, Some(&truth));
        let p = s.point.unwrap();
        assert_eq!(
            (p.photos, p.taggable, p.found, p.false_positives),
            (2, 2, 1, 0)
        );
    }
}
