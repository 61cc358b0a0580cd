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

/// A square crop of `bbox` (grown by a fifth on each side, clamped to the photo), scaled to
/// `side` pixels, for contact sheets.
pub fn face_tile(img: &RgbImage, bbox: &facelab_plugin_api::BBox, side: u32) -> RgbImage {
    let cx = bbox.x + bbox.width / 2.0;
    let cy = bbox.y + bbox.height / 2.0;
    let half = (bbox.width.max(bbox.height) * 0.7).max(1.0);
    let x0 = (cx - half).max(0.0) as u32;
    let y0 = (cy - half).max(0.0) as u32;
    let x1 = ((cx + half) as u32).min(img.width()).max(x0 + 1);
    let y1 = ((cy + half) as u32).min(img.height()).max(y0 + 1);
    let crop = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
    image::imageops::resize(&crop, side, side, image::imageops::FilterType::Triangle)
}

/// Tiles on a grid of `columns`, with a 2-pixel grey gutter.
pub fn contact_sheet(tiles: &[RgbImage], columns: u32, side: u32) -> RgbImage {
    let columns = columns.max(1);
    let rows = (tiles.len() as u32).div_ceil(columns).max(1);
    let gap = 2;
    let mut sheet = RgbImage::from_pixel(
        columns * (side + gap) + gap,
        rows * (side + gap) + gap,
        Rgb([60, 60, 60]),
    );
    for (i, t) in tiles.iter().enumerate() {
        let (c, r) = (i as u32 % columns, i as u32 / columns);
        image::imageops::replace(
            &mut sheet,
            t,
            (gap + c * (side + gap)) as i64,
            (gap + r * (side + gap)) as i64,
        );
    }
    sheet
}
