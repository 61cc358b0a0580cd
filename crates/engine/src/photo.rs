//! Decoding photos: the host decodes every image itself and applies its EXIF orientation,
//! so plugins see upright pixels and never touch files.

use std::path::{Path, PathBuf};

use facelab_plugin_api::{ImageView, PixelFormat};
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

/// A decoded, upright photo.
#[derive(Debug, Clone)]
pub struct Photo {
    /// The file it came from.
    pub path: PathBuf,
    /// Packed pixels, `width * height * format.channels()` bytes.
    pub pixels: Vec<u8>,
    /// Width after orientation.
    pub width: u32,
    /// Height after orientation.
    pub height: u32,
    /// [`PixelFormat::Rgb8`] or, for grey files, [`PixelFormat::Gray8`].
    pub format: PixelFormat,
    /// The EXIF orientation that was applied (1 = none, up to 8).
    pub exif_orientation: u8,
}

impl Photo {
    /// The pixels as the plugin ABI's view.
    pub fn view(&self) -> ImageView<'_> {
        ImageView::packed(&self.pixels, self.width, self.height, self.format)
            .expect("Photo buffers are packed by construction")
    }

    /// A photo from an in-memory image (no file, no orientation).
    pub fn from_image(path: PathBuf, img: DynamicImage) -> Photo {
        let (width, height) = (img.width(), img.height());
        let (pixels, format) = match img {
            DynamicImage::ImageLuma8(g) => (g.into_raw(), PixelFormat::Gray8),
            DynamicImage::ImageLuma16(_)
            | DynamicImage::ImageLumaA8(_)
            | DynamicImage::ImageLumaA16(_) => (img.to_luma8().into_raw(), PixelFormat::Gray8),
            DynamicImage::ImageRgb8(c) => (c.into_raw(), PixelFormat::Rgb8),
            other => (other.to_rgb8().into_raw(), PixelFormat::Rgb8),
        };
        Photo {
            path,
            pixels,
            width,
            height,
            format,
            exif_orientation: 1,
        }
    }

    /// A photo with the same path, format and orientation but no pixels, for building
    /// derived images (crops, rotations) with `..photo.clone_header()`.
    pub fn clone_header(&self) -> Photo {
        Photo {
            path: self.path.clone(),
            pixels: Vec::new(),
            width: 0,
            height: 0,
            format: self.format,
            exif_orientation: self.exif_orientation,
        }
    }

    /// An RGB copy, for drawing.
    pub fn to_rgb(&self) -> image::RgbImage {
        match self.format {
            PixelFormat::Rgb8 => {
                image::RgbImage::from_raw(self.width, self.height, self.pixels.clone())
            }
            PixelFormat::Gray8 => {
                image::GrayImage::from_raw(self.width, self.height, self.pixels.clone())
                    .map(|g| DynamicImage::ImageLuma8(g).to_rgb8())
            }
            PixelFormat::Bgr8 => image::RgbImage::from_raw(
                self.width,
                self.height,
                self.pixels
                    .chunks_exact(3)
                    .flat_map(|p| [p[2], p[1], p[0]])
                    .collect(),
            ),
        }
        .expect("Photo buffers are packed by construction")
    }
}

/// Why a photo could not be decoded. The display names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The file could not be opened or read.
    #[error(
        "{path}: cannot read: {source} (help: check that the path exists and is a readable file)"
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error(
        "{path}: empty file (0 bytes) (help: the copy is incomplete; copy it again or remove it)"
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The content is not an image format facelab reads.
    #[error("{path}: not an image in a supported format (JPEG, PNG, WebP, TIFF, BMP, GIF, PNM) (help: convert it, or exclude it from the scan)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The image is larger than `images.max_pixels`.
    #[error("{path}: image is {width}x{height} = {pixels} pixels, above the limit of {max} (help: raise images.max_pixels in the config if this image is genuine)")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// width × height.
        pixels: u64,
        /// The configured limit.
        max: u64,
    },
    /// The decoder failed: corrupt or truncated data.
    #[error("{path}: corrupt or truncated {format} data: {message} (help: re-export or re-copy the file)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The detected format.
        format: String,
        /// The decoder's message.
        message: String,
    },
}

/// Decodes `path`, refusing images above `max_pixels`, and applies EXIF orientation.
pub fn decode(path: &Path, max_pixels: u64) -> Result<Photo, DecodeError> {
    let io = |source| DecodeError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a folder",
        )));
    }
    if meta.len() == 0 {
        return Err(DecodeError::Empty {
            path: path.to_owned(),
        });
    }
    // Read once: the JPEG completeness check and the decoder share the bytes.
    let bytes = std::fs::read(path).map_err(io)?;
    decode_bytes(path, &bytes, max_pixels)
}

/// Decodes `paths` in order on a second thread while `each` works on the previous photo,
/// so decoding overlaps detection. At most two decoded photos wait in the channel, which
/// bounds memory. `each` may stop the run by returning an error.
pub fn decode_ahead<P, E>(
    paths: &[P],
    max_pixels: u64,
    mut each: impl FnMut(&Path, Result<Photo, DecodeError>) -> Result<(), E>,
) -> Result<(), E>
where
    P: AsRef<Path> + Sync,
{
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        scope.spawn(move || {
            for path in paths {
                let path = path.as_ref();
                if tx.send((path, decode(path, max_pixels))).is_err() {
                    break;
                }
            }
        });
        for (path, decoded) in rx {
            each(path, decoded)?;
        }
        Ok(())
    })
}

/// Decodes the bytes of the file at `path` (already read, so a caller can also hash them),
/// with the same checks and orientation as [`decode`].
pub fn decode_bytes(path: &Path, bytes: &[u8], max_pixels: u64) -> Result<Photo, DecodeError> {
    let io = |source| DecodeError::Io {
        path: path.to_owned(),
        source,
    };
    if bytes.is_empty() {
        return Err(DecodeError::Empty {
            path: path.to_owned(),
        });
    }
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(io)?;
    if reader.format().is_none() {
        if let Ok(by_name) = image::ImageFormat::from_path(path) {
            reader.set_format(by_name);
        }
    }
    let Some(format) = reader.format() else {
        return Err(DecodeError::UnknownFormat {
            path: path.to_owned(),
        });
    };
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8).max(64 << 20));
    reader.limits(limits);
    let format_name = format!("{format:?}").to_uppercase();
    let corrupt = |e: image::ImageError| match e {
        image::ImageError::IoError(source)
            if source.kind() != std::io::ErrorKind::UnexpectedEof =>
        {
            io(source)
        }
        e => DecodeError::Corrupt {
            path: path.to_owned(),
            format: format_name.clone(),
            message: e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        },
    };
    if format == image::ImageFormat::Jpeg {
        // The JPEG decoder fills a truncated scan with grey and reports success; a library
        // must not store faces from half a photo, so a missing end marker is an error.
        if !bytes.starts_with(&[0xFF, 0xD8]) {
            return Err(DecodeError::UnknownFormat {
                path: path.to_owned(),
            });
        }
        if !jpeg_is_complete(bytes) {
            return Err(DecodeError::Corrupt {
                path: path.to_owned(),
                format: format_name,
                message: "the data ends before the end-of-image marker (truncated file)".into(),
            });
        }
    }
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    let pixels = width as u64 * height as u64;
    if pixels > max_pixels {
        return Err(DecodeError::TooLarge {
            path: path.to_owned(),
            width,
            height,
            pixels,
            max: max_pixels,
        });
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    img.apply_orientation(orientation);
    let mut photo = Photo::from_image(path.to_owned(), img);
    photo.exif_orientation = orientation.to_exif();
    Ok(photo)
}

/// Whether a JPEG stream reaches its end-of-image marker. Walks the marker segments (so an
/// EXIF thumbnail's own end marker inside APP1 does not count) and the entropy-coded scans,
/// where a real marker is `FF` followed by anything but `00` (stuffing) or `D0..D7`
/// (restart markers).
pub fn jpeg_is_complete(data: &[u8]) -> bool {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    while i + 1 < data.len() {
        if data[i] != 0xFF {
            return false;
        }
        let marker = data[i + 1];
        match marker {
            0xD9 => return true,
            0xFF => i += 1, // fill byte
            0x01 | 0xD0..=0xD7 => i += 2,
            _ => {
                if i + 3 >= data.len() {
                    return false;
                }
                let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
                i += 2 + len;
                if marker == 0xDA {
                    // Entropy-coded data runs to the next real marker.
                    while i + 1 < data.len()
                        && !(data[i] == 0xFF
                            && data[i + 1] != 0x00
                            && !(0xD0..=0xD7).contains(&data[i + 1]))
                    {
                        i += 1;
                    }
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_completeness_sees_truncation_and_ignores_thumbnail_end_markers() {
        // SOI, APP1 holding a fake thumbnail's EOI, SOS with stuffed and restart bytes, EOI.
        let full = [
            0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0x00, 0x00, 0xFF, 0xDA, 0x00, 0x02,
            0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9,
        ];
        assert!(jpeg_is_complete(&full));
        for cut in [4, 9, 12, 16, 20, 22] {
            assert!(!jpeg_is_complete(&full[..cut]), "cut at {cut}");
        }
    }
}
