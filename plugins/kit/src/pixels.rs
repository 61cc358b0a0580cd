//! Pixel access helpers for [`ImageView`], for plugins that work on packed buffers.

use facelab_plugin_api::{ErrorCode, ImageView, PixelFormat, PluginError};

/// Checks that a view is non-empty and its buffer matches its size and stride.
pub fn validate(image: &ImageView<'_>) -> Result<(), PluginError> {
    if image.width == 0 || image.height == 0 {
        return Err(PluginError::new(
            ErrorCode::INVALID_INPUT,
            format!("empty image ({}x{})", image.width, image.height),
            "",
        ));
    }
    if !image.is_consistent() {
        return Err(PluginError::new(
            ErrorCode::INVALID_INPUT,
            format!(
                "image buffer of {} bytes is too short for {}x{} {:?} with stride {}",
                image.pixels.len(),
                image.width,
                image.height,
                image.format,
                image.stride
            ),
            "this is a bug in the host",
        ));
    }
    Ok(())
}

/// The grey value of pixel `(x, y)` (ITU-R BT.601 weights for colour formats).
pub fn luma(image: &ImageView<'_>, x: u32, y: u32) -> u8 {
    let i = y as usize * image.stride as usize + x as usize * image.format.channels();
    let p = &image.pixels[i..];
    let (r, g, b) = match image.format {
        PixelFormat::Gray8 => return p[0],
        PixelFormat::Rgb8 => (p[0], p[1], p[2]),
        PixelFormat::Bgr8 => (p[2], p[1], p[0]),
    };
    ((299 * r as u32 + 587 * g as u32 + 114 * b as u32 + 500) / 1000) as u8
}
