//! `facelab scan` on camera-size JPEGs through the real binary and plugins: decoded at a
//! reduced DCT scale, faces stored at full size and embedded from crops with enough pixels,
//! and broken JPEGs (Huffman table, restart markers, truncation) failing alone with their
//! reason.

use crate::common;

use std::path::{Path, PathBuf};

use common::{facelab, run};
use facelab_plugin_api::BBox;

/// The default detector with MobileFaceNet (ONNX Runtime), a private cache and library.
fn config(shared: &Path, dir: &Path) -> PathBuf {
    common::ort_mobilefacenet_config(shared, dir, "")
}

/// A sprint photo upscaled 4× (Lanczos) and written as JPEG quality 92: a camera-size photo
/// (3128 × 2076) whose faces the detector sees at 1280 px either way.
fn camera_jpeg(shared: &Path, to: &Path) -> Vec<u8> {
    let src = image::open(shared.join("datasets/samples/sprint/codingsprint2009-01.jpg"))
        .unwrap()
        .to_rgb8();
    let big = image::imageops::resize(
        &src,
        src.width() * 4,
        src.height() * 4,
        image::imageops::FilterType::Lanczos3,
    );
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
        .encode_image(&big)
        .unwrap();
    std::fs::write(to, &bytes).unwrap();
    bytes
}

fn scan(config: &Path, dir: &Path) -> (i32, serde_json::Value, String) {
    let (code, out, err) = run(facelab()
        .arg("--config")
        .arg(config)
        .args(["scan", "--json"])
        .arg(dir));
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v, err)
}

fn iou(a: &BBox, b: &BBox) -> f32 {
    facelab_plugin_kit::geometry::iou(a, b)
}

use facelab_cluster::linalg::cosine;

#[test]
fn a_camera_size_photo_is_decoded_at_half_scale_and_stored_and_embedded_as_at_full_size() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let photo = photos.join("camera.jpg");
    camera_jpeg(&shared, &photo);
    let config = config(&shared, d);
    let (code, s, err) = scan(&config, &photos);
    assert_eq!(code, 0, "{err}");
    let s = &s["scan"];
    assert_eq!(
        (s["decoded"].as_u64(), s["reduced"].as_u64()),
        (Some(1), Some(1)),
        "a 3128 px photo for a 1280 px detector is decoded at 1/2: {s}"
    );
    assert!(s["stage_seconds"]["detect"].as_f64().unwrap() > 0.0, "{s}");
    // The library's faces, in the photo's full-size pixels.
    let conn = rusqlite::Connection::open(d.join("library.sqlite")).unwrap();
    let (w, h): (u32, u32) = conn
        .query_row("SELECT width, height FROM images", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((w, h), (3128, 2076));
    let mut stmt = conn
        .prepare("SELECT f.x, f.y, f.w, f.h, e.vector FROM faces f JOIN embeddings e ON e.face_id = f.id")
        .unwrap();
    let stored: Vec<(BBox, Vec<f32>)> = stmt
        .query_map([], |r| {
            let blob: Vec<u8> = r.get(4)?;
            Ok((
                BBox::new(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
                blob.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let faces: i64 = conn
        .query_row("SELECT count(*) FROM faces", [], |r| r.get(0))
        .unwrap();
    assert!(
        faces >= 5,
        "the sprint photo has several clear faces: {faces}"
    );
    assert_eq!(stored.len() as i64, faces, "every face has an embedding");
    // The same photo decoded at full size by `facelab embed`: the same faces, and
    // embeddings of the same person (crops with at least the embedder's input size).
    let (code, out, err) = run(facelab()
        .arg("--config")
        .arg(&config)
        .args(["embed", "--json"])
        .arg(&photo));
    assert_eq!(code, 0, "{err}");
    let full: serde_json::Value = serde_json::from_str(&out).unwrap();
    let full: Vec<(BBox, Vec<f32>)> = full["photos"][0]["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let b = &f["face"];
            let g = |k: &str| b[k].as_f64().unwrap() as f32;
            let v = f["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            (BBox::new(g("x"), g("y"), g("width"), g("height")), v)
        })
        .collect();
    assert!(
        (full.len() as i64 - faces).abs() <= 1,
        "{} faces at full size, {faces} at 1/2",
        full.len()
    );
    let mut matched = 0;
    for (b, v) in &stored {
        let Some((fb, fv)) = full
            .iter()
            .max_by(|x, y| iou(b, &x.0).total_cmp(&iou(b, &y.0)))
        else {
            continue;
        };
        if iou(b, fb) < 0.5 {
            continue;
        }
        matched += 1;
        assert!(iou(b, fb) > 0.8, "{b:?} vs {fb:?}");
        let c = cosine(v, fv);
        assert!(c > 0.9, "the embedding of {b:?} moved: cosine {c}");
    }
    assert!(matched as i64 >= faces - 1, "{matched} of {faces} matched");
}

/// `jpeg` with the first Huffman table's code counts made impossible (more codes of a
/// length than that length allows).
fn broken_huffman(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let at = out
        .windows(2)
        .position(|w| w == [0xFF, 0xC4])
        .expect("a DHT segment");
    // Segment: FF C4, length (2), class/id (1), 16 counts.
    out[at + 5] = 0xFF;
    out[at + 6] = 0xFF;
    out
}

/// A JPEG with a restart marker every MCU row, written by libjpeg-turbo.
fn with_restarts(rgb: &image::RgbImage) -> Vec<u8> {
    use turbojpeg::raw;
    // SAFETY: one handle, used and destroyed here; the buffers outlive the calls.
    unsafe {
        let h = raw::tj3Init(raw::TJINIT_TJINIT_COMPRESS as _);
        assert!(!h.is_null());
        assert_eq!(raw::tj3Set(h, raw::TJPARAM_TJPARAM_QUALITY as _, 90), 0);
        assert_eq!(raw::tj3Set(h, raw::TJPARAM_TJPARAM_SUBSAMP as _, 2), 0);
        assert_eq!(raw::tj3Set(h, raw::TJPARAM_TJPARAM_RESTARTROWS as _, 1), 0);
        let mut buf: *mut u8 = std::ptr::null_mut();
        let mut size: raw::size_t = 0;
        let r = raw::tj3Compress8(
            h,
            rgb.as_raw().as_ptr(),
            rgb.width() as _,
            0,
            rgb.height() as _,
            raw::TJPF_TJPF_RGB as _,
            &mut buf,
            &mut size,
        );
        assert_eq!(r, 0);
        let out = std::slice::from_raw_parts(buf, size as usize).to_vec();
        raw::tj3Free(buf as _);
        raw::tj3Destroy(h);
        out
    }
}

#[test]
fn broken_jpegs_fail_alone_with_their_reason_at_any_decode_scale() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let good = camera_jpeg(&shared, &photos.join("good.jpg"));
    std::fs::write(photos.join("huffman.jpg"), broken_huffman(&good)).unwrap();
    std::fs::write(photos.join("truncated.jpg"), &good[..good.len() * 2 / 3]).unwrap();
    let src = image::open(shared.join("datasets/samples/sprint/codingsprint2009-01.jpg"))
        .unwrap()
        .to_rgb8();
    let big = image::imageops::resize(&src, 3128, 2076, image::imageops::FilterType::Triangle);
    let restarts = with_restarts(&big);
    let markers = restarts
        .windows(2)
        .filter(|w| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1]))
        .count();
    assert!(markers > 50, "one restart marker per MCU row: {markers}");
    // A well-formed restart-marker file decodes at 1/2 like any other.
    std::fs::write(photos.join("restarts.jpg"), &restarts).unwrap();
    // The same file with every restart marker RST0 (out of sequence from the second on).
    let mut shuffled = restarts.clone();
    let mut i = 0;
    while i + 1 < shuffled.len() {
        if shuffled[i] == 0xFF && (0xD0..=0xD7).contains(&shuffled[i + 1]) {
            shuffled[i + 1] = 0xD0;
        }
        i += 1;
    }
    std::fs::write(photos.join("bad-restarts.jpg"), &shuffled).unwrap();
    let config = config(&shared, d);
    let (code, s, err) = scan(&config, &photos);
    assert_eq!(code, 1, "some files failed: {err}");
    let s = &s["scan"];
    assert_eq!(
        s["new"], 3,
        "good, restarts and bad-restarts are stored: {s}"
    );
    // libjpeg-turbo refuses out-of-sequence restart markers; the entropy-coded data is
    // intact, so the fallback decoder reads the file at full size.
    assert_eq!(s["reduced"], 2, "good and restarts decoded at 1/2: {s}");
    let conn = rusqlite::Connection::open(d.join("library.sqlite")).unwrap();
    let mut stmt = conn
        .prepare("SELECT path, status, error, (SELECT count(*) FROM faces f WHERE f.image_id = images.id) FROM images ORDER BY path")
        .unwrap();
    let rows: Vec<(String, String, Option<String>, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.0.ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("{name} in {rows:?}"))
    };
    for name in ["good.jpg", "restarts.jpg", "bad-restarts.jpg"] {
        let r = row(name);
        assert_eq!(r.1, "done", "{r:?}");
        assert!(r.3 >= 5, "{r:?}");
    }
    assert!(
        (row("restarts.jpg").3 - row("bad-restarts.jpg").3).abs() <= 1,
        "the same pixels, the same faces: {rows:?}"
    );
    for (name, reason) in [("huffman.jpg", "Huffman"), ("truncated.jpg", "truncated")] {
        let r = row(name);
        assert_eq!(r.1, "failed", "{r:?}");
        assert_eq!(r.3, 0, "no faces from a broken file: {r:?}");
        let e = r.2.as_deref().unwrap();
        assert!(
            e.contains(name) && e.contains(reason) && e.contains("help:"),
            "{name}: {e}"
        );
    }
}
