//! One connection's request: the guards of [`crate::guard`] in their order, then the route to a
//! page ([`crate::pages`], [`crate::photo`]) or a change ([`crate::actions`]).

use std::net::TcpStream;
use std::time::{Duration, Instant};

use facelab_library::session::open_library;
use facelab_library::Library;

use crate::app::{first, App, Fail, Handled, Reply, Request};
use crate::{guard, http};

/// The security headers of every reply.
const CSP: &str = "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

impl App {
    /// Answers the one request of connection `stream`, with a library connection from the
    /// pool (opened when none is free).
    pub fn connection(&self, mut stream: TcpStream) {
        let req = match http::read_request(&mut stream, Duration::from_secs(15)) {
            Ok(r) => r,
            Err(http::ReadError::Nothing) => return,
            Err(http::ReadError::Bad(why)) => {
                let _ = http::write_reply(&mut stream, 400, &[], why.as_bytes(), false);
                return;
            }
        };
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let mut lib = match pooled.map_or_else(|| open_library(&self.ctx), Ok) {
            Ok(lib) => lib,
            Err(e) => {
                eprintln!("facelab: serve: {e:#}");
                let _ = http::write_reply(
                    &mut stream,
                    503,
                    &[],
                    b"the library cannot be opened",
                    false,
                );
                return;
            }
        };
        let (trace, started) = (
            std::env::var_os("FACELAB_SERVE_LOG").is_some(),
            Instant::now(),
        );
        // A bug in one handler answers 500 and leaves the server serving.
        let answered =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.answer(&mut lib, &req)));
        let reply = answered.unwrap_or_else(|_| {
            eprintln!(
                "facelab: serve: {} {} failed (a bug)",
                req.method, req.target
            );
            Reply::text(500, "internal error")
        });
        if let Ok(mut p) = self.pool.lock() {
            p.push(lib);
        }
        let mut headers: Vec<(&str, &str)> = vec![
            ("Content-Type", reply.content_type),
            ("Content-Security-Policy", CSP),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"),
            ("X-Frame-Options", "DENY"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
        ];
        headers.extend(reply.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let sent = http::write_reply(
            &mut stream,
            reply.status,
            &headers,
            &reply.body,
            req.method == "HEAD",
        );
        if trace {
            eprintln!(
                "facelab: serve: {} {} {} {:?} {sent:?}",
                req.method,
                req.target,
                reply.status,
                started.elapsed()
            );
        }
    }

    /// Guards, then routes.
    fn answer(&self, lib: &mut Library, req: &http::Incoming) -> Reply {
        let header = |name: &str| req.header(&name.to_ascii_lowercase()).map(str::to_owned);
        if !guard::host_ok(header("Host").as_deref(), &self.allowed) {
            return Reply::text(400, "bad Host header: open the URL facelab serve printed");
        }
        let url = req.target.clone();
        let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let query = guard::form(query);
        let url_token = first(&query, "token");
        let cookie = header("Cookie");
        let cookie_token = guard::cookie(cookie.as_deref(), guard::COOKIE);
        let by_url = url_token.is_some_and(|t| guard::same_secret(t, &self.secrets.token));
        let by_cookie = cookie_token.is_some_and(|t| guard::same_secret(t, &self.secrets.token));
        if !by_url && !by_cookie {
            return Reply::text(
                403,
                "forbidden: open the URL with the token that facelab serve printed",
            );
        }
        let method = req.method.to_ascii_uppercase();
        if by_url {
            // Into the cookie, and out of the address bar.
            let rest: Vec<String> = query
                .iter()
                .filter(|(k, _)| k != "token")
                .map(|(k, v)| format!("{}={}", guard::encode(k), guard::encode(v)))
                .collect();
            let to = if rest.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", rest.join("&"))
            };
            let mut r = Reply::redirect(&to);
            r.headers.push((
                "Set-Cookie".into(),
                format!(
                    "{}={}; HttpOnly; SameSite=Strict; Path=/",
                    guard::COOKIE,
                    self.secrets.token
                ),
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
            let Ok(body) = std::str::from_utf8(&req.body) else {
                return Reply::text(400, "the form is not UTF-8");
            };
            form = guard::form(body);
            let csrf = first(&form, "csrf").unwrap_or("");
            if !guard::same_secret(csrf, &self.secrets.csrf) {
                return Reply::text(
                    403,
                    "forbidden: the form's CSRF token is missing or wrong (reload the page)",
                );
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
                Reply::html(
                    409,
                    crate::html::page(
                        &self.frame(&request),
                        crate::html::Tab::None,
                        "Not done",
                        &body,
                    ),
                )
            }
            Err(Fail::Internal(m)) => {
                eprintln!("facelab: serve: {} {}: {m}", request.method, request.path);
                Reply::text(500, &m)
            }
        }
    }

    /// Answers a GET of `target` (path and query) as the router does once the guards have
    /// passed: the server's own time, for the bench.
    pub fn answer_get(&self, lib: &mut Library, target: &str) -> Reply {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let req = Request {
            method: "GET".into(),
            path: path.to_owned(),
            here: target.to_owned(),
            query: guard::form(query),
            form: Vec::new(),
            if_none_match: None,
        };
        match self.get(lib, &req) {
            Ok(r) => r,
            Err(e) => Reply::text(500, &format!("{e:?}")),
        }
    }

    /// Computes the merge proposals now, so the first groups page does not wait for them.
    pub fn warm(&self) -> anyhow::Result<()> {
        let lib = open_library(&self.ctx)?;
        if let Ok(mut m) = self.merges.lock() {
            *m = None;
        }
        self.merges(&lib)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    fn get(&self, lib: &mut Library, req: &Request) -> Handled {
        let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            [""] => Ok(Reply::redirect("/groups")),
            ["assets", "app.js"] => Ok(asset(
                include_str!("../assets/app.js"),
                "text/javascript; charset=utf-8",
            )),
            ["assets", "app.css"] => Ok(asset(
                include_str!("../assets/app.css"),
                "text/css; charset=utf-8",
            )),
            ["thumb", id] => crate::photo::thumb(self, lib, guard::parse_id(id)?, req),
            ["image", id] => crate::photo::image(self, lib, guard::parse_id(id)?, req),
            ["photo", id] => crate::photo::page_of(self, lib, guard::parse_id(id)?, req),
            ["people"] => crate::pages::people(self, lib, req),
            ["person", id] => crate::pages::person(self, lib, guard::parse_id(id)?, req),
            ["groups"] => crate::pages::groups(self, lib, req),
            ["groups", id] => crate::group::show(self, lib, guard::parse_id(id)?, req),
            ["faces"] => crate::pages::ungrouped(self, lib, req),
            ["faces", "hidden"] => crate::pages::hidden(self, lib, req),
            ["suggestions"] => crate::pages::suggestions(self, lib, req),
            ["suggestions", "bulk"] => crate::pages::bulk_preview(self, lib, req),
            _ => Err(Fail::NotFound(format!("no page {}", req.path))),
        }
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
