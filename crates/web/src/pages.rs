//! The pages (GET): people, a person, groups, faces in no group, hidden faces, the
//! suggestion queue and the bulk-confirm preview. Each reads one page of the library.

use std::collections::HashMap;
use std::fmt::Write as _;

use facelab_library::clusters::MergeSuggestion;
use facelab_library::Library;

use crate::app::{App, Fail, Handled, Reply, Request};
use crate::guard::encode;
use crate::html::{button, esc, hidden_fields, n_faces, page, pager, people_list, tile, Tab};

/// Groups on a page of the groups list.
pub const GROUPS_PER_PAGE: i64 = 8;
/// Faces shown of one group (naming names them all).
pub const FACES_PER_GROUP: i64 = 24;
/// Faces on a page of a person, of faces in no group, of hidden faces.
pub const FACES_PER_PAGE: i64 = 120;
/// Suggestions on a page of the queue.
pub const SUGGESTIONS_PER_PAGE: i64 = 30;

fn names(lib: &Library) -> Result<Vec<String>, Fail> {
    Ok(lib.people()?.into_iter().map(|p| p.name).collect())
}

/// Named people with their counts and cover faces.
pub fn people(app: &App, lib: &mut Library, req: &Request) -> Handled {
    let show_hidden = req.q("hidden") == Some("1");
    let cards = lib.person_cards(show_hidden)?;
    let frame = app.frame(req);
    let mut body = String::new();
    body.push_str(&people_list(&names(lib)?));
    let _ = write!(
        body,
        "<p class=\"lead\">{}. <a href=\"{}\">{}</a></p><div class=\"cards\">",
        if cards.len() == 1 {
            "1 person".to_owned()
        } else {
            format!("{} people", cards.len())
        },
        if show_hidden {
            "/people"
        } else {
            "/people?hidden=1"
        },
        if show_hidden {
            "Hide hidden people"
        } else {
            "Show hidden people too"
        }
    );
    for p in &cards {
        let cover = match p.cover {
            Some(f) => tile(f, &format!("/person/{}", p.id), ""),
            None => "<span class=\"tile empty\">no face</span>".into(),
        };
        let hide = if p.hidden {
            button(
                &frame,
                &format!("/people/{}/show", p.id),
                "Show",
                "quiet",
                "",
            )
        } else {
            button(
                &frame,
                &format!("/people/{}/hide", p.id),
                "Hide",
                "quiet",
                "",
            )
        };
        let _ = write!(
            body,
            "<article class=\"card person{}\">{cover}<h2><a href=\"/person/{}\">{}</a></h2><p>{}</p>\
             <form method=\"post\" action=\"/people/{}/rename\" class=\"row\">{}<label class=\"sr\" for=\"rename-{}\">New name</label><input id=\"rename-{}\" name=\"name\" list=\"people\" placeholder=\"New name…\" required autocomplete=\"off\"><button type=\"submit\">Rename</button></form>{hide}</article>",
            if p.hidden { " hidden-person" } else { "" },
            p.id,
            esc(&p.name),
            n_faces(p.faces),
            p.id,
            hidden_fields(&frame),
            p.id,
            p.id,
        );
    }
    body.push_str("</div>");
    Ok(Reply::html(200, page(&frame, Tab::People, "People", &body)))
}

/// Asks before a rename that would merge two people.
pub fn confirm_merge(app: &App, req: &Request, id: i64, from: &str, into: &str) -> Handled {
    let frame = app.frame(req);
    let back = crate::guard::local_path(req.f("back").unwrap_or("/people"));
    let frame = crate::html::Frame {
        here: &back,
        ..frame
    };
    let body = format!(
        "<p class=\"lead\">There is already a person called <strong>{}</strong>. Merge <strong>{}</strong> into <strong>{}</strong>? Every face of {} becomes {}'s.</p>\
         <form method=\"post\" action=\"/people/{id}/rename\" class=\"row\">{}<input type=\"hidden\" name=\"name\" value=\"{}\"><input type=\"hidden\" name=\"confirm\" value=\"merge\"><button type=\"submit\" class=\"primary\" id=\"confirm-merge\" autofocus>Merge into {}</button> <a href=\"{}\">Cancel</a></form>",
        esc(into), esc(from), esc(into), esc(from), esc(into),
        hidden_fields(&frame), esc(into), esc(into), esc(&back)
    );
    Ok(Reply::html(
        200,
        page(&frame, Tab::People, "Merge two people?", &body),
    ))
}

/// A person's faces, newest photo first.
pub fn person(app: &App, lib: &mut Library, id: i64, req: &Request) -> Handled {
    let p = lib
        .person_card(id)?
        .ok_or_else(|| Fail::NotFound(format!("no person with id {id}")))?;
    let page_no = req.page();
    let (total, faces) = lib.person_faces(id, (page_no - 1) * FACES_PER_PAGE, FACES_PER_PAGE)?;
    crate::photo::cut_tiles(app, lib, &faces)?;
    let frame = app.frame(req);
    let mut body = String::new();
    body.push_str(&people_list(&names(lib)?));
    let _ = write!(
        body,
        "<p class=\"lead\">{}, newest photo first.</p>\
         <form method=\"post\" action=\"/people/{id}/rename\" class=\"row\">{}<label for=\"rename\">Rename or merge into</label><input id=\"rename\" name=\"name\" list=\"people\" value=\"{}\" required autocomplete=\"off\"><button type=\"submit\">Rename</button></form><div class=\"grid\">",
        n_faces(total),
        hidden_fields(&frame),
        esc(&p.name)
    );
    for f in &faces {
        let src = lib.face_source(*f)?;
        let href = src
            .map(|s| format!("/photo/{}", s.image))
            .unwrap_or_default();
        let _ = write!(
            body,
            "<figure class=\"face\">{}{}</figure>",
            tile(*f, &href, "Open photo"),
            button(
                &frame,
                &format!("/faces/{f}/reject"),
                &format!("Not {}", p.name),
                "quiet",
                &format!(
                    "<input type=\"hidden\" name=\"person\" value=\"{}\">",
                    esc(&p.name)
                )
            )
        );
    }
    body.push_str("</div>");
    body.push_str(&pager(
        &format!("/person/{id}?"),
        page_no,
        total,
        FACES_PER_PAGE,
    ));
    Ok(Reply::html(200, page(&frame, Tab::None, &p.name, &body)))
}

/// Groups largest first, each a grid of tickable tiles with a name field, and beside it
/// the groups and people it may be the same person as.
pub fn groups(app: &App, lib: &mut Library, req: &Request) -> Handled {
    let page_no = req.page();
    let key = app.models.key();
    let (total, groups) =
        lib.group_cards(&key, (page_no - 1) * GROUPS_PER_PAGE, GROUPS_PER_PAGE)?;
    let merges = app.merges(lib)?;
    let on_page: Vec<i64> = groups.iter().map(|g| g.id).collect();
    let mut near: HashMap<i64, Vec<&MergeSuggestion>> = HashMap::new();
    for m in &merges.pairs {
        for (side, other) in [(&m.a, &m.b), (&m.b, &m.a)] {
            if let (Some(c), true) = (
                side.cluster.filter(|c| on_page.contains(c)),
                other.cluster.is_some() || other.person.is_some(),
            ) {
                // Best first: the likely ones (up to 3), else the nearest one alone.
                let list = near.entry(c).or_default();
                let room = list.len() < 3
                    && list
                        .last()
                        .is_none_or(|l: &&MergeSuggestion| l.likely && m.likely);
                if list.is_empty() || room {
                    list.push(m);
                }
            }
        }
    }
    // Proposals computed before the last change may name a group or person gone since.
    let people = names(lib)?;
    near.retain(|_, list| {
        list.retain(|m| {
            [&m.a, &m.b].iter().all(|s| match (&s.person, s.cluster) {
                (Some(p), _) => people.contains(p),
                (None, Some(c)) => lib.group_faces(c, 1).is_ok_and(|f| !f.is_empty()),
                _ => false,
            })
        });
        !list.is_empty()
    });
    let frame = app.frame(req);
    let mut body = String::new();
    body.push_str(&people_list(&people));
    let _ = write!(
        body,
        "<p class=\"lead\">{} of faces without a name, largest first. Untick the faces that are someone else, then name the group. <a href=\"/faces\">Faces in no group</a></p>",
        crate::html::count(total, "group"),
    );
    let shown = groups
        .iter()
        .map(|g| lib.group_faces(g.id, FACES_PER_GROUP))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tiles: Vec<i64> = shown.iter().flatten().copied().collect();
    tiles.extend(near.values().flatten().flat_map(|m| [m.a.face, m.b.face]));
    crate::photo::cut_tiles(app, lib, &tiles)?;
    for (g, faces) in groups.iter().zip(&shown) {
        let _ = write!(
            body,
            "<section class=\"group\" id=\"group-{}\"><div class=\"group-main\"><h2><a href=\"/groups/{}\">Group {}</a> <small>{}</small></h2>\
             <form method=\"post\" action=\"/groups/{}/name\" class=\"name-group\">{}<div class=\"grid\">",
            g.id, g.id, g.id, n_faces(g.size), g.id, hidden_fields(&frame)
        );
        for f in faces.iter() {
            let _ = write!(
                body,
                "<label class=\"tick\"><input type=\"hidden\" name=\"shown\" value=\"{f}\"><input type=\"checkbox\" name=\"keep\" value=\"{f}\" checked><img src=\"/thumb/{f}\" alt=\"face {f}\" width=\"112\" height=\"112\"></label>"
            );
        }
        if g.size > faces.len() as i64 {
            let _ = write!(
                body,
                "<p class=\"more\">and {} more, named with them. <a href=\"/groups/{}\">See all {} faces to untick any</a></p>",
                g.size - faces.len() as i64,
                g.id,
                g.size
            );
        }
        let _ = write!(
            body,
            "</div><div class=\"row\"><label class=\"sr\" for=\"name-{}\">Name</label><input id=\"name-{}\" name=\"person\" list=\"people\" placeholder=\"Who is this?\" required autocomplete=\"off\"><button type=\"submit\" class=\"primary\">Name group</button>\
             <button type=\"submit\" formaction=\"/groups/{}/split\" formnovalidate class=\"quiet\">Split</button>\
             <button type=\"submit\" formaction=\"/groups/{}/hide\" formnovalidate class=\"quiet\">Not someone I know</button></div></form></div>",
            g.id, g.id, g.id, g.id
        );
        body.push_str("<aside class=\"near\"><h3>Same person?</h3>");
        match near.get(&g.id) {
            None => body.push_str("<p class=\"muted\">No close group or person.</p>"),
            Some(list) => {
                for m in list {
                    let other = if m.a.cluster == Some(g.id) {
                        &m.b
                    } else {
                        &m.a
                    };
                    let likely = if m.likely {
                        "<span class=\"likely\">likely</span>"
                    } else {
                        "<span class=\"muted\">unlikely</span>"
                    };
                    match (&other.person, other.cluster) {
                        (Some(name), _) => {
                            let _ = write!(
                                body,
                                "<div class=\"pair\">{}<div><strong>{}</strong> · {}<br>{:.2} {likely}</div>{}</div>",
                                tile(other.face, "", ""),
                                esc(name),
                                n_faces(other.faces as i64),
                                m.score,
                                button(&frame, &format!("/groups/{}/name", g.id), &format!("This is {name}"), "", &format!("<input type=\"hidden\" name=\"person\" value=\"{}\">", esc(name)))
                            );
                        }
                        (None, Some(c)) => {
                            let _ = write!(
                                body,
                                "<div class=\"pair\">{}<div><a href=\"#group-{c}\">Group {c}</a> · {}<br>{:.2} {likely}</div>{}</div>",
                                tile(other.face, &format!("#group-{c}"), ""),
                                n_faces(other.faces as i64),
                                m.score,
                                button(&frame, &format!("/groups/{}/merge", g.id), "Merge", "", &format!("<input type=\"hidden\" name=\"other\" value=\"{c}\">"))
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
        body.push_str("</aside></section>");
    }
    body.push_str(&pager("/groups?", page_no, total, GROUPS_PER_PAGE));
    Ok(Reply::html(200, page(&frame, Tab::Groups, "Groups", &body)))
}

fn face_grid(
    app: &App,
    lib: &Library,
    req: &Request,
    faces: &[i64],
    action: (&str, &str),
) -> Result<String, Fail> {
    crate::photo::cut_tiles(app, lib, faces)?;
    let frame = app.frame(req);
    let mut body = String::from("<div class=\"grid\">");
    for f in faces {
        let href = lib
            .face_source(*f)?
            .map(|s| format!("/photo/{}", s.image))
            .unwrap_or_default();
        let _ = write!(
            body,
            "<figure class=\"face\">{}{}</figure>",
            tile(*f, &href, "Open photo"),
            button(
                &frame,
                &format!("/faces/{f}/{}", action.0),
                action.1,
                "quiet",
                ""
            )
        );
    }
    body.push_str("</div>");
    Ok(body)
}

/// Faces without a name in no group.
pub fn ungrouped(app: &App, lib: &mut Library, req: &Request) -> Handled {
    let page_no = req.page();
    let (total, faces) = lib.ungrouped_faces(
        &app.models.key(),
        (page_no - 1) * FACES_PER_PAGE,
        FACES_PER_PAGE,
    )?;
    let mut body = format!(
        "<p class=\"lead\">{} without a name that are in no group. Open a photo to name a face. <a href=\"/faces/hidden\">Hidden faces</a></p>",
        n_faces(total),
    );
    body.push_str(&face_grid(
        app,
        lib,
        req,
        &faces,
        ("hide", "Not someone I know"),
    )?);
    body.push_str(&pager("/faces?", page_no, total, FACES_PER_PAGE));
    Ok(Reply::html(
        200,
        page(&app.frame(req), Tab::Faces, "Faces in no group", &body),
    ))
}

/// Hidden faces, each with a button to show it again.
pub fn hidden(app: &App, lib: &mut Library, req: &Request) -> Handled {
    let page_no = req.page();
    let (total, faces) = lib.hidden_faces((page_no - 1) * FACES_PER_PAGE, FACES_PER_PAGE)?;
    let mut body = format!(
        "<p class=\"lead\">{}: they stay out of groups and suggestions.</p>",
        crate::html::count(total, "hidden face"),
    );
    body.push_str(&face_grid(app, lib, req, &faces, ("show", "Show again"))?);
    body.push_str(&pager("/faces/hidden?", page_no, total, FACES_PER_PAGE));
    Ok(Reply::html(
        200,
        page(&app.frame(req), Tab::Faces, "Hidden faces", &body),
    ))
}

/// The suggestion queue: y confirms, n rejects, arrows move.
pub fn suggestions(app: &App, lib: &mut Library, req: &Request) -> Handled {
    let page_no = req.page();
    let (total, cards) = lib.suggestion_cards(
        None,
        0.0,
        (page_no - 1) * SUGGESTIONS_PER_PAGE,
        SUGGESTIONS_PER_PAGE,
    )?;
    let tiles: Vec<i64> = cards
        .iter()
        .flat_map(|c| std::iter::once(c.face).chain(c.cover))
        .collect();
    crate::photo::cut_tiles(app, lib, &tiles)?;
    let frame = app.frame(req);
    let mut body = String::new();
    body.push_str(&people_list(&names(lib)?));
    let _ = write!(
        body,
        "<p class=\"lead\">{}, best first. <kbd>y</kbd> confirms, <kbd>n</kbd> rejects, <kbd>↑</kbd> <kbd>↓</kbd> move.</p>\
         <form method=\"get\" action=\"/suggestions/bulk\" class=\"row bulk\"><label for=\"bulk-person\">Confirm all of</label><input id=\"bulk-person\" name=\"person\" list=\"people\" required autocomplete=\"off\"><label for=\"bulk-min\">scoring at least</label><input id=\"bulk-min\" name=\"min\" type=\"number\" step=\"0.01\" min=\"-1\" max=\"1\" value=\"0.60\" required><button type=\"submit\">Count them</button></form><ol class=\"queue\">",
        crate::html::count(total, "suggestion"),
    );
    for c in &cards {
        let person = format!(
            "<input type=\"hidden\" name=\"person\" value=\"{}\">",
            esc(&c.person)
        );
        let cover = match c.cover {
            Some(f) => tile(f, "", &c.person),
            None => format!("<span class=\"tile empty\">{}</span>", esc(&c.person)),
        };
        let _ = write!(
            body,
            "<li class=\"suggestion\" tabindex=\"0\" data-face=\"{}\">{}<span class=\"arrow\">→</span>{cover}<div class=\"who\"><strong>{}?</strong><br>score {:.2}</div>{}{}</li>",
            c.face,
            tile(c.face, &format!("/photo/{}", c.image), "Open photo"),
            esc(&c.person),
            c.score,
            button(&frame, &format!("/faces/{}/confirm", c.face), "Yes (y)", "primary confirm", &person),
            button(&frame, &format!("/faces/{}/reject", c.face), "No (n)", "reject", &person),
        );
    }
    body.push_str("</ol>");
    body.push_str(&pager(
        "/suggestions?",
        page_no,
        total,
        SUGGESTIONS_PER_PAGE,
    ));
    Ok(Reply::html(
        200,
        page(&frame, Tab::Suggestions, "Suggestions", &body),
    ))
}

/// How many suggestions a bulk confirmation would confirm, and the button to do it.
pub fn bulk_preview(app: &App, lib: &mut Library, req: &Request) -> Handled {
    let person = req.q("person").unwrap_or("").trim().to_owned();
    let min: f64 = req
        .q("min")
        .and_then(|m| m.trim().parse().ok())
        .filter(|m: &f64| m.is_finite())
        .ok_or_else(|| Fail::Bad("`min` is not a number".into()))?;
    let p = lib
        .person(&person)?
        .ok_or_else(|| Fail::NotFound(format!("no person called {person:?}")))?;
    let (total, cards) = lib.suggestion_cards(Some(&p.name), min, 0, FACES_PER_PAGE)?;
    let back = format!("/suggestions/bulk?person={}&min={min}", encode(&p.name));
    let frame = app.frame(req);
    let frame = crate::html::Frame {
        here: &back,
        ..frame
    };
    let mut body = format!(
        "<p class=\"lead\" id=\"bulk-count\"><strong>{total}</strong> suggestions of <strong>{}</strong> score {min:.2} or more.</p>",
        esc(&p.name)
    );
    if total > 0 {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/suggestions/bulk\" class=\"row\">{}<input type=\"hidden\" name=\"person\" value=\"{}\"><input type=\"hidden\" name=\"min\" value=\"{min}\"><input type=\"hidden\" name=\"count\" value=\"{total}\"><button type=\"submit\" class=\"primary\" id=\"bulk-confirm\">Confirm these {total}</button> <a href=\"/suggestions\">Cancel</a></form><div class=\"grid\">",
            hidden_fields(&frame),
            esc(&p.name)
        );
        for c in &cards {
            body.push_str(&tile(
                c.face,
                &format!("/photo/{}", c.image),
                &format!("{:.2}", c.score),
            ));
        }
        body.push_str("</div>");
    }
    Ok(Reply::html(
        200,
        page(&frame, Tab::Suggestions, "Confirm many", &body),
    ))
}
