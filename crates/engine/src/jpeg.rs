//! JPEG decoding at a reduced DCT scale through libjpeg-turbo (the `turbojpeg` crate), for
//! scans: a 12 MP photo whose detector needs a 1280 px long side is decoded at 1/2 (or
//! 1/4, 1/8) inside the inverse DCT, which costs a fraction of a full decode and of its
//! memory.
//!
//! The checks of [`crate::photo::decode_bytes`] come first (empty, not a JPEG, truncated,
//! above `images.max_pixels` at full size); anything libjpeg-turbo refuses or warns about
//! (a broken Huffman or quantisation table, bad restart markers, CMYK) is decoded again by
//! the `image` crate, whose verdict stands, so a file that fails fails exactly as it did
//! before, with its reason.

use std::path::Path;

use image::{DynamicImage, ImageDecoder};
use turbojpeg::{Decompressor, Image, ScalingFactor};

use crate::photo::{decode_bytes, jpeg_is_complete, DecodeError, Photo};

/// The DCT scales libjpeg-turbo has SIMD code for, smallest first.
pub const SCALES: [(usize, usize); 4] = [(1, 8), (1, 4), (1, 2), (1, 1)];

/// A photo decoded at some scale of its full size.
#[derive(Debug, Clone)]
pub struct Scaled {
    /// The pixels, upright.
    pub photo: Photo,
    /// The upright full-size width.
    pub full_width: u32,
    /// The upright full-size height.
    pub full_height: u32,
}

impl Scaled {
    /// A photo decoded at full size.
    pub fn full(photo: Photo) -> Scaled {
        Scaled {
            full_width: photo.width,
            full_height: photo.height,
            photo,
        }
    }

    /// Decoded pixels per full-size pixel, horizontally and vertically (1 at full size).
    pub fn factor(&self) -> (f32, f32) {
        (
            self.photo.width as f32 / self.full_width.max(1) as f32,
            self.photo.height as f32 / self.full_height.max(1) as f32,
        )
    }

    /// Whether the pixels are the full-size photo's.
    pub fn is_full(&self) -> bool {
        self.photo.width == self.full_width && self.photo.height == self.full_height
    }
}

/// The smallest of [`SCALES`] at which a `width × height` image keeps a long side of at
/// least `long_side` (full size when none does, or `long_side` is 0).
pub fn scale_for(width: u32, height: u32, long_side: u32) -> ScalingFactor {
    let long = width.max(height) as usize;
    if long_side == 0 {
        return ScalingFactor::ONE;
    }
    SCALES
        .iter()
        .map(|&(n, d)| ScalingFactor::new(n, d))
        .find(|s| s.scale(long) >= long_side as usize)
        .unwrap_or(ScalingFactor::ONE)
}

/// The upright `(width, height)` and EXIF orientation of a JPEG, from its headers.
fn header(bytes: &[u8]) -> Option<(u32, u32, image::metadata::Orientation)> {
    let mut decoder = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(bytes)).ok()?;
    let (w, h) = decoder.dimensions();
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    Some((w, h, orientation))
}

/// Decodes `bytes` (the file at `path`) so that its long side stays at least `long_side`
/// pixels, by DCT scaling when it is a JPEG; other formats, and JPEGs libjpeg-turbo cannot
/// decode cleanly, are decoded at full size by [`decode_bytes`].
pub fn decode_scaled(
    path: &Path,
    bytes: &[u8],
    max_pixels: u64,
    long_side: u32,
) -> Result<Scaled, DecodeError> {
    let full = || decode_bytes(path, bytes, max_pixels).map(Scaled::full);
    if !bytes.starts_with(&[0xFF, 0xD8]) || !jpeg_is_complete(bytes) {
        return full();
    }
    let Some((width, height, orientation)) = header(bytes) else {
        return full();
    };
    if width as u64 * height as u64 > max_pixels {
        return full();
    }
    let scale = scale_for(width, height, long_side);
    match turbo(bytes, scale) {
        Some(img) => {
            let mut img = img;
            img.apply_orientation(orientation);
            let mut photo = Photo::from_image(path.to_owned(), img);
            photo.exif_orientation = orientation.to_exif();
            let (full_width, full_height) = match orientation.to_exif() {
                5..=8 => (height, width),
                _ => (width, height),
            };
            Ok(Scaled {
                photo,
                full_width,
                full_height,
            })
        }
        None => full(),
    }
}

/// libjpeg-turbo's decode at `scale`, or `None` when it fails or warns (the caller falls
/// back to the `image` crate).
fn turbo(bytes: &[u8], scale: ScalingFactor) -> Option<DynamicImage> {
    let mut d = Decompressor::new().ok()?;
    let header = d.read_header(bytes).ok()?;
    let grey = matches!(header.colorspace, turbojpeg::Colorspace::Gray);
    if !grey
        && !matches!(
            header.colorspace,
            turbojpeg::Colorspace::YCbCr | turbojpeg::Colorspace::RGB
        )
    {
        return None;
    }
    d.set_scaling_factor(scale).ok()?;
    let h = header.scaled(scale);
    let format = if grey {
        turbojpeg::PixelFormat::GRAY
    } else {
        turbojpeg::PixelFormat::RGB
    };
    let channels = if grey { 1 } else { 3 };
    let mut pixels = vec![0u8; channels * h.width * h.height];
    let image = Image {
        pixels: pixels.as_mut_slice(),
        width: h.width,
        pitch: channels * h.width,
        height: h.height,
        format,
    };
    d.decompress(bytes, image).ok()?;
    let (w, hh) = (h.width as u32, h.height as u32);
    if grey {
        image::GrayImage::from_raw(w, hh, pixels).map(DynamicImage::ImageLuma8)
    } else {
        image::RgbImage::from_raw(w, hh, pixels).map(DynamicImage::ImageRgb8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_keeps_the_long_side_the_detector_needs() {
        let s = |w, h, l| {
            let f = scale_for(w, h, l);
            (f.num(), f.denom())
        };
        assert_eq!(s(4000, 3000, 1280), (1, 2));
        assert_eq!(s(4000, 3000, 501), (1, 4));
        assert_eq!(s(4000, 3000, 500), (1, 8));
        assert_eq!(s(1024, 768, 1280), (1, 1));
        assert_eq!(s(2560, 1440, 1280), (1, 2));
        // libjpeg rounds scaled sides up: 2559 / 2 decodes 1280 wide, 2557 / 2 only 1279.
        assert_eq!(s(2559, 1440, 1280), (1, 2));
        assert_eq!(s(2557, 1440, 1280), (1, 1));
        assert_eq!(s(4000, 3000, 0), (1, 1));
    }
}
