//! The app's state shared by the workers, one request's parsed form, the reply, and the
//! routing with the guards of [`crate::guard`] in front.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use facelab_engine::pipeline::FaceRecognizer;
use facelab_library::clusters::MergeSuggestions;
use facelab_library::identity::ModelKeys;
use facelab_library::session::{active_models, library_path, open_library, prior, RunContext};
use facelab_library::suggest::Prior;
use facelab_library::{Library, LibraryError};

use crate::guard::{self, Secrets};
use crate::html::Frame;
use crate::undo::Done;

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
    pub(crate) merges: Mutex<Option<(String, Arc<MergeSuggestions>)>>,
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

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
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

/// The security headers of every reply.
const CSP: &str = "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

impl App {
    /// The app for `ctx`'s library, served at `bound`.
    pub fn new(ctx: &RunContext, bound: SocketAddr) -> anyhow::Result<App> {
        let models = active_models(ctx)?;
        // Opened once here so that a library that cannot be opened fails at start.
        drop(open_library(ctx)?);
        Ok(App {
            ctx: ctx.clone(),
            models,
            prior: prior(ctx)?,
            secrets: Secrets::new()?,
            allowed: guard::allowed_hosts(bound),
            bound,
            cache: crate::thumbs::folder(&library_path(ctx)),
            done: Mutex::new(Vec::new()),
            merges: Mutex::new(None),
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

    /// One worker: its own library connection, answering requests until the server stops.
    pub fn work(&self, server: &tiny_http::Server) -> anyhow::Result<()> {
        let mut lib = open_library(&self.ctx)?;
        loop {
            let mut req = match server.recv() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("facelab: serve: {e}");
                    continue;
                }
            };
            let reply = self.answer(&mut lib, &mut req);
            let _ = req.respond(self.response(reply));
        }
    }

    fn response(&self, r: Reply) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        let mut resp =
            tiny_http::Response::from_data(r.body).with_status_code(tiny_http::StatusCode(r.status));
        let mut add = |k: &str, v: &str| {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                resp.add_header(h);
            }
        };
        add("Content-Type", r.content_type);
        add("Content-Security-Policy", CSP);
        add("X-Content-Type-Options", "nosniff");
        add("Referrer-Policy", "no-referrer");
        add("X-Frame-Options", "DENY");
        add("Cross-Origin-Resource-Policy", "same-origin");
        for (k, v) in &r.headers {
            add(k, v);
        }
        resp
    }

    /// Guards, then routes.
    fn answer(&self, lib: &mut Library, req: &mut tiny_http::Request) -> Reply {
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|h| (h.field.as_str().as_str().to_ascii_lowercase(), h.value.as_str().to_owned()))
            .collect();
        let header = |name: &str| {
            let name = name.to_ascii_lowercase();
            headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
        };
        if !guard::host_ok(header("Host").as_deref(), &self.allowed) {
            return Reply::text(400, "bad Host header: open the URL facelab serve printed");
        }
        let url = req.url().to_owned();
        let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let query = guard::form(query);
        let url_token = first(&query, "token");
        let cookie = header("Cookie");
        let cookie_token = guard::cookie(cookie.as_deref(), guard::COOKIE);
        let by_url = url_token.is_some_and(|t| guard::same_secret(t, &self.secrets.token));
        let by_cookie = cookie_token.is_some_and(|t| guard::same_secret(t, &self.secrets.token));
        if !by_url && !by_cookie {
            return Reply::text(403, "forbidden: open the URL with the token that facelab serve printed");
        }
        let method = req.method().as_str().to_ascii_uppercase();
        if by_url {
            // Into the cookie, and out of the address bar.
            let rest: Vec<String> = query
                .iter()
                .filter(|(k, _)| k != "token")
                .map(|(k, v)| format!("{}={}", guard::encode(k), guard::encode(v)))
                .collect();
            let to = if rest.is_empty() { path.to_owned() } else { format!("{path}?{}", rest.join("&")) };
            let mut r = Reply::redirect(&to);
            r.headers.push((
                "Set-Cookie".into(),
                format!("{}={}; HttpOnly; SameSite=Strict; Path=/", guard::COOKIE, self.secrets.token),
            ));
            if method == "GET" {
                return r;
            }
        }
        let mut form = Vec::new();
        if method == "POST" {
            if !guard::origin_ok(header("Origin").as_deref(), &self.allowed) {
                return Reply::text(403, "forbidden: a change from another site");
            }
            let mut body = String::new();
            if req
                .as_reader()
                .take(1 << 20)
                .read_to_string(&mut body)
                .is_err()
            {
                return Reply::text(400, "the form is not UTF-8");
            }
            form = guard::form(&body);
            let csrf = first(&form, "csrf").unwrap_or("");
            if !guard::same_secret(csrf, &self.secrets.csrf) {
                return Reply::text(403, "forbidden: the form's CSRF token is missing or wrong (reload the page)");
            }
        } else if method != "GET" && method != "HEAD" {
            return Reply::text(405, "only GET and POST");
        }
        let request = Request {
            here: url.clone(),
            method,
            path: path.to_owned(),
            query,
            form,
            if_none_match: header("If-None-Match"),
        };
        let result = if request.method == "POST" {
            crate::actions::route(self, lib, &request)
        } else {
            self.get(lib, &request)
        };
        match result {
            Ok(r) => r,
            Err(Fail::Bad(m)) => Reply::text(400, &m),
            Err(Fail::NotFound(m)) => Reply::text(404, &m),
            Err(Fail::Conflict(m)) => {
                let back = guard::local_path(request.f("back").unwrap_or("/"));
                let body = format!(
                    "<p class=\"error\">{}</p><p><a href=\"{}\">Back</a></p>",
                    crate::html::esc(&m),
                    crate::html::esc(&back)
                );
                Reply::html(409, crate::html::page(&self.frame(&request), crate::html::Tab::None, "Not done", &body))
            }
            Err(Fail::Internal(m)) => {
                eprintln!("facelab: serve: {} {}: {m}", request.method, request.path);
                Reply::text(500, &m)
            }
        }
    }

    fn get(&self, lib: &mut Library, req: &Request) -> Handled {
        let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            [""] => Ok(Reply::redirect("/groups")),
            ["assets", "app.js"] => Ok(asset(include_str!("../assets/app.js"), "text/javascript; charset=utf-8")),
            ["assets", "app.css"] => Ok(asset(include_str!("../assets/app.css"), "text/css; charset=utf-8")),
            ["thumb", id] => crate::photo::thumb(self, lib, guard::parse_id(id)?, req),
            ["image", id] => crate::photo::image(self, lib, guard::parse_id(id)?, req),
            ["photo", id] => crate::photo::page_of(self, lib, guard::parse_id(id)?, req),
            ["people"] => crate::pages::people(self, lib, req),
            ["person", id] => crate::pages::person(self, lib, guard::parse_id(id)?, req),
            ["groups"] => crate::pages::groups(self, lib, req),
            ["faces"] => crate::pages::ungrouped(self, lib, req),
            ["faces", "hidden"] => crate::pages::hidden(self, lib, req),
            ["suggestions"] => crate::pages::suggestions(self, lib, req),
            ["suggestions", "bulk"] => crate::pages::bulk_preview(self, lib, req),
            _ => Err(Fail::NotFound(format!("no page {}", req.path))),
        }
    }

    /// The frame of a page for `req`.
    pub(crate) fn frame<'a>(&'a self, req: &'a Request) -> Frame<'a> {
        Frame {
            csrf: &self.secrets.csrf,
            last: self.done.lock().ok().and_then(|d| d.last().map(|x| x.label.clone())),
            here: &req.here,
        }
    }

    /// Merge proposals for the library as it is now, computed again only after a change.
    pub(crate) fn merges(&self, lib: &Library) -> Result<Arc<MergeSuggestions>, Fail> {
        let stamp = lib.change_stamp()?;
        if let Ok(m) = self.merges.lock() {
            if let Some((s, found)) = m.as_ref() {
                if *s == stamp {
                    return Ok(found.clone());
                }
            }
        }
        let found = Arc::new(facelab_library::clusters::suggest_merges(
            lib,
            &self.models,
            self.prior,
            self.ctx.config.library.min_quality,
            Some(2000),
        )?);
        if let Ok(mut m) = self.merges.lock() {
            *m = Some((stamp, found.clone()));
        }
        Ok(found)
    }
}

fn asset(text: &'static str, content_type: &'static str) -> Reply {
    Reply {
        status: 200,
        content_type,
        body: text.as_bytes().to_vec(),
        headers: vec![("Cache-Control".into(), "no-cache".into())],
    }
}
