//! `facelab serve`: a local web app to name faces by looking at them, over the same face
//! library the command line uses.
//!
//! Why it is built this way:
//! - **Synchronous, a thread per connection** ([`http`]). The library is synchronous SQLite
//!   in WAL mode; each request uses a library connection of its own (kept in a pool
//!   between requests), and every change goes through the
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
mod cut;
mod group;
mod http;
mod pages;
mod photo;
mod router;
mod undo;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use facelab_library::session::RunContext;

pub use app::{App, Reply, Request};

/// Connections served at once (each on its own thread); more are answered 503.
pub const MAX_CONNECTIONS: usize = 64;

/// How `facelab serve` was asked to run.
pub struct Options {
    /// Address and port to listen on (port 0: any free port).
    pub bind: SocketAddr,
}

/// Serves the app until the process is stopped. Prints the URL with the token on stdout
/// (one line, flushed, so a script or a test can read it) and, when the address is not a
/// loopback one, a warning on stderr.
pub fn serve(ctx: &RunContext, options: &Options) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(options.bind).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {}: {e} (help: pick another --bind ADDR:PORT, or port 0 for any free one)",
            options.bind
        )
    })?;
    let bound = listener.local_addr()?;
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
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if open.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            let _ = http::write_reply(&mut stream, 503, &[], b"busy", false);
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let (app, open) = (app.clone(), open.clone());
        std::thread::spawn(move || {
            app.connection(stream);
            open.fetch_sub(1, Ordering::AcqRel);
        });
    }
    Ok(())
}
