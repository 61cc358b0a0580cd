//! One worker's loop: the guards of [`crate::guard`] in their order, then the route to a
//! page ([`crate::pages`], [`crate::photo`]) or a change ([`crate::actions`]).

use std::io::Read as _;

use facelab_library::session::open_library;
use facelab_library::Library;

use crate::app::{first, App, Fail, Handled, Reply, Request};
use crate::guard;

/// The security headers of every reply.
const CSP: &str = "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

impl App {
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
        let mut resp = tiny_http::Response::from_data(r.body)
            .with_status_code(tiny_http::StatusCode(r.status));
        let mut add = |k: &str, v: &str| {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                resp.add_header(h);
            }
        };
        add("Content-Type", r.content_type);
        add("Content-Security-Policy", CSP);
        add("X-Content-Type-Options", "nosniff");
        add("Referrer-Policy", "same-origin");
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
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_owned(),
                )
            })
            .collect();
        let header = |name: &str| {
            let name = name.to_ascii_lowercase();
            headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
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
            return Reply::text(
                403,
                "forbidden: open the URL with the token that facelab serve printed",
            );
        }
        let method = req.method().as_str().to_ascii_uppercase();
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
