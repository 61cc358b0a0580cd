//! Face tiles, photo previews and the photo page (its faces with their names, a name field
//! for each unnamed one, and a box to draw a face the detector missed).

use std::fmt::Write as _;

use facelab_library::Library;

use crate::app::{App, Fail, Handled, Reply, Request};
use crate::html::{button, esc, hidden_fields, page, people_list, tile, Tab};
use crate::thumbs::{self, Cached, ThumbError};

fn cached(c: Result<Cached, ThumbError>, req: &Request) -> Handled {
    let c = match c {
        Ok(c) => c,
        Err(ThumbError::Missing) => {
            return Err(Fail::NotFound(
                "the photo file is missing (help: run `facelab scan` on its folder)".into(),
            ))
        }
        Err(ThumbError::Failed(m)) => return Err(Fail::Internal(m)),
    };
    let etag = format!("\"{}\"", c.key);
    let headers = vec![
        ("ETag".to_owned(), etag.clone()),
        (
            "Cache-Control".to_owned(),
            "private, max-age=3600, must-revalidate".to_owned(),
        ),
    ];
    if req
        .if_none_match
        .as_deref()
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok(Reply {
            status: 304,
            content_type: "image/jpeg",
            body: Vec::new(),
            headers,
        });
    }
    let body =
        std::fs::read(&c.file).map_err(|e| Fail::Internal(format!("{}: {e}", c.file.display())))?;
    Ok(Reply {
        status: 200,
        content_type: "image/jpeg",
        body,
        headers,
    })
}

/// The tile of face `face`.
pub fn thumb(app: &App, lib: &mut Library, face: i64, req: &Request) -> Handled {
    app.cutting.wait(face, std::time::Duration::from_secs(20));
    let src = lib
        .face_source(face)?
        .ok_or_else(|| Fail::NotFound(format!("no face with id {face}")))?;
    cached(
        thumbs::face_tile(
            &app.cache,
            face,
            &src.path,
            src.bbox,
            app.ctx.config.images.max_pixels,
        ),
        req,
    )
}

/// Has the tiles of `faces` that the cache lacks cut in the background as a page that
/// shows them is sent: each photo decoded once for all its faces on the page, on every
/// core, while the browser reads the page; a tile request for one of them waits for it
/// ([`thumbs::InFlight`]). Faces an earlier page saw to are not checked again, unless the
/// cache folder was deleted since.
pub fn cut_tiles(app: &App, lib: &Library, faces: &[i64]) -> Result<(), Fail> {
    let emptied = !app.cache.is_dir();
    let new: Vec<i64> = match app.tiles_seen.lock() {
        Ok(mut seen) => {
            if emptied {
                seen.clear();
            }
            faces
                .iter()
                .copied()
                .filter(|f| !seen.contains(f))
                .collect()
        }
        Err(_) => faces.to_vec(),
    };
    if new.is_empty() {
        return Ok(());
    }
    let mut wanted = Vec::with_capacity(new.len());
    for f in &new {
        if let Some(s) = lib.face_source(*f)? {
            wanted.push(thumbs::Wanted {
                face: s.face,
                photo: s.path,
                bbox: s.bbox,
            });
        }
    }
    if let Ok(mut seen) = app.tiles_seen.lock() {
        seen.extend(new);
    }
    let ids: Vec<i64> = wanted.iter().map(|w| w.face).collect();
    let marked: std::collections::HashSet<i64> = app.cutting.start(&ids).into_iter().collect();
    wanted.retain(|w| marked.contains(&w.face));
    if wanted.is_empty() {
        return Ok(());
    }
    /// Whatever happens to the batch, its faces are no longer waited for.
    struct Release(std::sync::Arc<thumbs::InFlight>, Vec<i64>);
    impl Drop for Release {
        fn drop(&mut self) {
            self.1.iter().for_each(|f| self.0.done(*f));
        }
    }
    let release = Release(app.cutting.clone(), wanted.iter().map(|w| w.face).collect());
    let (cache, max_pixels) = (app.cache.clone(), app.ctx.config.images.max_pixels);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::spawn(move || {
        let cutting = release.0.clone();
        thumbs::cut_missing(&cache, &wanted, max_pixels, workers, &|f| cutting.done(f));
        drop(release);
    });
    Ok(())
}

/// The preview of photo `image`.
pub fn image(app: &App, lib: &mut Library, image: i64, req: &Request) -> Handled {
    let photo = lib
        .photo(image)?
        .ok_or_else(|| Fail::NotFound(format!("no scanned photo with id {image}")))?;
    cached(
        thumbs::preview(
            &app.cache,
            image,
            &photo.path,
            app.ctx.config.images.max_pixels,
        ),
        req,
    )
}

/// The photo with its face boxes (an SVG over the preview, in photo pixels), its faces
/// with names, and the form a drawn box fills.
pub fn page_of(app: &App, lib: &mut Library, image: i64, req: &Request) -> Handled {
    let photo = lib
        .photo(image)?
        .ok_or_else(|| Fail::NotFound(format!("no scanned photo with id {image}")))?;
    let frame = app.frame(req);
    let (w, h) = (photo.width, photo.height);
    let names: Vec<String> = lib.people()?.into_iter().map(|p| p.name).collect();
    let mut body = people_list(&names);
    let _ = write!(
        body,
        "<p class=\"lead\">{} · {w}×{h} · {}. Drag on the photo to add a face the detector missed.</p>\
         <div class=\"photo\"><img src=\"/image/{image}\" alt=\"photo {image}\" width=\"{w}\" height=\"{h}\" id=\"photo-img\">\
         <svg id=\"boxes\" viewBox=\"0 0 {w} {h}\" preserveAspectRatio=\"none\" data-width=\"{w}\" data-height=\"{h}\">",
        esc(&facelab_library::paths::display_path(&photo.path)),
        crate::html::n_faces(photo.faces.len() as i64)
    );
    for f in &photo.faces {
        let b = f.bbox;
        let class = if f.person.is_some() {
            "named"
        } else {
            "unnamed"
        };
        let _ = write!(
            body,
            "<g class=\"{class}\" id=\"box-{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"></rect><text x=\"{}\" y=\"{}\">{}</text></g>",
            f.id,
            b.x,
            b.y,
            b.width,
            b.height,
            b.x,
            (b.y - 4.0).max(12.0),
            esc(f.person.as_deref().unwrap_or(&format!("face {}", f.id)))
        );
    }
    let _ = write!(
        body,
        "<rect id=\"drawn\" class=\"drawn\" x=\"0\" y=\"0\" width=\"0\" height=\"0\"></rect></svg></div>\
         <form method=\"post\" action=\"/photo/{image}/faces\" class=\"row draw\" id=\"draw-form\">{}\
         <label>x <input name=\"x\" id=\"draw-x\" type=\"number\" step=\"1\" min=\"0\" max=\"{w}\" required></label>\
         <label>y <input name=\"y\" id=\"draw-y\" type=\"number\" step=\"1\" min=\"0\" max=\"{h}\" required></label>\
         <label>width <input name=\"w\" id=\"draw-w\" type=\"number\" step=\"1\" min=\"1\" max=\"{w}\" required></label>\
         <label>height <input name=\"h\" id=\"draw-h\" type=\"number\" step=\"1\" min=\"1\" max=\"{h}\" required></label>\
         <label>name <input name=\"person\" id=\"draw-name\" list=\"people\" autocomplete=\"off\" placeholder=\"optional\"></label>\
         <button type=\"submit\" class=\"primary\" id=\"draw-add\">Add face</button></form><div class=\"cards\">",
        hidden_fields(&frame)
    );
    for f in &photo.faces {
        let _ = write!(
            body,
            "<article class=\"card\" id=\"face-{}\">{}",
            f.id,
            tile(f.id, "", "")
        );
        match &f.person {
            Some(name) => {
                let _ = write!(body, "<h2>{}</h2>", esc(name));
                body.push_str(&button(
                    &frame,
                    &format!("/faces/{}/reject", f.id),
                    &format!("Not {name}"),
                    "quiet",
                    &format!(
                        "<input type=\"hidden\" name=\"person\" value=\"{}\">",
                        esc(name)
                    ),
                ));
            }
            None => {
                let _ = write!(
                    body,
                    "<h2>Unnamed</h2><form method=\"post\" action=\"/faces/{}/confirm\" class=\"row\">{}<label class=\"sr\" for=\"assign-{}\">Name</label><input id=\"assign-{}\" name=\"person\" list=\"people\" placeholder=\"Who is this?\" required autocomplete=\"off\"><button type=\"submit\">Name</button></form>",
                    f.id, hidden_fields(&frame), f.id, f.id
                );
            }
        }
        body.push_str("</article>");
    }
    body.push_str("</div>");
    Ok(Reply::html(
        200,
        page(&frame, Tab::None, &format!("Photo {image}"), &body),
    ))
}
