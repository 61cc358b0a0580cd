//! The app's state shared by the workers, one request's parsed form, the reply and the
//! failures; [`crate::router`] answers requests with them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use facelab_engine::pipeline::FaceRecognizer;
use facelab_library::clusters::MergeSuggestions;
use facelab_library::identity::ModelKeys;
use facelab_library::session::{active_models, open_library, prior, RunContext};
use facelab_library::suggest::Prior;
use facelab_library::{Library, LibraryError};

use crate::guard::{self, Secrets};
use crate::html::Frame;
use crate::undo::Done;

/// Merge proposals with the library's change stamp they were computed at.
pub(crate) type Proposals = (String, Arc<MergeSuggestions>);

/// What the workers share.
pub struct App {
    pub(crate) ctx: RunContext,
    pub(crate) models: ModelKeys,
    pub(crate) prior: Option<Prior>,
    pub(crate) secrets: Secrets,
    pub(crate) allowed: Vec<String>,
    pub(crate) bound: SocketAddr,
    pub(crate) cache: PathBuf,
    /// Done actions, the last one first to undo.
    pub(crate) done: Mutex<Vec<Done>>,
    /// Merge proposals and the library's change stamp they were computed at.
    pub(crate) merges: Arc<Mutex<Option<Proposals>>>,
    /// A background computation of the proposals is running.
    pub(crate) refreshing: Arc<AtomicBool>,
    /// Library connections not in use (each request takes one, or opens one).
    pub(crate) pool: Mutex<Vec<Library>>,
    /// Faces whose tile a page already had cut (or found cut) while the server runs: a
    /// page checks only the others. A tile whose photo changed since is cut by its own
    /// request ([`crate::thumbs::face_tile`]).
    pub(crate) tiles_seen: Mutex<std::collections::HashSet<i64>>,
    /// Faces whose tiles a page is having cut in the background.
    pub(crate) cutting: Arc<crate::thumbs::InFlight>,
    /// The recognizer for drawn faces, opened at the first one.
    pub(crate) recognizer: Mutex<Option<(FaceRecognizer, ModelKeys)>>,
}

/// A request as the handlers see it.
pub struct Request {
    /// `GET` or `POST`.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The path with its query (where a change goes back to).
    pub here: String,
    /// Query pairs.
    pub query: Vec<(String, String)>,
    /// Form pairs of a POST.
    pub form: Vec<(String, String)>,
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
}

impl Request {
    /// The first query value of `key`.
    pub fn q(&self, key: &str) -> Option<&str> {
        first(&self.query, key)
    }

    /// The first form value of `key`.
    pub fn f(&self, key: &str) -> Option<&str> {
        first(&self.form, key)
    }

    /// Every form value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `page` query value, from 1.
    pub fn page(&self) -> i64 {
        self.q("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1i64)
            .max(1)
    }
}

pub(crate) fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A reply.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Content-Type.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
    /// More headers.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// An HTML page.
    pub fn html(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            body: body.into_bytes(),
            headers: vec![("Cache-Control".into(), "no-store".into())],
        }
    }

    /// A redirect (303 See Other) to a local path.
    pub fn redirect(to: &str) -> Reply {
        Reply {
            status: 303,
            content_type: "text/plain; charset=utf-8",
            body: Vec::new(),
            headers: vec![
                ("Location".into(), guard::local_path(to)),
                ("Cache-Control".into(), "no-store".into()),
            ],
        }
    }

    /// A plain-text error.
    pub fn text(status: u16, text: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{text}\n").into_bytes(),
            headers: vec![("Cache-Control".into(), "no-store".into())],
        }
    }
}

/// Why a request failed, as its status.
#[derive(Debug)]
pub enum Fail {
    /// 400.
    Bad(String),
    /// 404.
    NotFound(String),
    /// 409: the request contradicts the library (shown as a page with the message).
    Conflict(String),
    /// 500.
    Internal(String),
}

impl From<LibraryError> for Fail {
    fn from(e: LibraryError) -> Fail {
        match e {
            LibraryError::NotFound(m) => Fail::NotFound(m),
            LibraryError::Conflict(m) => Fail::Conflict(m),
            e => Fail::Internal(e.to_string()),
        }
    }
}

impl From<guard::BadId> for Fail {
    fn from(_: guard::BadId) -> Fail {
        Fail::Bad("an id is decimal digits only".into())
    }
}

/// A handler's result.
pub type Handled = Result<Reply, Fail>;

impl App {
    /// The app for `ctx`'s library, served at `bound`.
    pub fn new(ctx: &RunContext, bound: SocketAddr) -> anyhow::Result<App> {
        let models = active_models(ctx)?;
        // Opened once here so that a library that cannot be opened fails at start.
        let location = open_library(ctx)?.path().to_owned();
        Ok(App {
            ctx: ctx.clone(),
            models,
            prior: prior(ctx)?,
            secrets: Secrets::new()?,
            allowed: guard::allowed_hosts(bound),
            bound,
            cache: crate::thumbs::folder(&location),
            done: Mutex::new(Vec::new()),
            merges: Arc::new(Mutex::new(None)),
            refreshing: Arc::new(AtomicBool::new(false)),
            pool: Mutex::new(Vec::new()),
            tiles_seen: Mutex::new(std::collections::HashSet::new()),
            cutting: Arc::new(crate::thumbs::InFlight::default()),
            recognizer: Mutex::new(None),
        })
    }

    /// The URL to open, with the token.
    pub fn url(&self) -> String {
        let host = if self.bound.ip().is_unspecified() {
            format!("127.0.0.1:{}", self.bound.port())
        } else {
            self.bound.to_string()
        };
        format!("http://{host}/?token={}", self.secrets.token)
    }

    /// The frame of a page for `req`.
    pub(crate) fn frame<'a>(&'a self, req: &'a Request) -> Frame<'a> {
        Frame {
            csrf: &self.secrets.csrf,
            last: self
                .done
                .lock()
                .ok()
                .and_then(|d| d.last().map(|x| x.label.clone())),
            here: &req.here,
        }
    }

    /// Merge proposals: those of the library as it is now when they are computed, else
    /// (after a change) the last ones while new ones are computed in the background, since
    /// on a large library they take seconds; only before the first ones are ready does a
    /// page wait. Pages skip a stale pair whose group or person is gone.
    pub(crate) fn merges(&self, lib: &Library) -> Result<Arc<MergeSuggestions>, Fail> {
        let stamp = lib.change_stamp()?;
        let cached = self.merges.lock().ok().and_then(|m| m.clone());
        match cached {
            Some((s, found)) if s == stamp => Ok(found),
            Some((_, found)) => {
                self.refresh_merges();
                Ok(found)
            }
            None => {
                let found = Arc::new(compute_merges(lib, &self.models, self.prior, &self.ctx)?);
                if let Ok(mut m) = self.merges.lock() {
                    *m = Some((stamp, found.clone()));
                }
                Ok(found)
            }
        }
    }

    /// Computes the proposals again on a thread of its own (one at a time).
    fn refresh_merges(&self) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (ctx, models, prior) = (self.ctx.clone(), self.models.clone(), self.prior);
        let (cache, flag) = (self.merges.clone(), self.refreshing.clone());
        std::thread::spawn(move || {
            let fresh = open_library(&ctx)
                .map_err(|e| format!("{e:#}"))
                .and_then(|lib| {
                    let stamp = lib.change_stamp().map_err(|e| e.to_string())?;
                    let found =
                        compute_merges(&lib, &models, prior, &ctx).map_err(|e| format!("{e:?}"))?;
                    Ok((stamp, Arc::new(found)))
                });
            match fresh {
                Ok(f) => {
                    if let Ok(mut m) = cache.lock() {
                        *m = Some(f);
                    }
                }
                Err(e) => eprintln!("facelab: serve: merge proposals: {e}"),
            }
            flag.store(false, Ordering::Release);
        });
    }
}

fn compute_merges(
    lib: &Library,
    models: &ModelKeys,
    prior: Option<Prior>,
    ctx: &RunContext,
) -> Result<MergeSuggestions, Fail> {
    Ok(facelab_library::clusters::suggest_merges(
        lib,
        models,
        prior,
        ctx.config.library.min_quality,
        Some(2000),
    )?)
}
