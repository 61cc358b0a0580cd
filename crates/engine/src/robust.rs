//! Detection that copes with what a single network pass misses, for every detector plugin
//! alike: small faces in large photos (tiles at full resolution plus the plugin's own
//! downscaled pass, merged by NMS), close-ups (retry with a padded border), and sideways or
//! upside-down photos without EXIF orientation (retry at 90°, 180°, 270°).
//!
//! It lives in the host, not in each plugin, because it only needs pixels, a detector and
//! the photo's EXIF state, and every backend gets it for free.

use facelab_plugin_api::{BBox, Face, PluginError, Point2};
use facelab_plugin_kit::geometry::{clip, nms};

use crate::config::RobustOptions;
use crate::photo::Photo;

/// A rectangle of whole pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// Left.
    pub x: u32,
    /// Top.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// Covers a `width × height` photo with tiles of side `side` (grown until at most
/// `max_tiles` are needed) overlapping by `overlap`.
pub fn tile_grid(width: u32, height: u32, side: u32, overlap: f32, max_tiles: u32) -> Vec<Tile> {
    let mut side = side.max(32);
    loop {
        let step = ((side as f32) * (1.0 - overlap.clamp(0.0, 0.9))).max(1.0) as u32;
        let axis = |len: u32| -> Vec<(u32, u32)> {
            if len <= side {
                return vec![(0, len)];
            }
            let n = (len - side).div_ceil(step) + 1;
            (0..n).map(|i| ((i * step).min(len - side), side)).collect()
        };
        let (xs, ys) = (axis(width), axis(height));
        if (xs.len() * ys.len()) as u32 <= max_tiles.max(1) {
            return ys
                .iter()
                .flat_map(|&(y, h)| xs.iter().map(move |&(x, w)| Tile { x, y, w, h }))
                .collect();
        }
        side = side * 5 / 4 + 1;
    }
}

/// A copy of a rectangle of the photo.
pub fn crop(photo: &Photo, t: Tile) -> Photo {
    let c = photo.format.channels();
    let row = photo.width as usize * c;
    let mut pixels = Vec::with_capacity(t.w as usize * t.h as usize * c);
    for y in t.y..t.y + t.h {
        let start = y as usize * row + t.x as usize * c;
        pixels.extend_from_slice(&photo.pixels[start..start + t.w as usize * c]);
    }
    Photo {
        pixels,
        width: t.w,
        height: t.h,
        ..photo.clone_header()
    }
}

/// The photo padded by `pad` pixels on every side with mid-grey.
pub fn pad(photo: &Photo, pad: u32) -> Photo {
    let c = photo.format.channels();
    let (w, h) = (photo.width + 2 * pad, photo.height + 2 * pad);
    let mut pixels = vec![127u8; w as usize * h as usize * c];
    let src_row = photo.width as usize * c;
    for y in 0..photo.height as usize {
        let dst = ((y + pad as usize) * w as usize + pad as usize) * c;
        pixels[dst..dst + src_row].copy_from_slice(&photo.pixels[y * src_row..(y + 1) * src_row]);
    }
    Photo {
        pixels,
        width: w,
        height: h,
        ..photo.clone_header()
    }
}

/// Quarter turns clockwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// 90° clockwise.
    Cw90,
    /// 180°.
    Half,
    /// 270° clockwise (90° counter-clockwise).
    Cw270,
}

impl Turn {
    /// The angle in degrees.
    pub fn degrees(self) -> u32 {
        match self {
            Turn::Cw90 => 90,
            Turn::Half => 180,
            Turn::Cw270 => 270,
        }
    }
}

/// The photo turned clockwise.
pub fn rotate(photo: &Photo, turn: Turn) -> Photo {
    let c = photo.format.channels();
    let (w, h) = (photo.width as usize, photo.height as usize);
    let (nw, nh) = match turn {
        Turn::Half => (w, h),
        _ => (h, w),
    };
    let mut pixels = vec![0u8; w * h * c];
    for y in 0..h {
        for x in 0..w {
            let (nx, ny) = match turn {
                Turn::Cw90 => (h - 1 - y, x),
                Turn::Half => (w - 1 - x, h - 1 - y),
                Turn::Cw270 => (y, w - 1 - x),
            };
            let src = (y * w + x) * c;
            let dst = (ny * nw + nx) * c;
            pixels[dst..dst + c].copy_from_slice(&photo.pixels[src..src + c]);
        }
    }
    Photo {
        pixels,
        width: nw as u32,
        height: nh as u32,
        ..photo.clone_header()
    }
}

/// Maps a point of the turned image back to the original `width × height` image
/// (continuous pixel coordinates).
pub fn unturn_point(p: Point2, turn: Turn, width: u32, height: u32) -> Point2 {
    let (w, h) = (width as f32, height as f32);
    match turn {
        Turn::Cw90 => Point2 { x: p.y, y: h - p.x },
        Turn::Half => Point2 {
            x: w - p.x,
            y: h - p.y,
        },
        Turn::Cw270 => Point2 { x: w - p.y, y: p.x },
    }
}

fn map_face(f: &Face, map: impl Fn(Point2) -> Point2) -> Face {
    let a = map(Point2 {
        x: f.bbox.x,
        y: f.bbox.y,
    });
    let b = map(Point2 {
        x: f.bbox.x + f.bbox.width,
        y: f.bbox.y + f.bbox.height,
    });
    let (x1, x2) = (a.x.min(b.x), a.x.max(b.x));
    let (y1, y2) = (a.y.min(b.y), a.y.max(b.y));
    Face {
        bbox: BBox::new(x1, y1, x2 - x1, y2 - y1),
        score: f.score,
        landmarks: f.landmarks.map(|mut l| {
            l.points = l.points.map(&map);
            l
        }),
    }
}

/// Which pass found the faces of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    /// The whole photo (and tiles, when tiling is on).
    Direct,
    /// The padded close-up retry.
    Padded,
    /// The rotation retry, by this many degrees clockwise.
    Rotated(u32),
}

/// Runs `detect` on `photo` with the robust options; returns the faces in photo pixels and
/// which pass found them.
pub fn detect_robust(
    photo: &Photo,
    options: &RobustOptions,
    network_side: u32,
    detect: &mut dyn FnMut(&Photo) -> Result<Vec<Face>, PluginError>,
) -> Result<(Vec<Face>, Pass), PluginError> {
    let faces = detect_tiled(photo, options, network_side, detect)?;
    if !faces.is_empty() {
        return Ok((faces, Pass::Direct));
    }
    if options.closeup_padding > 0.0 {
        let p = (photo.width.max(photo.height) as f32 * options.closeup_padding).round() as u32;
        let padded = pad(photo, p);
        let faces: Vec<Face> = detect(&padded)?
            .iter()
            .map(|f| {
                map_face(f, |q| Point2 {
                    x: q.x - p as f32,
                    y: q.y - p as f32,
                })
            })
            .map(|mut f| {
                f.bbox = clip(&f.bbox, photo.width, photo.height);
                f
            })
            .filter(|f| f.bbox.width > 1.0 && f.bbox.height > 1.0)
            .collect();
        if !faces.is_empty() {
            return Ok((faces, Pass::Padded));
        }
    }
    if options.rotation_retry && photo.exif_orientation <= 1 {
        for turn in [Turn::Cw90, Turn::Cw270, Turn::Half] {
            let turned = rotate(photo, turn);
            let faces = detect_tiled(&turned, options, network_side, detect)?;
            if !faces.is_empty() {
                let back = faces
                    .iter()
                    .map(|f| map_face(f, |q| unturn_point(q, turn, photo.width, photo.height)))
                    .collect();
                return Ok((back, Pass::Rotated(turn.degrees())));
            }
        }
    }
    Ok((vec![], Pass::Direct))
}

fn detect_tiled(
    photo: &Photo,
    options: &RobustOptions,
    network_side: u32,
    detect: &mut dyn FnMut(&Photo) -> Result<Vec<Face>, PluginError>,
) -> Result<Vec<Face>, PluginError> {
    let mut faces = detect(photo)?;
    let side = ((network_side.max(32) as f32) * options.tile_scale).round() as u32;
    if !options.tiling
        || (photo.width as f32) < side as f32 * 1.2 && (photo.height as f32) < side as f32 * 1.2
    {
        return Ok(faces);
    }
    const EDGE: f32 = 2.0;
    for t in tile_grid(
        photo.width,
        photo.height,
        side,
        options.tile_overlap,
        options.max_tiles,
    ) {
        let tile = crop(photo, t);
        for f in detect(&tile)? {
            let b = f.bbox;
            // A face cut by an inner tile edge is found whole by the neighbouring tile
            // (or by the whole-photo pass when it is large).
            let cut = (t.x > 0 && b.x <= EDGE)
                || (t.y > 0 && b.y <= EDGE)
                || (t.x + t.w < photo.width && b.x + b.width >= t.w as f32 - EDGE)
                || (t.y + t.h < photo.height && b.y + b.height >= t.h as f32 - EDGE);
            if !cut {
                faces.push(map_face(&f, |q| Point2 {
                    x: q.x + t.x as f32,
                    y: q.y + t.y as f32,
                }));
            }
        }
    }
    Ok(nms(faces, options.merge_iou))
}

#[cfg(test)]
mod tests {
    use super::*;
    use facelab_plugin_api::PixelFormat;

    fn photo(w: u32, h: u32) -> Photo {
        Photo::from_image(
            "t.png".into(),
            image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([x as u8, y as u8, 0])
            })),
        )
    }

    #[test]
    fn tiles_cover_the_photo_with_overlap_and_respect_the_limit() {
        let tiles = tile_grid(1000, 600, 300, 0.25, 100);
        assert_eq!(
            tiles.first(),
            Some(&Tile {
                x: 0,
                y: 0,
                w: 300,
                h: 300
            })
        );
        assert!(tiles.iter().any(|t| t.x + t.w == 1000) && tiles.iter().any(|t| t.y + t.h == 600));
        assert!(tile_grid(10_000, 10_000, 300, 0.25, 16).len() <= 16);
        assert_eq!(
            tile_grid(200, 100, 300, 0.25, 16),
            vec![Tile {
                x: 0,
                y: 0,
                w: 200,
                h: 100
            }]
        );
    }

    #[test]
    fn a_rotated_point_maps_back_to_where_it_was() {
        let p = photo(40, 30);
        for turn in [Turn::Cw90, Turn::Half, Turn::Cw270] {
            let r = rotate(&p, turn);
            // Find pixel (7, 5) of the original (value [7, 5, 0]) in the turned image.
            let c = 3;
            let idx = r.pixels.chunks(c).position(|px| px == [7, 5, 0]).unwrap();
            let (tx, ty) = (
                (idx as u32 % r.width) as f32 + 0.5,
                (idx as u32 / r.width) as f32 + 0.5,
            );
            let back = unturn_point(Point2 { x: tx, y: ty }, turn, 40, 30);
            assert!(
                (back.x - 7.5).abs() < 1e-4 && (back.y - 5.5).abs() < 1e-4,
                "{turn:?}: {back:?}"
            );
        }
    }

    #[test]
    fn crop_and_pad_keep_pixels_in_place() {
        let p = photo(40, 30);
        let c = crop(
            &p,
            Tile {
                x: 10,
                y: 5,
                w: 8,
                h: 4,
            },
        );
        assert_eq!(&c.pixels[..3], &[10, 5, 0]);
        let padded = pad(&p, 3);
        let i = ((3 * padded.width + 3) * 3) as usize;
        assert_eq!(&padded.pixels[i..i + 3], &[0, 0, 0]);
        assert_eq!(&padded.pixels[..3], &[127, 127, 127]);
        assert_eq!(padded.format, PixelFormat::Rgb8);
    }
}
