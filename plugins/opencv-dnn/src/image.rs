//! From an [`ImageView`] to OpenCV network input.

use facelab_plugin_kit::api::{ErrorCode, ImageView, PixelFormat, PluginError};
use facelab_plugin_kit::geometry::Letterbox;
use facelab_plugin_kit::pixels;
use opencv::core::{self, Mat, Scalar, Size};
use opencv::prelude::*;
use opencv::{dnn, imgproc};

use crate::cv_error;

/// A BGR `Mat` copy of the view.
pub fn to_bgr_mat(view: &ImageView<'_>) -> Result<Mat, PluginError> {
    pixels::validate(view)?;
    let typ = match view.format {
        PixelFormat::Gray8 => core::CV_8UC1,
        _ => core::CV_8UC3,
    };
    // SAFETY: the header borrows `view.pixels`, which `validate` checked is long enough for
    // `height` rows of `stride` bytes; the header is only read from and dropped before the
    // view's lifetime ends (every path below copies into a new Mat).
    let borrowed = unsafe {
        Mat::new_rows_cols_with_data_unsafe(
            view.height as i32,
            view.width as i32,
            typ,
            view.pixels.as_ptr() as *mut std::ffi::c_void,
            view.stride as usize,
        )
    }
    .map_err(|e| cv_error(ErrorCode::INVALID_INPUT, "cannot wrap image", e))?;
    let code = match view.format {
        PixelFormat::Bgr8 => {
            return borrowed
                .try_clone()
                .map_err(|e| cv_error(ErrorCode::INFERENCE, "copy", e))
        }
        PixelFormat::Rgb8 => imgproc::COLOR_RGB2BGR,
        PixelFormat::Gray8 => imgproc::COLOR_GRAY2BGR,
    };
    let mut bgr = Mat::default();
    imgproc::cvt_color(&borrowed, &mut bgr, code, 0)
        .map_err(|e| cv_error(ErrorCode::INFERENCE, "colour conversion", e))?;
    Ok(bgr)
}

/// Resizes `bgr` into `lb`'s inner size and pads it to the network input with `pad`
/// (the network's mean, so padding reads as zero after mean subtraction), then makes an
/// NCHW float blob with `mean` subtracted and `scale` applied.
pub fn letterbox_blob(
    bgr: &Mat,
    lb: &Letterbox,
    pad: Scalar,
    mean: Scalar,
    scale: f64,
    swap_rb: bool,
) -> Result<Mat, PluginError> {
    let err = |what: &'static str| move |e| cv_error(ErrorCode::INFERENCE, what, e);
    let (w, h) = (bgr.cols() as u32, bgr.rows() as u32);
    let shrinking = lb.inner_w < w || lb.inner_h < h;
    let mut resized = Mat::default();
    let interpolation = if shrinking {
        imgproc::INTER_AREA
    } else {
        imgproc::INTER_LINEAR
    };
    imgproc::resize(
        bgr,
        &mut resized,
        Size::new(lb.inner_w as i32, lb.inner_h as i32),
        0.0,
        0.0,
        interpolation,
    )
    .map_err(err("resize"))?;
    let mut padded = Mat::default();
    core::copy_make_border(
        &resized,
        &mut padded,
        lb.pad_y as i32,
        (lb.dst_h - lb.inner_h - lb.pad_y) as i32,
        lb.pad_x as i32,
        (lb.dst_w - lb.inner_w - lb.pad_x) as i32,
        core::BORDER_CONSTANT,
        pad,
    )
    .map_err(err("padding"))?;
    dnn::blob_from_image(
        &padded,
        scale,
        Size::new(lb.dst_w as i32, lb.dst_h as i32),
        mean,
        swap_rb,
        false,
        core::CV_32F,
    )
    .map_err(err("blob"))
}
