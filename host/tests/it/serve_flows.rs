//! More of `facelab serve`'s work in Debian's headless Chromium, each change checked in the
//! library itself: a face beyond the 24 the groups page shows unticked on the group's own
//! page, an undo refused after a CLI command changed the same faces, a group split and (its
//! halves merged again) the merge undone with its cannot-links back, a person hidden and
//! shown again, an unnamed face named on its photo's page, and a single face hidden and
//! shown again. The library: 40 LFW photos of one man (one group larger than 24 faces),
//! ORL s4–s6 (a group each), ORL s1 and s2 named `Ada` and `Bob` from folders, and a VOC
//! group photo. Screenshots go to `<target>/release/serve-screens/`.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common;
use crate::serve::{cli, confirmed, db, one, person_of, state, Served};
use crate::webdriver::{self, Browser};

/// The library described above; returns the config.
fn library(shared: &Path, d: &Path) -> PathBuf {
    common::copy_orl(
        shared,
        &d.join("photos/orl"),
        4..=6,
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    for (s, name) in [(1, "Ada"), (2, "Bob")] {
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
    let lfw = d.join("photos/lfw");
    std::fs::create_dir_all(&lfw).unwrap();
    let mut bush: Vec<PathBuf> =
        std::fs::read_dir(shared.join("datasets/lfw/images/George_W_Bush"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    bush.sort();
    for p in bush.iter().take(40) {
        std::fs::copy(p, lfw.join(p.file_name().unwrap())).unwrap();
    }
    let groups = d.join("photos/groups");
    std::fs::create_dir_all(&groups).unwrap();
    std::fs::copy(
        shared.join("datasets/samples/voc-groups/2008_002506.jpg"),
        groups.join("2008_002506.jpg"),
    )
    .unwrap();
    crate::serve::scanned(shared, d)
}

/// The group ids as the groups page lists them, largest first.
fn group_ids(b: &Browser) -> Vec<i64> {
    b.find_all("section.group")
        .iter()
        .map(|g| {
            b.attr(g, "id")
                .unwrap()
                .trim_start_matches("group-")
                .parse()
                .unwrap()
        })
        .collect()
}

fn members(c: &rusqlite::Connection, group: i64) -> i64 {
    one(
        c,
        "SELECT count(*) FROM cluster_members WHERE cluster_id = ?1",
        [group],
    )
}

/// Cannot-links between the members of two groups.
fn links_between(c: &rusqlite::Connection, x: i64, y: i64) -> i64 {
    one(
        c,
        "SELECT count(*) FROM cannot_link WHERE
           (a IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?1) AND b IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?2))
           OR (a IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?2) AND b IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?1))",
        [x, y],
    )
}

fn hidden_face(c: &rusqlite::Connection, face: i64) -> bool {
    one(
        c,
        "SELECT hidden_at IS NOT NULL FROM faces WHERE id = ?1",
        [face],
    )
}

fn hidden_person(c: &rusqlite::Connection, name: &str) -> bool {
    one(
        c,
        "SELECT hidden_at IS NOT NULL FROM people WHERE name = ?1",
        [name],
    )
}

#[test]
fn serve_unticks_past_the_first_tiles_refuses_a_stale_undo_splits_and_hides_in_a_real_browser() {
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
    let shot = |b: &Browser, name: &str| b.screenshot(&screens.join(format!("{name}.png")));
    let app = Served::start(&config, "127.0.0.1:0");
    let base = format!("http://127.0.0.1:{}", app.port);
    let b = Browser::start(&chromium, &chromedriver);
    let c = db(d);
    b.goto(&app.url);
    assert_eq!(b.url(), format!("{base}/groups"));

    // The largest group has more faces than the groups page shows: its own page shows them
    // all, and one past the first 24 is unticked before naming.
    let big = group_ids(&b)[0];
    let size = members(&c, big);
    assert!(size > 24, "the largest group has {size} faces");
    let group = b.find(&format!("#group-{big}"));
    assert_eq!(b.find_in(&group, "input[name=keep]").len(), 24);
    b.and_wait(|| b.click(&b.find_in(&group, &format!("a[href='/groups/{big}']"))[1]));
    assert_eq!(b.url(), format!("{base}/groups/{big}"));
    let boxes = b.find_all("input[name=keep]");
    assert_eq!(
        boxes.len() as i64,
        size,
        "every face of the group is tickable"
    );
    let faces: Vec<i64> = boxes
        .iter()
        .map(|e| b.attr(e, "value").unwrap().parse().unwrap())
        .collect();
    let out = faces[30];
    b.click(&boxes[30]);
    assert_eq!(b.prop(&boxes[30], "checked"), json!(false));
    shot(&b, "group-page");
    b.type_into(&b.find("input[name=person]"), "George");
    b.and_wait(|| b.click(&b.find("button.primary")));
    assert_eq!(b.url(), format!("{base}/groups"));
    assert_eq!(person_of(&c, out), None, "the unticked face is not named");
    assert_eq!(state(&c, out, "George").as_deref(), Some("rejected"));
    for f in faces.iter().filter(|f| **f != out) {
        assert_eq!(person_of(&c, *f).as_deref(), Some("George"), "face {f}");
    }

    // A CLI command names one of those faces someone else: the undo of the naming would
    // overwrite it, so it is refused, says so, and leaves everything as it is.
    let moved = faces[0];
    cli(&config, &["tag", &moved.to_string(), "Dora"]);
    b.and_wait(|| b.click(&b.find("#undo")));
    let message = b.text(&b.find("p.error"));
    shot(&b, "undo-refused");
    assert!(
        message.contains("refused")
            && message.contains(&format!("face {moved}"))
            && message.contains("Dora")
            && message.contains("Nothing was undone"),
        "{message}"
    );
    assert_eq!(person_of(&c, moved).as_deref(), Some("Dora"));
    assert_eq!(confirmed(&c, "George") as usize, faces.len() - 2);
    assert_eq!(members(&c, big), 0, "the named group stays named");

    // Split a group: two groups, every pair across them a cannot-link.
    b.goto(&format!("{base}/groups"));
    let ids = group_ids(&b);
    let split = ids[0];
    let before = members(&c, split);
    let group = b.find(&format!("#group-{split}"));
    b.and_wait(|| b.click(&b.find_in(&group, "button[formaction$='/split']")[0]));
    let half: i64 = one(&c, "SELECT max(id) FROM clusters", []);
    assert!(!ids.contains(&half), "a new group {half}");
    let (stay, go) = (members(&c, split), members(&c, half));
    assert!(
        stay > 0 && go > 0 && stay + go == before,
        "{stay} + {go} of {before}"
    );
    assert_eq!(links_between(&c, split, half), stay * go);
    shot(&b, "groups-split");
    // The halves merged again (the groups page's Merge form, as the browser sends it): the
    // merge drops the cannot-links, its undo brings the half and the links back.
    let html = b.run("return document.documentElement.outerHTML;", json!([]));
    let csrf = html
        .as_str()
        .unwrap()
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (status, _, _) = app.raw(
        &format!(
            "POST /groups/{split}/merge HTTP/1.0\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded",
            app.cookie()
        ),
        None,
        &format!("csrf={csrf}&back=%2Fgroups&other={half}"),
    );
    assert_eq!(status, 303);
    assert_eq!((members(&c, split), members(&c, half)), (before, 0));
    let links: i64 = one(&c, "SELECT count(*) FROM cannot_link", []);
    assert_eq!(links, 0, "the merge dropped the split's cannot-links");
    b.goto(&format!("{base}/groups"));
    b.and_wait(|| b.click(&b.find("#undo")));
    assert_eq!((members(&c, split), members(&c, half)), (stay, go));
    assert_eq!(
        links_between(&c, split, half),
        stay * go,
        "the links are back"
    );

    // Hide a person, then show them again.
    b.goto(&format!("{base}/people"));
    let card = |name: &str| {
        b.find_all(".card")
            .into_iter()
            .find(|e| b.text(&b.find_in(e, "h2 a")[0]) == name)
    };
    let bob = card("Bob").expect("Bob is listed");
    b.and_wait(|| b.click(&b.find_in(&bob, "form[action$='/hide'] button")[0]));
    assert!(hidden_person(&c, "Bob"));
    assert!(card("Bob").is_none(), "a hidden person leaves the list");
    b.goto(&format!("{base}/people?hidden=1"));
    shot(&b, "people-hidden");
    let bob = card("Bob").expect("Bob is listed with the hidden people");
    b.and_wait(|| b.click(&b.find_in(&bob, "form[action$='/show'] button")[0]));
    assert!(!hidden_person(&c, "Bob"));
    b.goto(&format!("{base}/people"));
    assert!(card("Bob").is_some());

    // Name an unnamed face on its photo's page.
    let image: i64 = one(
        &c,
        "SELECT id FROM images WHERE path LIKE '%2008_002506%'",
        [],
    );
    b.goto(&format!("{base}/photo/{image}"));
    let unnamed = b.find_all("form[action$='/confirm']");
    assert!(!unnamed.is_empty(), "the group photo has an unnamed face");
    let face: i64 = b
        .attr(&unnamed[0], "action")
        .unwrap()
        .rsplit("/faces/")
        .next()
        .unwrap()
        .trim_end_matches("/confirm")
        .parse()
        .unwrap();
    b.type_into(&b.find_in(&unnamed[0], "input[name=person]")[0], "Eve");
    b.and_wait(|| b.click(&b.find_in(&unnamed[0], "button")[0]));
    assert_eq!(person_of(&c, face).as_deref(), Some("Eve"));
    shot(&b, "photo-named");

    // Hide one face in no group ("not someone I know"), then show it again.
    b.goto(&format!("{base}/faces"));
    shot(&b, "faces-flows");
    let first = b.find("figure.face");
    let face: i64 = b
        .attr(&b.find_in(&first, "img")[0], "alt")
        .unwrap()
        .trim_start_matches("face ")
        .parse()
        .unwrap();
    b.and_wait(|| b.click(&b.find_in(&first, "form[action$='/hide'] button")[0]));
    assert!(hidden_face(&c, face));
    b.goto(&format!("{base}/faces/hidden"));
    shot(&b, "hidden-flows");
    let shown = b
        .find_all("figure.face")
        .into_iter()
        .find(|f| b.attr(&b.find_in(f, "img")[0], "alt") == Some(format!("face {face}")))
        .expect("the hidden face is listed");
    b.and_wait(|| b.click(&b.find_in(&shown, "form[action$='/show'] button")[0]));
    assert!(!hidden_face(&c, face));
}
