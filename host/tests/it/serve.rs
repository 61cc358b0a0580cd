//! `facelab serve` on a library scanned from real photos (ORL subjects, three of them
//! named from labelled folders, one of those called `<script>`, and two VOC group photos):
//! its guards answered over raw HTTP, and the whole naming work done in Debian's headless
//! Chromium through WebDriver, each change checked in the library itself. Screenshots of
//! every page go to `<target>/release/serve-screens/`.

use crate::common;
use crate::webdriver::{self, Browser};

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use common::{facelab, run};
use serde_json::json;

/// The name whose escaping the pages are checked on.
const SCRIPT: &str = "<script>";

/// Scans ORL s1–s6 (photos 1–5) and two VOC group photos, names s1, s2 and s3 from
/// folders `Ada`, `Bob` and `<script>` (photos 7–10), clusters and suggests. Returns the
/// config.
fn library(shared: &Path, d: &Path) -> PathBuf {
    common::copy_orl(shared, &d.join("photos"), 1..=6, &[1, 2, 3, 4, 5]);
    for (s, name) in [(1, "Ada"), (2, "Bob"), (3, SCRIPT)] {
        let to = d.join("named").join(name);
        std::fs::create_dir_all(&to).unwrap();
        for i in 7..=10 {
            std::fs::copy(
                shared.join(format!("datasets/orl/s{s}/{i}.pgm")),
                to.join(format!("{i}.pgm")),
            )
            .unwrap();
        }
    }
    let groups = d.join("photos/groups");
    std::fs::create_dir_all(&groups).unwrap();
    for p in ["2008_002506.jpg", "2007_007763.jpg"] {
        std::fs::copy(
            shared.join("datasets/samples/voc-groups").join(p),
            groups.join(p),
        )
        .unwrap();
    }
    scanned(shared, d)
}

/// The library of `d/photos` and `d/named` (folder per person) with the default pipeline:
/// scanned, named from the folders, clustered and suggested. Returns the config.
pub(crate) fn scanned(shared: &Path, d: &Path) -> PathBuf {
    let config = common::write_config(
        d,
        &format!(
            "[detector]\nplugin = \"onnx-runtime\"\nkind = \"yunet\"\nmodel = \"yunet-s-dynamic\"\n[recognizer]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"sface-2021dec\"\n[models]\nmirror = \"{}\"\ncache_dir = \"{}\"\n[library]\npath = \"{}\"\n",
            shared.join("models").display(),
            d.join("cache").display(),
            d.join("library.sqlite").display()
        ),
    );
    let named = d.join("named");
    for args in [
        vec![
            "scan",
            d.join("photos").to_str().unwrap(),
            named.to_str().unwrap(),
        ],
        vec!["import-labels", named.to_str().unwrap()],
        vec!["cluster"],
        vec!["suggest"],
    ] {
        cli(&config, &args);
    }
    config
}

pub(crate) fn cli(config: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(facelab().arg("--config").arg(config).args(args));
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

pub(crate) fn db(d: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(d.join("library.sqlite")).unwrap()
}

pub(crate) fn one<T: rusqlite::types::FromSql>(
    c: &rusqlite::Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> T {
    c.query_row(sql, p, |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A running `facelab serve`, stopped when dropped.
pub(crate) struct Served {
    child: Child,
    /// The URL it printed, with the token.
    pub(crate) url: String,
    pub(crate) port: u16,
    token: String,
    /// What it wrote on stderr.
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Served {
    pub(crate) fn start(config: &Path, bind: &str) -> Served {
        let mut child = facelab()
            .arg("--config")
            .arg(config)
            .args(["serve", "--bind", bind])
            .env("FACELAB_SERVE_LOG", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("facelab serve: ")
            .unwrap_or_else(|| panic!("no URL printed: {line:?}"))
            .to_owned();
        let port = url
            .split(':')
            .nth(2)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let token = url.split("token=").nth(1).unwrap().to_owned();
        // Drained, so the server never blocks on a full pipe; shown when the test ends.
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Served {
            child,
            url,
            port,
            token,
            log,
        }
    }

    pub(crate) fn cookie(&self) -> String {
        format!("facelab_token={}", self.token)
    }

    /// One HTTP/1.0 request as written, with `Host: 127.0.0.1:PORT` unless `host` is given:
    /// (status, headers in lower case, body).
    pub(crate) fn raw(&self, head: &str, host: Option<&str>, body: &str) -> (u16, String, Vec<u8>) {
        let host = host.map_or(format!("127.0.0.1:{}", self.port), str::to_owned);
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{head}\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let headers = String::from_utf8_lossy(&out[..split]).to_lowercase();
        let status = headers.split(' ').nth(1).unwrap().parse().unwrap();
        (status, headers, out[split + 4..].to_vec())
    }

    pub(crate) fn get(&self, path: &str, extra: &str) -> (u16, String, Vec<u8>) {
        let cookie = self.cookie();
        self.raw(
            &format!("GET {path} HTTP/1.0\r\nCookie: {cookie}{extra}"),
            None,
            "",
        )
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        if !log.is_empty() {
            eprintln!("facelab serve wrote on stderr:\n{log}");
        }
    }
}

pub(crate) fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

#[test]
fn serve_answers_only_its_own_token_host_and_forms_and_serves_crops_by_id() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = library(&shared, d);
    let app = Served::start(&config, "127.0.0.1:0");
    assert!(app.url.starts_with("http://127.0.0.1:"), "{}", app.url);

    // No token: 403. The token once in the URL: a cookie, and a redirect without it.
    assert_eq!(app.raw("GET /groups HTTP/1.0", None, "").0, 403);
    assert_eq!(app.raw("GET /groups?token=wrong HTTP/1.0", None, "").0, 403);
    let (status, h, _) = app.raw(
        &format!("GET /groups?token={} HTTP/1.0", app.token),
        None,
        "",
    );
    assert_eq!(status, 303);
    assert_eq!(header(&h, "location"), Some("/groups"));
    assert!(
        header(&h, "set-cookie").unwrap().contains("httponly"),
        "{h}"
    );
    // A forged Host (DNS rebinding), even with the token: 400.
    let (status, _, _) = app.raw(
        &format!("GET /groups HTTP/1.0\r\nCookie: {}", app.cookie()),
        Some(&format!("attacker.example:{}", app.port)),
        "",
    );
    assert_eq!(status, 400);

    // Pages carry a strict CSP, and a person called <script> is text.
    let (status, h, body) = app.get("/people", "");
    assert_eq!(status, 200);
    let csp = header(&h, "content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let html = String::from_utf8(body).unwrap();
    assert!(
        html.contains("&lt;script&gt;"),
        "the name is not shown escaped"
    );
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the app's own script tag"
    );

    // Ids: a path or anything not digits is 400, an unknown id 404.
    for path in [
        "/thumb/..%2F..%2Fetc%2Fpasswd",
        "/thumb/abc",
        "/photo/1.jpg",
        "/person/-1",
        "/image/%2Fetc%2Fpasswd",
    ] {
        assert_eq!(app.get(path, "").0, 400, "{path}");
    }
    for path in [
        "/thumb/99999999",
        "/photo/99999999",
        "/person/99999999",
        "/image/99999999",
    ] {
        assert_eq!(app.get(path, "").0, 404, "{path}");
    }

    // A crop by face id: a JPEG, cut once into the cache beside the library, with an ETag
    // that a second request gets a 304 for; a changed photo gets a new one.
    let c = db(d);
    let (face, path): (i64, String) = c
        .query_row(
            "SELECT f.id, i.path FROM faces f JOIN images i ON i.id = f.image_id WHERE i.path LIKE '%2008_002506%' ORDER BY f.id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let (status, h, jpeg) = app.get(&format!("/thumb/{face}"), "");
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), Some("image/jpeg"));
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let tile = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((tile.width(), tile.height()), (160, 160));
    let etag = header(&h, "etag").unwrap().to_owned();
    assert!(
        header(&h, "cache-control").unwrap().contains("max-age"),
        "{h}"
    );
    let cached: Vec<_> = walk(&d.join("library.sqlite.thumbs"));
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert_eq!(
        app.get(
            &format!("/thumb/{face}"),
            &format!("\r\nIf-None-Match: {etag}")
        )
        .0,
        304
    );
    let file = std::fs::File::options().append(true).open(&path).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let (status, h, _) = app.get(
        &format!("/thumb/{face}"),
        &format!("\r\nIf-None-Match: {etag}"),
    );
    assert_eq!(status, 200, "a changed photo is cut again");
    assert_ne!(header(&h, "etag").unwrap(), etag);
    assert_eq!(
        walk(&d.join("library.sqlite.thumbs")).len(),
        1,
        "the stale tile is removed"
    );

    // Changes need the CSRF token and, when the browser sends one, this server's Origin.
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let hidden = || {
        one::<i64>(
            &c,
            "SELECT count(*) FROM faces WHERE hidden_at IS NOT NULL",
            [],
        )
    };
    let post = |extra: &str, body: &str| {
        app.raw(
            &format!(
                "POST /faces/{face}/hide HTTP/1.0\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded{extra}",
                app.cookie()
            ),
            None,
            body,
        )
        .0
    };
    assert_eq!(post("", "back=%2F"), 403);
    assert_eq!(post("", "csrf=0000&back=%2F"), 403);
    assert_eq!(
        post(
            "\r\nOrigin: http://attacker.example",
            &format!("csrf={csrf}&back=%2F")
        ),
        403
    );
    assert_eq!(hidden(), 0);
    assert_eq!(
        post(
            &format!("\r\nOrigin: http://127.0.0.1:{}", app.port),
            &format!("csrf={csrf}&back=%2F")
        ),
        303
    );
    assert_eq!(hidden(), 1);
    drop(app);

    // Another address than loopback needs --bind and is warned about.
    let other = Served::start(&config, "0.0.0.0:0");
    assert!(other.url.starts_with("http://127.0.0.1:"), "{}", other.url);
    // The warning is written before the URL; give the reader thread a moment.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let err = other.log.lock().unwrap().clone();
    assert!(err.contains("warning") && err.contains("0.0.0.0"), "{err}");
}

pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// The confirmed person of `face`.
pub(crate) fn person_of(c: &rusqlite::Connection, face: i64) -> Option<String> {
    c.query_row(
        "SELECT p.name FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = ?1 AND l.state = 'confirmed'",
        [face],
        |r| r.get(0),
    )
    .ok()
}

pub(crate) fn state(c: &rusqlite::Connection, face: i64, person: &str) -> Option<String> {
    c.query_row(
        "SELECT l.state FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = ?1 AND p.name = ?2",
        rusqlite::params![face, person],
        |r| r.get(0),
    )
    .ok()
}

pub(crate) fn confirmed(c: &rusqlite::Connection, person: &str) -> i64 {
    one(
        c,
        "SELECT count(*) FROM labels l JOIN people p ON p.id = l.person_id WHERE p.name = ?1 AND l.state = 'confirmed'",
        [person],
    )
}

#[test]
fn serve_names_faces_in_a_real_browser_and_each_change_is_in_the_library() {
    let shared = require_shared!();
    let Some((chromium, chromedriver)) = webdriver::installed() else {
        assert!(
            !common::shared_required(),
            "chromium and chromium-driver are missing (scripts/setup.sh installs them)"
        );
        eprintln!("SKIPPED: chromium and chromium-driver are not installed (scripts/setup.sh installs them)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = library(&shared, d);
    let screens = common::profile_dir().join("serve-screens");
    std::fs::create_dir_all(&screens).unwrap();
    eprintln!("screenshots: {}", screens.display());
    let shot = |b: &Browser, name: &str| b.screenshot(&screens.join(format!("{name}.png")));
    let app = Served::start(&config, "127.0.0.1:0");
    let base = format!("http://127.0.0.1:{}", app.port);
    let b = Browser::start(&chromium, &chromedriver);
    let c = db(d);

    // The token once: the app opens on its groups.
    b.goto(&app.url);
    assert_eq!(b.url(), format!("{base}/groups"));
    shot(&b, "groups");

    // Suggestions: the first is focused; y confirms it, ↓ then n rejects the next but one.
    b.goto(&format!("{base}/suggestions"));
    let cards = b.find_all(".suggestion");
    assert!(
        cards.len() >= 3,
        "too few suggestions to test: {}",
        cards.len()
    );
    let card = |i: usize| {
        let face: i64 = b.attr(&cards[i], "data-face").unwrap().parse().unwrap();
        let person = b
            .attr(&b.find_in(&cards[i], "input[name=person]")[0], "value")
            .unwrap();
        (face, person)
    };
    let (f0, p0) = card(0);
    let (f2, p2) = card(2);
    shot(&b, "suggestions");
    let focused = b.run("return document.activeElement.dataset.face;", json!([]));
    assert_eq!(
        focused.as_str(),
        Some(f0.to_string().as_str()),
        "the first suggestion has the focus"
    );
    b.and_wait(|| b.press("y"));
    assert_eq!(
        person_of(&c, f0).as_deref(),
        Some(p0.as_str()),
        "y confirmed face {f0}"
    );
    // The queue moved up: face 2 is second now.
    b.press("\u{E015}");
    b.and_wait(|| b.press("n"));
    assert_eq!(
        state(&c, f2, &p2).as_deref(),
        Some("rejected"),
        "n rejected face {f2}"
    );
    assert_eq!(person_of(&c, f2), None);

    // Bulk: count first, then confirm exactly that many.
    b.goto(&format!("{base}/suggestions/bulk?person=Ada&min=0"));
    shot(&b, "bulk");
    let pending: i64 = one(
        &c,
        "SELECT count(*) FROM labels l JOIN people p ON p.id = l.person_id WHERE p.name = 'Ada' AND l.state = 'suggested'",
        [],
    );
    let shown: i64 = b.text(&b.find("#bulk-count strong")).parse().unwrap();
    assert_eq!(shown, pending);
    let ada = confirmed(&c, "Ada");
    if pending > 0 {
        b.and_wait(|| b.click(&b.find("#bulk-confirm")));
        assert_eq!(confirmed(&c, "Ada"), ada + pending);
    }

    // Name the largest group, one face unticked first: that face is rejected for the name
    // and stays unnamed, the rest are named; suggestions respect the rejection.
    b.goto(&format!("{base}/groups"));
    let group = b.find("section.group");
    let group_id: i64 = b
        .attr(&group, "id")
        .unwrap()
        .trim_start_matches("group-")
        .parse()
        .unwrap();
    let boxes = b.find_in(&group, "input[name=keep]");
    assert!(
        boxes.len() >= 2,
        "the largest group has {} faces",
        boxes.len()
    );
    let members: Vec<i64> = boxes
        .iter()
        .map(|e| b.attr(e, "value").unwrap().parse().unwrap())
        .collect();
    let out = *members.last().unwrap();
    b.click(boxes.last().unwrap());
    assert_eq!(
        b.prop(boxes.last().unwrap(), "checked"),
        json!(false),
        "unticked"
    );
    shot(&b, "groups-unticked");
    b.type_into(&b.find_in(&group, "input[name=person]")[0], "Cleo");
    b.and_wait(|| b.click(&b.find_in(&group, "button.primary")[0]));
    for f in &members[..members.len() - 1] {
        assert_eq!(person_of(&c, *f).as_deref(), Some("Cleo"), "face {f}");
    }
    assert_eq!(person_of(&c, out), None);
    assert_eq!(state(&c, out, "Cleo").as_deref(), Some("rejected"));
    let in_group: i64 = one(
        &c,
        "SELECT count(*) FROM clusters WHERE id = ?1",
        [group_id],
    );
    assert_eq!(in_group, 0, "the named group is gone");
    // Undo puts the group back as it was, without the person the naming added; naming it
    // again is one action.
    b.and_wait(|| b.click(&b.find("#undo")));
    let back: i64 = one(
        &c,
        "SELECT count(*) FROM cluster_members WHERE cluster_id = ?1",
        [group_id],
    );
    assert_eq!(back as usize, members.len(), "the group is back whole");
    assert!(members.iter().all(|f| person_of(&c, *f).is_none()));
    assert_eq!(state(&c, out, "Cleo"), None);
    assert_eq!(
        one::<i64>(&c, "SELECT count(*) FROM people WHERE name = 'Cleo'", []),
        0
    );
    b.goto(&format!("{base}/groups"));
    let group = b.find(&format!("#group-{group_id}"));
    b.click(&b.find_in(&group, &format!("input[name=keep][value='{out}']"))[0]);
    b.type_into(&b.find_in(&group, "input[name=person]")[0], "Cleo");
    b.and_wait(|| b.click(&b.find_in(&group, "button.primary")[0]));
    assert_eq!(confirmed(&c, "Cleo") as usize, members.len() - 1);
    assert_eq!(state(&c, out, "Cleo").as_deref(), Some("rejected"));
    cli(&config, &["suggest"]);
    assert_ne!(state(&c, out, "Cleo").as_deref(), Some("suggested"));

    // Hide a whole group: out of groups and suggestions, also for the CLI's next runs.
    b.goto(&format!("{base}/groups"));
    let group = b.find("section.group");
    let faces: Vec<i64> = b
        .find_in(&group, "input[name=keep]")
        .iter()
        .map(|e| b.attr(e, "value").unwrap().parse().unwrap())
        .collect();
    b.and_wait(|| b.click(&b.find_in(&group, "button[formaction$='/hide']")[0]));
    cli(&config, &["suggest"]);
    cli(&config, &["cluster"]);
    for f in &faces {
        let hidden: bool = one(
            &c,
            "SELECT hidden_at IS NOT NULL FROM faces WHERE id = ?1",
            [f],
        );
        assert!(hidden, "face {f}");
        let labels: i64 = one(
            &c,
            "SELECT count(*) FROM labels WHERE face_id = ?1 AND state = 'suggested'",
            [f],
        );
        let member: i64 = one(
            &c,
            "SELECT count(*) FROM cluster_members WHERE face_id = ?1",
            [f],
        );
        assert_eq!(
            (labels, member),
            (0, 0),
            "hidden face {f} is still suggested or grouped"
        );
    }
    b.goto(&format!("{base}/faces/hidden"));
    shot(&b, "hidden");
    b.goto(&format!("{base}/faces"));
    shot(&b, "faces");

    // People: <script> is shown as text. Renaming Bob to Ada asks first, then merges.
    b.goto(&format!("{base}/people"));
    shot(&b, "people");
    let names: Vec<String> = b.find_all(".card h2 a").iter().map(|e| b.text(e)).collect();
    assert!(names.contains(&SCRIPT.to_owned()), "{names:?}");
    let (ada, bob) = (confirmed(&c, "Ada"), confirmed(&c, "Bob"));
    let bob_card = b
        .find_all(".card")
        .into_iter()
        .find(|e| b.text(&b.find_in(e, "h2 a")[0]) == "Bob")
        .unwrap();
    b.type_into(&b.find_in(&bob_card, "input[name=name]")[0], "Ada");
    b.and_wait(|| b.click(&b.find_in(&bob_card, "form.row button")[0]));
    shot(&b, "merge-confirm");
    assert_eq!(
        confirmed(&c, "Bob"),
        bob,
        "nothing merged before the confirmation"
    );
    b.and_wait(|| b.click(&b.find("#confirm-merge")));
    let bobs: i64 = one(&c, "SELECT count(*) FROM people WHERE name = 'Bob'", []);
    assert_eq!((bobs, confirmed(&c, "Ada")), (0, ada + bob));
    // Undo brings Bob and his faces back.
    b.and_wait(|| b.click(&b.find("#undo")));
    assert_eq!((confirmed(&c, "Ada"), confirmed(&c, "Bob")), (ada, bob));

    // A person's page, then a photo: draw a box the detector missed and name it.
    let ada_id: i64 = one(&c, "SELECT id FROM people WHERE name = 'Ada'", []);
    b.goto(&format!("{base}/person/{ada_id}"));
    shot(&b, "person");
    let image: i64 = one(
        &c,
        "SELECT id FROM images WHERE path LIKE '%2008_002506%'",
        [],
    );
    b.goto(&format!("{base}/photo/{image}"));
    let svg = b.find("#boxes");
    let size = b.run(
        "const r = document.getElementById('boxes').getBoundingClientRect(); return [r.width, r.height];",
        json!([]),
    );
    let (w, h) = (
        size[0].as_f64().unwrap() as i64,
        size[1].as_f64().unwrap() as i64,
    );
    assert!(w > 100 && h > 100, "the photo is shown at {w}x{h}");
    // Top left corner, a tenth of the photo: no detected face there.
    b.drag(
        &svg,
        (-w / 2 + 4, -h / 2 + 4),
        (-w / 2 + 4 + w / 10, -h / 2 + 4 + h / 8),
    );
    let x: f64 = b
        .prop(&b.find("#draw-x"), "value")
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let bw: f64 = b
        .prop(&b.find("#draw-w"), "value")
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        x < 40.0 && bw > 10.0,
        "the drag filled the box: x {x}, w {bw}"
    );
    b.type_into(&b.find("#draw-name"), "Drawn");
    shot(&b, "photo-drawing");
    b.and_wait(|| b.click(&b.find("#draw-add")));
    let drawn: i64 = one(
        &c,
        "SELECT id FROM faces WHERE image_id = ?1 AND origin = 'manual'",
        [image],
    );
    assert_eq!(person_of(&c, drawn).as_deref(), Some("Drawn"));
    let embedded: i64 = one(
        &c,
        "SELECT count(*) FROM embeddings WHERE face_id = ?1",
        [drawn],
    );
    assert_eq!(
        embedded, 1,
        "the drawn face is embedded like `faces add` does"
    );
    shot(&b, "photo");
    // Undo removes it, and the person the drawing added.
    b.and_wait(|| b.click(&b.find("#undo")));
    let left: i64 = one(&c, "SELECT count(*) FROM faces WHERE origin = 'manual'", []);
    let drawn_people: i64 = one(&c, "SELECT count(*) FROM people WHERE name = 'Drawn'", []);
    assert_eq!((left, drawn_people), (0, 0));
}
