//! facelab's integration tests: one binary, a module per area (as ripgrep's tests/ are laid
//! out), so the suite links once. They run the real `facelab` binary, the real plugin `.so`
//! files and the real models on ../shared (skipped with a message when it is absent, failed
//! when FACELAB_REQUIRE_SHARED=1).

// First: its macros (`require_shared!`) are visible to the modules declared after it.
#[allow(dead_code)]
#[macro_use]
mod common;

mod architecture;
mod bench;
mod bench_scan;
mod cli;
mod clusters;
mod default_pipeline;
mod detectors;
mod dlib;
mod edgeface;
mod facenet;
mod fused;
mod library;
mod merges;
mod mirror;
mod models;
mod naming_bench;
mod operating;
mod options;
mod pgvector;
mod plugin_loading;
mod postgres;
mod quality;
mod queue;
mod recognizers;
mod scan_decode;
mod scan_workers;
mod serve;
mod serve_flows;
mod sface;
mod shared_required;
mod webdriver;
mod xmp;
