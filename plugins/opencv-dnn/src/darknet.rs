//! Darknet YOLO face detectors (YOLOv3 family) through `readNetFromDarknet`, for models such
//! as yoloface-500k or digiKam's `yolov3-wider_16000.weights`. The input size, anchors,
//! masks and class count are read from the `.cfg`, never assumed.

use facelab_plugin_kit::api::{BBox, CreateArgs, ErrorCode, Face, LicenceClass, PluginError};
use facelab_plugin_kit::{check_readable, model_file, model_info, model_mismatch};
use opencv::core::{Mat, Scalar};
use opencv::dnn;
use opencv::prelude::*;

use crate::backend_name;
use crate::dnn::{load_error, BlobSpec, DetectorOptions, DnnDetector, Family};

/// What the `.cfg` says about the network's input and detection heads.
#[derive(Debug, Clone, PartialEq)]
pub struct DarknetCfg {
    /// `[net] width`.
    pub width: u32,
    /// `[net] height`.
    pub height: u32,
    /// One entry per `[yolo]` section, in file order.
    pub heads: Vec<YoloHead>,
}

/// One `[yolo]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct YoloHead {
    /// Indices into `anchors` this head predicts.
    pub mask: Vec<usize>,
    /// All anchors, (w, h) pairs in input pixels.
    pub anchors: Vec<(f32, f32)>,
    /// Number of classes.
    pub classes: usize,
}

impl DarknetCfg {
    /// Parses the parts of a Darknet `.cfg` that facelab needs.
    pub fn parse(text: &str, file: &str) -> Result<DarknetCfg, PluginError> {
        let err = |line: usize, what: String| {
            PluginError::new(
                ErrorCode::MODEL,
                format!("{file}:{line}: {what}"),
                "the .cfg must be the Darknet config that matches the .weights",
            )
        };
        let mut section = String::new();
        let (mut width, mut height) = (None, None);
        let mut heads: Vec<YoloHead> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if line.starts_with('[') {
                section = line
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_owned();
                if section == "yolo" {
                    heads.push(YoloHead {
                        mask: vec![],
                        anchors: vec![],
                        classes: 0,
                    });
                }
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            let num = |v: &str| {
                v.trim()
                    .parse::<f32>()
                    .map_err(|_| err(n + 1, format!("`{key}` has a non-number `{v}`")))
            };
            match (section.as_str(), key) {
                ("net", "width") => width = Some(num(value)? as u32),
                ("net", "height") => height = Some(num(value)? as u32),
                ("yolo", "mask") => {
                    heads.last_mut().expect("inside [yolo]").mask = value
                        .split(',')
                        .map(|v| num(v).map(|x| x as usize))
                        .collect::<Result<_, _>>()?
                }
                ("yolo", "anchors") => {
                    let v: Vec<f32> = value.split(',').map(num).collect::<Result<_, _>>()?;
                    if !v.len().is_multiple_of(2) {
                        return Err(err(n + 1, "anchors must be (w, h) pairs".into()));
                    }
                    heads.last_mut().expect("inside [yolo]").anchors =
                        v.chunks(2).map(|p| (p[0], p[1])).collect();
                }
                ("yolo", "classes") => {
                    heads.last_mut().expect("inside [yolo]").classes = num(value)? as usize
                }
                _ => {}
            }
        }
        let (Some(width), Some(height)) = (width, height) else {
            return Err(err(1, "no width/height in [net]".into()));
        };
        if heads.is_empty() {
            return Err(err(
                1,
                "no [yolo] section: not a YOLOv3-family detector".into(),
            ));
        }
        for (i, h) in heads.iter().enumerate() {
            if h.classes == 0 || h.mask.is_empty() || h.mask.iter().any(|&m| m >= h.anchors.len()) {
                return Err(err(
                    1,
                    format!(
                        "[yolo] section {} has inconsistent mask/anchors/classes",
                        i + 1
                    ),
                ));
            }
        }
        Ok(DarknetCfg {
            width,
            height,
            heads,
        })
    }
}

/// The YOLO family: RGB, 0–1, grey padding.
pub struct Yolo {
    classes: usize,
    heads: usize,
}

impl Family for Yolo {
    fn blob(&self) -> BlobSpec {
        BlobSpec {
            mean: Scalar::all(0.0),
            scale: 1.0 / 255.0,
            swap_rb: true,
            pad: Scalar::all(127.0),
        }
    }

    fn decode(
        &self,
        outputs: &[Mat],
        w: u32,
        h: u32,
        min_score: f32,
    ) -> Result<Vec<Face>, PluginError> {
        if outputs.len() != self.heads {
            return Err(PluginError::new(
                ErrorCode::INFERENCE,
                format!("{} outputs for {} [yolo] heads", outputs.len(), self.heads),
                "",
            ));
        }
        let row = 5 + self.classes;
        let (w, h) = (w as f32, h as f32);
        let mut faces = Vec::new();
        for (i, out) in outputs.iter().enumerate() {
            if out.cols() as usize != row {
                return Err(PluginError::new(
                    ErrorCode::INFERENCE,
                    format!(
                        "output {i} has rows of {} values, expected {row}",
                        out.cols()
                    ),
                    "",
                ));
            }
            let data = out
                .data_typed::<f32>()
                .map_err(|e| crate::cv_error(ErrorCode::INFERENCE, "YOLO output", e))?;
            for r in data.chunks_exact(row) {
                // OpenCV's region layer already multiplies class scores by objectness.
                let score = r[5..].iter().cloned().fold(0.0f32, f32::max);
                if score < min_score {
                    continue;
                }
                let (bw, bh) = (r[2] * w, r[3] * h);
                faces.push(Face::new(
                    BBox::new(r[0] * w - bw / 2.0, r[1] * h - bh / 2.0, bw, bh),
                    score,
                ));
            }
        }
        Ok(faces)
    }
}

/// Loads a Darknet YOLO model from its `.cfg` and `.weights`.
pub fn load(
    args: &CreateArgs<'_>,
    options: DetectorOptions,
) -> Result<DnnDetector<Yolo>, PluginError> {
    let files = args.model_files.as_slice();
    let cfg_path = model_file(files, &[".cfg"], "yolo")?;
    let weights = model_file(files, &[".weights"], "yolo")?;
    check_readable(cfg_path)?;
    check_readable(weights)?;
    let text = std::fs::read_to_string(cfg_path).map_err(|e| {
        PluginError::new(
            ErrorCode::MODEL,
            format!("cannot read {cfg_path}: {e}"),
            "the .cfg must be a text file",
        )
    })?;
    let cfg = DarknetCfg::parse(&text, cfg_path)?;
    let classes = cfg.heads[0].classes;
    if cfg.heads.iter().any(|h| h.classes != classes) {
        return Err(model_mismatch(
            cfg_path,
            "does not fit kind YOLO",
            "its [yolo] heads disagree on the number of classes",
            "",
        ));
    }
    let net = dnn::read_net_from_darknet(cfg_path, weights).map_err(|e| load_error(weights, e))?;
    let usual = format!("the .cfg's own is {}x{}", cfg.width, cfg.height);
    let size = options.input_size((cfg.width, cfg.height), &usual)?;
    let info = model_info(
        args,
        "darknet-yolo",
        backend_name(),
        LicenceClass::Unknown,
        size,
    );
    let family = Yolo {
        classes,
        heads: cfg.heads.len(),
    };
    DnnDetector::new(
        net,
        family,
        weights,
        "Darknet YOLO",
        None,
        size,
        options,
        info,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_input_size_and_heads_from_the_cfg() {
        let cfg = "[net]\nwidth=352\nheight=288 # comment\n[conv]\nsize=3\n[yolo]\nmask = 3,4,5\nanchors = 4,6, 7,10, 11,15, 16,24, 33,25, 26,41\nclasses=1\n[yolo]\nmask=0,1,2\nanchors = 4,6, 7,10, 11,15, 16,24, 33,25, 26,41\nclasses=1\n";
        let c = DarknetCfg::parse(cfg, "t.cfg").unwrap();
        assert_eq!((c.width, c.height), (352, 288));
        assert_eq!(c.heads.len(), 2);
        assert_eq!(c.heads[0].mask, vec![3, 4, 5]);
        assert_eq!(c.heads[1].anchors[1], (7.0, 10.0));
        assert!(DarknetCfg::parse("[net]\nwidth=1\nheight=1\n", "t.cfg")
            .unwrap_err()
            .message
            .contains("no [yolo]"));
    }
}
