//! The C bridge (`cpp/bridge.cpp`) and safe owners for its handles.
//!
//! Every bridge function catches every C++ exception itself and reports it as a status
//! with a one-line message, so nothing unwinds across this boundary. The owners here turn
//! that status into a `Result` and free their handle on drop.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;

/// A bridge failure: dlib's one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeError(pub String);

impl std::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A detection in dlib's convention: an inclusive rectangle and its detection margin.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Left column.
    pub left: i64,
    /// Top row.
    pub top: i64,
    /// Right column (inclusive).
    pub right: i64,
    /// Bottom row (inclusive).
    pub bottom: i64,
    /// The detector's margin: dlib keeps detections above 0 by default.
    pub confidence: f64,
}

#[repr(C)]
struct Detections {
    items: *mut Detection,
    len: usize,
}

/// A face rectangle for the embedder, in dlib's inclusive convention.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaceRect {
    /// Left column.
    pub left: i64,
    /// Top row.
    pub top: i64,
    /// Right column (inclusive).
    pub right: i64,
    /// Bottom row (inclusive).
    pub bottom: i64,
}

extern "C" {
    fn fl_detections_free(d: Detections);
    fn fl_hog_new(err: *mut c_char, len: usize) -> *mut c_void;
    fn fl_hog_free(d: *mut c_void);
    #[allow(clippy::too_many_arguments)]
    fn fl_hog_detect(
        d: *mut c_void,
        rgb: *const u8,
        rows: std::ffi::c_long,
        cols: std::ffi::c_long,
        upsample: std::ffi::c_uint,
        adjust_threshold: f64,
        out: *mut Detections,
        err: *mut c_char,
        len: usize,
    ) -> i32;
    fn fl_mmod_new(path: *const c_char, err: *mut c_char, len: usize) -> *mut c_void;
    fn fl_mmod_free(d: *mut c_void);
    #[allow(clippy::too_many_arguments)]
    fn fl_mmod_detect(
        d: *mut c_void,
        rgb: *const u8,
        rows: std::ffi::c_long,
        cols: std::ffi::c_long,
        upsample: std::ffi::c_uint,
        adjust_threshold: f64,
        out: *mut Detections,
        err: *mut c_char,
        len: usize,
    ) -> i32;
    fn fl_shape_new(
        path: *const c_char,
        num_parts: *mut std::ffi::c_ulong,
        err: *mut c_char,
        len: usize,
    ) -> *mut c_void;
    fn fl_shape_free(d: *mut c_void);
    fn fl_resnet_new(path: *const c_char, err: *mut c_char, len: usize) -> *mut c_void;
    fn fl_resnet_free(d: *mut c_void);
    #[allow(clippy::too_many_arguments)]
    fn fl_resnet_embed(
        net: *mut c_void,
        sp: *mut c_void,
        rgb: *const u8,
        rows: std::ffi::c_long,
        cols: std::ffi::c_long,
        faces: *const FaceRect,
        n: usize,
        parts: *const f32,
        mirror: i32,
        out: *mut f32,
        parts_out: *mut f32,
        err: *mut c_char,
        len: usize,
    ) -> i32;
    fn fl_dlib_version() -> *const c_char;
    fn fl_blas_threads(n: std::ffi::c_int) -> std::ffi::c_int;
}

/// Sets the BLAS threads dlib's matrix products use. OpenBLAS's count is process-wide.
/// Returns false when the BLAS dlib was linked with has no such control (it then runs
/// one thread).
pub fn set_blas_threads(n: u32) -> bool {
    let n = std::ffi::c_int::try_from(n).unwrap_or(std::ffi::c_int::MAX);
    // SAFETY: a plain call; the bridge checks that OpenBLAS's function is there.
    unsafe { fl_blas_threads(n) != 0 }
}

/// The room for one error message.
const ERR_LEN: usize = 1024;

fn message(buf: &[u8]) -> String {
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let text = String::from_utf8_lossy(&buf[..end]).trim().to_owned();
    if text.is_empty() {
        "dlib failed without a message".to_owned()
    } else {
        text
    }
}

/// Calls a bridge function with an error buffer; status 0 is success.
fn call(f: impl FnOnce(*mut c_char, usize) -> i32) -> Result<(), BridgeError> {
    let mut buf = vec![0u8; ERR_LEN];
    match f(buf.as_mut_ptr().cast(), buf.len()) {
        0 => Ok(()),
        _ => Err(BridgeError(message(&buf))),
    }
}

/// Creates a handle; null means failure with a message.
fn create(f: impl FnOnce(*mut c_char, usize) -> *mut c_void) -> Result<*mut c_void, BridgeError> {
    let mut buf = vec![0u8; ERR_LEN];
    let handle = f(buf.as_mut_ptr().cast(), buf.len());
    if handle.is_null() {
        Err(BridgeError(message(&buf)))
    } else {
        Ok(handle)
    }
}

fn c_path(path: &Path) -> Result<CString, BridgeError> {
    CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| BridgeError(format!("the path {} contains a NUL byte", path.display())))
}

/// Packed RGB pixels, `width × height × 3` bytes, as the bridge takes them.
pub struct Rgb<'a> {
    /// The bytes, row-major.
    pub pixels: &'a [u8],
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl Rgb<'_> {
    fn check(&self) -> Result<(), BridgeError> {
        if self.pixels.len() != self.width as usize * self.height as usize * 3 {
            return Err(BridgeError(format!(
                "{} bytes for a {}x{} RGB image",
                self.pixels.len(),
                self.width,
                self.height
            )));
        }
        Ok(())
    }
}

/// Copies the bridge's detections out and frees them.
fn take(d: Detections) -> Vec<Detection> {
    let v = if d.items.is_null() || d.len == 0 {
        Vec::new()
    } else {
        // SAFETY: the bridge allocated `len` initialised items at `items`.
        unsafe { std::slice::from_raw_parts(d.items, d.len) }.to_vec()
    };
    // SAFETY: `d` came from the bridge and is freed once.
    unsafe { fl_detections_free(d) };
    v
}

/// The signature the bridge's two detectors share.
type DetectFn = unsafe extern "C" fn(
    *mut c_void,
    *const u8,
    std::ffi::c_long,
    std::ffi::c_long,
    std::ffi::c_uint,
    f64,
    *mut Detections,
    *mut c_char,
    usize,
) -> i32;

/// One of the bridge's face detectors: dlib's frontal face detector (HOG + linear SVM,
/// built into dlib) or its MMOD CNN (`mmod_human_face_detector.dat`).
pub struct FaceDetector {
    handle: *mut c_void,
    detect: DetectFn,
    free: unsafe extern "C" fn(*mut c_void),
}

// SAFETY: the detector is only used through `&mut self`, one call at a time.
unsafe impl Send for FaceDetector {}

impl FaceDetector {
    /// The HOG detector dlib ships (no model file).
    pub fn hog() -> Result<Self, BridgeError> {
        // SAFETY: the buffer pointer and length come from `create`.
        let handle = create(|e, n| unsafe { fl_hog_new(e, n) })?;
        Ok(FaceDetector {
            handle,
            detect: fl_hog_detect,
            free: fl_hog_free,
        })
    }

    /// Loads the MMOD network; fails with dlib's message when the file is not this network.
    pub fn mmod(path: &Path) -> Result<Self, BridgeError> {
        let p = c_path(path)?;
        // SAFETY: `p` is a valid C string for the call's duration.
        let handle = create(|e, n| unsafe { fl_mmod_new(p.as_ptr(), e, n) })?;
        Ok(FaceDetector {
            handle,
            detect: fl_mmod_detect,
            free: fl_mmod_free,
        })
    }

    /// Detects on `image` upsampled `upsample` times, keeping margins above
    /// `adjust_threshold`; rectangles are in `image`'s pixels.
    pub fn detect(
        &mut self,
        image: &Rgb<'_>,
        upsample: u32,
        adjust_threshold: f64,
    ) -> Result<Vec<Detection>, BridgeError> {
        image.check()?;
        let mut out = Detections {
            items: std::ptr::null_mut(),
            len: 0,
        };
        call(|e, n| {
            // SAFETY: `detect` belongs to the constructor that made the live `handle`, the
            // image was checked, `out` is writable.
            unsafe {
                (self.detect)(
                    self.handle,
                    image.pixels.as_ptr(),
                    image.height as _,
                    image.width as _,
                    upsample,
                    adjust_threshold,
                    &mut out,
                    e,
                    n,
                )
            }
        })?;
        Ok(take(out))
    }
}

impl Drop for FaceDetector {
    fn drop(&mut self) {
        // SAFETY: `free` belongs to the constructor that made `handle`; freed once.
        unsafe { (self.free)(self.handle) }
    }
}

/// A dlib shape predictor (`shape_predictor_5_face_landmarks.dat`).
pub struct ShapePredictor {
    handle: *mut c_void,
    /// The number of points it predicts (5 for the model facelab uses).
    pub num_parts: u64,
}

// SAFETY: the predictor is read-only after loading and used one call at a time.
unsafe impl Send for ShapePredictor {}

impl ShapePredictor {
    /// Loads the predictor; fails with dlib's message when the file is not one.
    pub fn load(path: &Path) -> Result<Self, BridgeError> {
        let p = c_path(path)?;
        let mut parts: std::ffi::c_ulong = 0;
        // SAFETY: `p` and `parts` outlive the call.
        let handle = create(|e, n| unsafe { fl_shape_new(p.as_ptr(), &mut parts, e, n) })?;
        Ok(ShapePredictor {
            handle,
            num_parts: parts as u64,
        })
    }
}

impl Drop for ShapePredictor {
    fn drop(&mut self) {
        // SAFETY: created by fl_shape_new, freed once.
        unsafe { fl_shape_free(self.handle) }
    }
}

/// Where the embedder's five points come from.
pub enum Points<'a> {
    /// Run this shape predictor on each rectangle (face_recognition's path).
    Predict(&'a ShapePredictor),
    /// The detector's five points: ten floats per face, in `Landmarks5` order.
    Given(&'a [f32]),
}

/// dlib's ResNet face embedder (`dlib_face_recognition_resnet_model_v1.dat`).
pub struct ResNet(*mut c_void);

// SAFETY: the network is only used through `&mut self`, one call at a time.
unsafe impl Send for ResNet {}

/// The ResNet's embedding dimension.
pub const RESNET_DIM: usize = 128;

impl ResNet {
    /// Loads the network; fails with dlib's message when the file is not this network.
    pub fn load(path: &Path) -> Result<Self, BridgeError> {
        let p = c_path(path)?;
        // SAFETY: `p` is a valid C string for the call's duration.
        create(|e, n| unsafe { fl_resnet_new(p.as_ptr(), e, n) }).map(ResNet)
    }

    /// Embeds each face of one photo: 128 floats per face, and (with
    /// [`Points::Predict`]) the shape predictor's five points, ten floats per face. With
    /// `mirror`, each descriptor is the mean of the chip's and its mirror image's.
    pub fn embed(
        &mut self,
        image: &Rgb<'_>,
        faces: &[FaceRect],
        points: Points<'_>,
        mirror: bool,
    ) -> Result<(Vec<f32>, Vec<f32>), BridgeError> {
        image.check()?;
        if faces.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let (sp, given) = match points {
            Points::Predict(sp) => (sp.handle, std::ptr::null()),
            Points::Given(p) => {
                if p.len() != faces.len() * 10 {
                    return Err(BridgeError(format!(
                        "{} landmark values for {} faces",
                        p.len(),
                        faces.len()
                    )));
                }
                (std::ptr::null_mut(), p.as_ptr())
            }
        };
        let mut out = vec![0f32; faces.len() * RESNET_DIM];
        let mut used = vec![0f32; faces.len() * 10];
        call(|e, n| {
            // SAFETY: every buffer is sized for `faces.len()` faces and outlives the call.
            unsafe {
                fl_resnet_embed(
                    self.0,
                    sp,
                    image.pixels.as_ptr(),
                    image.height as _,
                    image.width as _,
                    faces.as_ptr(),
                    faces.len(),
                    given,
                    i32::from(mirror),
                    out.as_mut_ptr(),
                    used.as_mut_ptr(),
                    e,
                    n,
                )
            }
        })?;
        Ok((out, used))
    }
}

impl Drop for ResNet {
    fn drop(&mut self) {
        // SAFETY: created by fl_resnet_new, freed once.
        unsafe { fl_resnet_free(self.0) }
    }
}

/// The dlib version the bridge was compiled against, e.g. `19.24.0`.
pub fn dlib_version() -> String {
    // SAFETY: the bridge returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(fl_dlib_version()) }
        .to_string_lossy()
        .into_owned()
}
