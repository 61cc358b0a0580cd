//! The harness check: measured figures beside published ones, so a reader can see whether
//! the harness reproduces the literature where the protocol matches, and by how much it
//! deviates where it does not. The published figures live here, in one place, with their
//! sources.

use super::report::{HarnessCheck, PipelineEntry, TaskResults};

/// WIDER FACE validation images in the full set.
const WIDER_VAL_IMAGES: usize = 3226;

/// opencv_zoo's YuNet 2023mar AP on the full WIDER FACE validation set, easy/medium/hard.
const YUNET_2023MAR_WIDER: [(&str, f64); 3] = [("easy", 0.884), ("medium", 0.866), ("hard", 0.750)];

/// Published LFW accuracies by recognizer model id, with the source and the caveat.
const PUBLISHED_LFW: [(&str, f64, &str); 2] = [
    (
        "mobilefacenet-128",
        0.9955,
        "MobileFaceNet paper (Chen et al. 2018, trained on refined MS-Celeb-1M, 112×112 colour \
         crops); this Paddle export's training data is not stated, and the shared LFW set is \
         greyscale",
    ),
    (
        "facenet-512",
        0.9905,
        "davidsandberg/facenet 20180408-102900 (CASIA-WebFace) with MTCNN crops on colour LFW; \
         here the crop is box + 20% on greyscale images",
    ),
];

/// The checks for every pipeline that ran a task with a published counterpart.
pub fn checks(pipelines: &[PipelineEntry], tasks: &TaskResults) -> Vec<HarnessCheck> {
    let mut out = Vec::new();
    let model_of = |name: &str| pipelines.iter().find(|p| p.name == name);
    for w in &tasks.wider.results {
        let Some(p) = model_of(&w.pipeline) else {
            continue;
        };
        if p.detector.model != "yunet-2023mar" {
            continue;
        }
        let set = if w.images >= WIDER_VAL_IMAGES {
            "the full validation set".to_owned()
        } else {
            format!(
                "a {}-image sample of the {WIDER_VAL_IMAGES}-image validation set, so the \
                 deviation includes sampling error",
                w.images
            )
        };
        for (level, published) in YUNET_2023MAR_WIDER {
            if let Some(l) = w.levels.iter().find(|l| l.level == level) {
                out.push(HarnessCheck {
                    pipeline: w.pipeline.clone(),
                    metric: format!("WIDER {level} AP"),
                    measured: l.ap,
                    published,
                    deviation: l.ap - published,
                    note: format!(
                        "opencv_zoo's evaluation of YuNet 2023mar (full validation set, each \
                         photo at its own size); measured on {set}, with options {}",
                        w.options
                    ),
                });
            }
        }
    }
    for l in &tasks.lfw.results {
        let Some(model) = model_of(&l.pipeline).and_then(|p| p.recognizer.as_ref()) else {
            continue;
        };
        if let Some((_, published, note)) =
            PUBLISHED_LFW.iter().find(|(id, _, _)| *id == model.model)
        {
            out.push(HarnessCheck {
                pipeline: l.pipeline.clone(),
                metric: "LFW accuracy".into(),
                measured: l.accuracy,
                published: *published,
                deviation: l.accuracy - published,
                note: (*note).to_owned(),
            });
        }
    }
    out
}
