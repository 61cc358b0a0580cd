//! Hand-built sets and assertions for the tests of this module.

use std::path::PathBuf;

use facelab_plugin_api::BBox;

use super::{WiderImage, WiderSet};

/// A 20 × 20 box at (x, y).
pub(super) fn square(x: f32, y: f32) -> BBox {
    BBox::new(x, y, 20.0, 20.0)
}

pub(super) fn image(boxes: Vec<BBox>, keep: [Vec<usize>; 3]) -> WiderImage {
    WiderImage {
        path: PathBuf::from("/nowhere/test.jpg"),
        name: "test.jpg".to_owned(),
        invalid: vec![false; boxes.len()],
        boxes,
        keep,
    }
}

pub(super) fn set(images: Vec<WiderImage>) -> WiderSet {
    WiderSet {
        root: PathBuf::from("/nowhere"),
        images,
    }
}

pub(super) fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: {actual} != {expected}"
    );
}
