//! A small W3C WebDriver client over HTTP (ureq + JSON) driving Debian's `chromium`
//! headless through `chromedriver`, both installed by scripts/setup.sh. No browser or
//! driver is downloaded: when they are missing the browser tests skip with a message (or
//! fail, when FACELAB_REQUIRE_SHARED=1, as in CI).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The key WebDriver gives an element reference under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Debian's chromium and chromedriver, when both are installed.
pub fn installed() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| names.iter().map(PathBuf::from).find(|p| p.is_file());
    Some((
        find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"])?,
        find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])?,
    ))
}

/// A browser session; the driver is stopped when it is dropped.
pub struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

/// An element reference.
#[derive(Clone, Debug)]
pub struct El(pub String);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless chromium (1280×900) through it.
    pub fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let profile = tempfile::tempdir().unwrap();
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            agent,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while b.agent.get(&format!("{}/status", b.base)).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = vec![
            "--headless=new".to_owned(),
            // CI runs as root, where Chromium refuses its sandbox.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", b._profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // Navigation returns once the document is parsed; tiles are awaited (and any
            // that never loads is named) by `wait_images`.
            "pageLoadStrategy": "eager",
            "goog:chromeOptions": {"binary": chromium.to_str().unwrap(), "args": args}
        }}});
        let v = b.call("POST", "/session", Some(caps));
        let id = v["sessionId"].as_str().expect("a session id").to_owned();
        b.base = format!("{}/session/{id}", b.base);
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = self.agent.request(method, &url);
        let res = match body {
            Some(b) => req
                .set("Content-Type", "application/json")
                .send_string(&b.to_string()),
            None => req.call(),
        };
        let text = match res {
            Ok(r) => r.into_string().unwrap(),
            Err(ureq::Error::Status(code, r)) => {
                panic!(
                    "WebDriver {method} {path}: {code}: {}",
                    r.into_string().unwrap_or_default()
                )
            }
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        v.get("value").cloned().unwrap_or(v)
    }

    /// Opens `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.call("GET", "/url", None).as_str().unwrap().to_owned()
    }

    /// The first element matching `css`.
    pub fn find(&self, css: &str) -> El {
        let v = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        El(v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no {css}: {v}"))
            .to_owned())
    }

    /// Every element matching `css`.
    pub fn find_all(&self, css: &str) -> Vec<El> {
        let v = self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| El(e[ELEMENT].as_str().unwrap().to_owned()))
            .collect()
    }

    /// Every element matching `css` inside `parent`.
    pub fn find_in(&self, parent: &El, css: &str) -> Vec<El> {
        let v = self.call(
            "POST",
            &format!("/element/{}/elements", parent.0),
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| El(e[ELEMENT].as_str().unwrap().to_owned()))
            .collect()
    }

    /// Clicks `el`.
    pub fn click(&self, el: &El) {
        self.call("POST", &format!("/element/{}/click", el.0), Some(json!({})));
    }

    /// Types `text` into `el`.
    pub fn type_into(&self, el: &El, text: &str) {
        self.call(
            "POST",
            &format!("/element/{}/value", el.0),
            Some(json!({ "text": text })),
        );
    }

    /// An attribute (or property) of `el`.
    pub fn attr(&self, el: &El, name: &str) -> Option<String> {
        self.call("GET", &format!("/element/{}/attribute/{name}", el.0), None)
            .as_str()
            .map(str::to_owned)
    }

    /// A DOM property of `el` (`checked`, `value`).
    pub fn prop(&self, el: &El, name: &str) -> serde_json::Value {
        self.call("GET", &format!("/element/{}/property/{name}", el.0), None)
    }

    /// The visible text of `el`.
    pub fn text(&self, el: &El) -> String {
        self.call("GET", &format!("/element/{}/text", el.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` (a function body) with `args`; its return value.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Presses `key` (a character or a WebDriver key code such as "\u{E015}", down arrow)
    /// on whatever has the focus.
    pub fn press(&self, key: &str) {
        self.call(
            "POST",
            "/actions",
            Some(
                json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                    {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}
                ]}]}),
            ),
        );
        self.call("DELETE", "/actions", None);
    }

    /// Drags the mouse over `el` from `from` to `to`, offsets from its centre in CSS pixels.
    pub fn drag(&self, el: &El, from: (i64, i64), to: (i64, i64)) {
        let origin = json!({ ELEMENT: el.0 });
        self.call(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "pointer", "id": "mouse",
                "parameters": {"pointerType": "mouse"}, "actions": [
                {"type": "pointerMove", "origin": origin, "x": from.0, "y": from.1},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerMove", "origin": origin, "x": (from.0 + to.0) / 2, "y": (from.1 + to.1) / 2, "duration": 50},
                {"type": "pointerMove", "origin": origin, "x": to.0, "y": to.1, "duration": 50},
                {"type": "pointerUp", "button": 0}
            ]}]})),
        );
        self.call("DELETE", "/actions", None);
    }

    /// Marks the current page, runs `act` (which submits a form), and waits until another
    /// page has loaded.
    pub fn and_wait(&self, act: impl FnOnce()) {
        self.run("window.__facelab_old_page = true;", json!([]));
        act();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.run(
                "return window.__facelab_old_page !== true && document.readyState !== 'loading';",
                json!([]),
            );
            if v.as_bool() == Some(true) {
                return;
            }
            assert!(Instant::now() < deadline, "the page did not change");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every image of the page has loaded (tiles are cut on first request).
    pub fn wait_images(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self
            .run(
                "return Array.from(document.images).every(i => i.complete);",
                json!([]),
            )
            .as_bool()
            != Some(true)
        {
            assert!(
                Instant::now() < deadline,
                "images did not load: {}",
                self.run(
                    "return Array.from(document.images).filter(i => !i.complete).map(i => i.src).join(' ');",
                    json!([])
                )
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves a PNG screenshot of the page (the whole page's height) to `file`.
    pub fn screenshot(&self, file: &Path) {
        let h = self
            .run("return document.documentElement.scrollHeight;", json!([]))
            .as_i64()
            .unwrap_or(900)
            .clamp(900, 4000);
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": 1280, "height": h + 100})),
        );
        // Lazy tiles load once the taller window shows them.
        self.wait_images();
        let b64 = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        std::fs::write(file, png).unwrap();
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": 1280, "height": 900})),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
