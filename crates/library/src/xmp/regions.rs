//! The coordinate rule, in one place.
//!
//! The library stores a face as absolute pixels of the **upright** photo (EXIF orientation
//! applied). MWG regions are normalised (0–1) to the image **as stored** in the file, before
//! its orientation is applied, with `x`, `y` the box's **centre**; Microsoft's rectangles
//! are normalised to the same frame with `x`, `y` the **top-left** corner. For orientations
//! 5–8 the stored image is the upright one transposed, so width and height swap.
//!
//! With upright normalised coordinates (p, q) and stored ones (a, b), EXIF orientation o
//! displays stored point (a, b) at:
//!
//! | o | meaning            | (p, q)         |
//! |---|--------------------|----------------|
//! | 1 | as stored          | (a, b)         |
//! | 2 | mirrored           | (1 − a, b)     |
//! | 3 | rotated 180°       | (1 − a, 1 − b) |
//! | 4 | flipped            | (a, 1 − b)     |
//! | 5 | transposed         | (b, a)         |
//! | 6 | rotated 90° CW     | (1 − b, a)     |
//! | 7 | transversed        | (1 − b, 1 − a) |
//! | 8 | rotated 90° CCW    | (b, 1 − a)     |
//!
//! A box's centre maps as a point; its size swaps for 5–8.

use facelab_plugin_api::BBox;

/// A region's area: normalised to the image as stored, centre-based (MWG's `stArea` with
/// `unit="normalized"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredArea {
    /// Centre, 0–1 of the stored width.
    pub x: f64,
    /// Centre, 0–1 of the stored height.
    pub y: f64,
    /// Width, 0–1 of the stored width.
    pub w: f64,
    /// Height, 0–1 of the stored height.
    pub h: f64,
}

/// Whether orientation `o` transposes the image (5–8).
pub fn transposes(o: u8) -> bool {
    matches!(o, 5..=8)
}

/// The stored image's pixel size from the upright one's.
pub fn stored_size(upright_w: u32, upright_h: u32, o: u8) -> (u32, u32) {
    if transposes(o) {
        (upright_h, upright_w)
    } else {
        (upright_w, upright_h)
    }
}

/// Stored normalised point → upright normalised point (the table above).
pub fn stored_to_upright(o: u8, a: f64, b: f64) -> (f64, f64) {
    match o {
        2 => (1.0 - a, b),
        3 => (1.0 - a, 1.0 - b),
        4 => (a, 1.0 - b),
        5 => (b, a),
        6 => (1.0 - b, a),
        7 => (1.0 - b, 1.0 - a),
        8 => (b, 1.0 - a),
        _ => (a, b),
    }
}

/// Upright normalised point → stored normalised point (the inverse of the table).
pub fn upright_to_stored(o: u8, p: f64, q: f64) -> (f64, f64) {
    match o {
        2 => (1.0 - p, q),
        3 => (1.0 - p, 1.0 - q),
        4 => (p, 1.0 - q),
        5 => (q, p),
        6 => (q, 1.0 - p),
        7 => (1.0 - q, 1.0 - p),
        8 => (1.0 - q, p),
        _ => (p, q),
    }
}

/// A library box (upright pixels of a `width` × `height` upright photo with EXIF
/// orientation `o`) as an MWG area of the stored image.
pub fn area_from_upright_box(b: &BBox, width: u32, height: u32, o: u8) -> StoredArea {
    let (w, h) = (width.max(1) as f64, height.max(1) as f64);
    let p = (b.x as f64 + b.width as f64 / 2.0) / w;
    let q = (b.y as f64 + b.height as f64 / 2.0) / h;
    let (bw, bh) = (b.width as f64 / w, b.height as f64 / h);
    let (x, y) = upright_to_stored(o, p, q);
    let (w, h) = if transposes(o) { (bh, bw) } else { (bw, bh) };
    StoredArea { x, y, w, h }
}

/// An MWG area of the stored image as a library box in upright pixels.
pub fn upright_box_from_area(a: &StoredArea, width: u32, height: u32, o: u8) -> BBox {
    let (p, q) = stored_to_upright(o, a.x, a.y);
    let (bw, bh) = if transposes(o) {
        (a.h, a.w)
    } else {
        (a.w, a.h)
    };
    let (w, h) = (width as f64, height as f64);
    BBox::new(
        ((p - bw / 2.0) * w) as f32,
        ((q - bh / 2.0) * h) as f32,
        (bw * w) as f32,
        (bh * h) as f32,
    )
}

/// Microsoft's top-left rectangle (x, y, w, h, normalised to the stored image) as an area.
pub fn area_from_mp_rectangle(r: [f64; 4]) -> StoredArea {
    StoredArea {
        x: r[0] + r[2] / 2.0,
        y: r[1] + r[3] / 2.0,
        w: r[2],
        h: r[3],
    }
}

/// An area as Microsoft's top-left rectangle (x, y, w, h).
pub fn mp_rectangle_from_area(a: &StoredArea) -> [f64; 4] {
    [a.x - a.w / 2.0, a.y - a.h / 2.0, a.w, a.h]
}

/// Whether an area covers (nearly) the whole image: such regions tag the photo, not a face,
/// and are ignored on import as digiKam does.
pub fn is_full_frame(a: &StoredArea) -> bool {
    a.w >= 0.99 && a.h >= 0.99
}

/// Where a region was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RegionSource {
    /// `mwg-rs:Regions`.
    Mwg,
    /// `MP:RegionInfo`.
    Microsoft,
}

/// A region read from a packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// `mwg-rs:Name` / `MPReg:PersonDisplayName`, trimmed; `None` when absent or empty.
    pub name: Option<String>,
    /// `mwg-rs:Type` (`Face`, `Pet`, `Focus`, `BarCode`); Microsoft regions are faces.
    pub kind: String,
    /// The area, normalised to the stored image.
    pub area: StoredArea,
    /// MWG or Microsoft.
    pub source: RegionSource,
}

impl Region {
    /// Whether it is a face region (MWG `Type="Face"`, or any Microsoft region).
    pub fn is_face(&self) -> bool {
        self.kind.eq_ignore_ascii_case("face")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn every_orientation_round_trips_and_the_inverse_is_exact() {
        for o in 1..=8u8 {
            for (a, b) in [(0.1, 0.2), (0.7, 0.35), (0.0, 1.0)] {
                let (p, q) = stored_to_upright(o, a, b);
                let (a2, b2) = upright_to_stored(o, p, q);
                assert!(close(a, a2) && close(b, b2), "orientation {o}");
            }
            let bx = BBox::new(100.0, 40.0, 60.0, 80.0);
            let (w, h) = if transposes(o) {
                (300, 400)
            } else {
                (400, 300)
            };
            let area = area_from_upright_box(&bx, w, h, o);
            let back = upright_box_from_area(&area, w, h, o);
            for (x, y) in [
                (back.x, bx.x),
                (back.y, bx.y),
                (back.width, bx.width),
                (back.height, bx.height),
            ] {
                assert!((x - y).abs() < 1e-3, "orientation {o}: {back:?} vs {bx:?}");
            }
        }
    }

    #[test]
    fn a_face_top_left_when_upright_is_where_each_orientation_stores_it() {
        // A 400×300 upright photo with a face in its top-left corner (centre 0.125, 0.2 of
        // the upright frame, 0.1 × 0.2 in size).
        let face = BBox::new(30.0, 30.0, 40.0, 60.0);
        let expect = |o: u8, x: f64, y: f64| {
            let (w, h) = (400, 300);
            let a = area_from_upright_box(&face, w, h, o);
            assert!(close(a.x, x) && close(a.y, y), "orientation {o}: {a:?}");
            let (sw, sh) = if transposes(o) {
                (0.2, 0.1)
            } else {
                (0.1, 0.2)
            };
            assert!(close(a.w, sw) && close(a.h, sh), "orientation {o}: {a:?}");
        };
        expect(1, 0.125, 0.2);
        expect(2, 0.875, 0.2); // stored mirrored: the face is on the right
        expect(3, 0.875, 0.8); // stored upside down: bottom right
        expect(4, 0.125, 0.8); // stored flipped: bottom left
        expect(5, 0.2, 0.125); // stored transposed
        expect(6, 0.2, 0.875); // displayed after 90° CW: stored bottom left
        expect(7, 0.8, 0.875);
        expect(8, 0.8, 0.125); // displayed after 90° CCW: stored top right
    }

    #[test]
    fn microsoft_rectangles_are_top_left_based() {
        let a = area_from_mp_rectangle([0.1, 0.2, 0.3, 0.4]);
        assert!(close(a.x, 0.25) && close(a.y, 0.4));
        let r = mp_rectangle_from_area(&a);
        assert!(close(r[0], 0.1) && close(r[1], 0.2) && close(r[2], 0.3) && close(r[3], 0.4));
        assert!(is_full_frame(&area_from_mp_rectangle([0.0, 0.0, 1.0, 1.0])));
        assert!(!is_full_frame(&a));
    }
}
