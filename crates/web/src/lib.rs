//! `facelab serve`: a local web app to name faces by looking at them, over the same face
//! library the command line uses.
//!
//! Why it is built this way:
//! - **Synchronous, a few threads.** The library is synchronous SQLite in WAL mode; each
//!   worker thread holds its own [`Library`] connection, and every change goes through the
//!   library's own functions and their `BEGIN IMMEDIATE` transactions, so a `facelab scan`
//!   or `facelab tag` running at the same time never loses or doubles anything.
//! - **Server-rendered pages**, built into the binary with their CSS and a little script
//!   (keyboard actions, drawing a box): no Node build, no CDN, and a strict
//!   Content-Security-Policy (no inline script or style).
//! - **Local and guarded** ([`guard`]): loopback by default, a random token, a Host check
//!   against DNS rebinding, an Origin check and a CSRF token on every change, photos and
//!   tiles only by library id.
//! - **Paged, cached**: pages read a bounded slice of the library ([`facelab_library::browse`]);
//!   face tiles are cut once and kept beside the library ([`thumbs`]).
//! - **Undo**: each action records its inverse, applied through the library functions
//!   ([`undo`]).

#![deny(missing_docs)]

pub mod guard;
pub mod html;
pub mod thumbs;

mod actions;
mod app;
mod pages;
mod photo;
mod router;
mod undo;

use std::net::SocketAddr;
use std::sync::Arc;

use facelab_library::session::RunContext;

pub use app::{App, Reply, Request};

/// Worker threads, each with its own library connection.
pub const WORKERS: usize = 4;

/// How `facelab serve` was asked to run.
pub struct Options {
    /// Address and port to listen on (port 0: any free port).
    pub bind: SocketAddr,
}

/// Serves the app until the process is stopped. Prints the URL with the token on stdout
/// (one line, flushed, so a script or a test can read it) and, when the address is not a
/// loopback one, a warning on stderr.
pub fn serve(ctx: &RunContext, options: &Options) -> anyhow::Result<()> {
    let server = tiny_http::Server::http(options.bind)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e} (help: pick another --bind ADDR:PORT, or port 0 for any free one)", options.bind))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| anyhow::anyhow!("the server is not on an IP address"))?;
    let app = Arc::new(App::new(ctx, bound)?);
    if !bound.ip().is_loopback() {
        eprintln!(
            "facelab: warning: serving on {bound}, which other machines can reach: anyone with the URL below can see and change this face library"
        );
    }
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "facelab serve: {}", app.url())?;
        out.flush()?;
    }
    {
        // The merge proposals beside the groups read every embedding: computed once now, in
        // the background, rather than by the first page.
        let app = app.clone();
        std::thread::spawn(move || {
            if let Err(e) = app.warm() {
                eprintln!("facelab: serve: {e:#}");
            }
        });
    }
    let server = Arc::new(server);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (server, app) = (server.clone(), app.clone());
            std::thread::spawn(move || app.work(&server))
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
    }
    Ok(())
}
