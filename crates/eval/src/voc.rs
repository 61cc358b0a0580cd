//! Detection accuracy against dlib's imglab XML (`samples/voc-groups/testing.xml`): recall
//! and precision at an IoU threshold, with one-to-one greedy matching by score.

use std::path::{Path, PathBuf};

use facelab_plugin_api::{BBox, Face};
use facelab_plugin_kit::geometry::iou;

/// One labelled image.
#[derive(Debug, Clone)]
pub struct LabelledImage {
    /// The image file (resolved against the XML's folder).
    pub path: PathBuf,
    /// The labelled face boxes.
    pub boxes: Vec<BBox>,
    /// Boxes marked `ignore='1'`: faces that are neither to be found nor wrong to find.
    pub ignored: Vec<BBox>,
}

/// Reads an imglab XML file; image names are relative to the XML's folder. Boxes marked
/// `ignore='1'` go to [`LabelledImage::ignored`].
pub fn read_imglab(xml_path: &Path) -> anyhow::Result<Vec<LabelledImage>> {
    read_imglab_in(xml_path, xml_path.parent().unwrap_or(Path::new(".")))
}

/// [`read_imglab`] with image names relative to `images_root`.
pub fn read_imglab_in(xml_path: &Path, images_root: &Path) -> anyhow::Result<Vec<LabelledImage>> {
    let text = std::fs::read_to_string(xml_path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", xml_path.display()))?;
    let doc = roxmltree::Document::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: invalid XML: {e}", xml_path.display()))?;
    let dir = images_root;
    let num = |n: roxmltree::Node, a: &str| -> anyhow::Result<f32> {
        n.attribute(a)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("{}: box without a numeric `{a}`", xml_path.display()))
    };
    let mut images = Vec::new();
    for node in doc.descendants().filter(|n| n.has_tag_name("image")) {
        let file = node
            .attribute("file")
            .ok_or_else(|| anyhow::anyhow!("{}: <image> without `file`", xml_path.display()))?;
        let (mut boxes, mut ignored) = (Vec::new(), Vec::new());
        for b in node.children().filter(|n| n.has_tag_name("box")) {
            let bbox = BBox::new(
                num(b, "left")?,
                num(b, "top")?,
                num(b, "width")?,
                num(b, "height")?,
            );
            if b.attribute("ignore") == Some("1") {
                ignored.push(bbox);
            } else {
                boxes.push(bbox);
            }
        }
        images.push(LabelledImage {
            path: dir.join(file),
            boxes,
            ignored,
        });
    }
    Ok(images)
}

/// Counts of one match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MatchCounts {
    /// Labelled faces.
    pub labelled: usize,
    /// Detections.
    pub detected: usize,
    /// Detections matched to a labelled face.
    pub matched: usize,
}

impl MatchCounts {
    /// Matched / labelled (1 when nothing is labelled).
    pub fn recall(&self) -> f64 {
        if self.labelled == 0 {
            1.0
        } else {
            self.matched as f64 / self.labelled as f64
        }
    }

    /// Matched / detected (1 when nothing is detected).
    pub fn precision(&self) -> f64 {
        if self.detected == 0 {
            1.0
        } else {
            self.matched as f64 / self.detected as f64
        }
    }

    /// Adds another image's counts.
    pub fn add(&mut self, other: MatchCounts) {
        self.labelled += other.labelled;
        self.detected += other.detected;
        self.matched += other.matched;
    }
}

/// Matches detections to labels one-to-one, best score first, at IoU ≥ `min_iou`.
pub fn match_faces(labels: &[BBox], faces: &[Face], min_iou: f32) -> MatchCounts {
    let mut order: Vec<&Face> = faces.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut taken = vec![false; labels.len()];
    let mut matched = 0;
    for face in order {
        let best = labels
            .iter()
            .enumerate()
            .filter(|(i, _)| !taken[*i])
            .map(|(i, l)| (i, iou(l, &face.bbox)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, v)) = best {
            if v >= min_iou {
                taken[i] = true;
                matched += 1;
            }
        }
    }
    MatchCounts {
        labelled: labels.len(),
        detected: faces.len(),
        matched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_one_matching_counts_a_duplicate_as_false_positive() {
        let labels = [
            BBox::new(0.0, 0.0, 10.0, 10.0),
            BBox::new(100.0, 0.0, 10.0, 10.0),
        ];
        let faces = [
            Face::new(BBox::new(0.0, 0.0, 10.0, 10.0), 0.9),
            Face::new(BBox::new(1.0, 0.0, 10.0, 10.0), 0.8),
            Face::new(BBox::new(50.0, 50.0, 10.0, 10.0), 0.7),
        ];
        let m = match_faces(&labels, &faces, 0.5);
        assert_eq!(
            m,
            MatchCounts {
                labelled: 2,
                detected: 3,
                matched: 1
            }
        );
        assert!((m.recall() - 0.5).abs() < 1e-9 && (m.precision() - 1.0 / 3.0).abs() < 1e-9);
    }
}
