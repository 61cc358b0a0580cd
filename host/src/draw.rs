//! Drawing faces onto a copy of the photo, so a person can check detections by eye.

use facelab_plugin_api::Face;
use image::{Rgb, RgbImage};

const BOX: Rgb<u8> = Rgb([0, 230, 0]);
/// Landmark colours in [`facelab_plugin_api::Landmarks5`] order: eyes blue/cyan, nose red,
/// mouth magenta/yellow, so a swapped order is visible at a glance.
const LANDMARK: [Rgb<u8>; 5] = [
    Rgb([0, 90, 255]),
    Rgb([0, 220, 255]),
    Rgb([255, 0, 0]),
    Rgb([255, 0, 255]),
    Rgb([255, 220, 0]),
];

fn fill_rect(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, colour: Rgb<u8>) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in y0.max(0)..y1.min(h) {
        for x in x0.max(0)..x1.min(w) {
            img.put_pixel(x as u32, y as u32, colour);
        }
    }
}

/// Draws each face's box (line width scaled to the photo) and its landmarks.
pub fn draw_faces(img: &mut RgbImage, faces: &[Face]) {
    let t = (img.width().max(img.height()) as i64 / 400).max(2);
    for face in faces {
        let b = face.bbox;
        let (x0, y0) = (b.x.round() as i64, b.y.round() as i64);
        let (x1, y1) = (
            (b.x + b.width).round() as i64,
            (b.y + b.height).round() as i64,
        );
        fill_rect(img, x0 - t, y0 - t, x1 + t, y0, BOX);
        fill_rect(img, x0 - t, y1, x1 + t, y1 + t, BOX);
        fill_rect(img, x0 - t, y0, x0, y1, BOX);
        fill_rect(img, x1, y0, x1 + t, y1, BOX);
        if let Some(lm) = face.landmarks.as_ref().into_option() {
            for (p, colour) in lm.points.iter().zip(LANDMARK) {
                let (x, y) = (p.x.round() as i64, p.y.round() as i64);
                fill_rect(img, x - t, y - t, x + t + 1, y + t + 1, colour);
            }
        }
    }
}
