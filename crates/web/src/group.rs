//! One group's page (`/groups/ID`): every face of the group, paged, each tickable, with
//! the groups page's name field, *Split* and *Not someone I know*. The groups page shows
//! only the first faces of a large group; here any face can be unticked before naming.
//!
//! Unticked faces of the pages seen before travel with the form: *Previous* and *Next*
//! submit it (`POST /groups/ID/view`, which changes nothing) and come back to
//! `/groups/ID?page=N&out=1,2,3`, so what was unticked stays unticked, without a script.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use facelab_library::Library;

use crate::app::{App, Fail, Handled, Reply, Request};
use crate::guard::parse_id;
use crate::html::{hidden_fields, page, people_list, Frame, Tab};

/// Faces on a page of one group.
pub const FACES_PER_PAGE: i64 = 120;

/// The ids of the comma-separated list `list` (digits only each).
fn id_list(list: &str) -> Result<BTreeSet<i64>, Fail> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_id(s).map_err(Fail::from))
        .collect()
}

/// The faces unticked so far: the form's `out` values (pages seen before) and the faces
/// it showed (`shown`) but not ticked (`keep`).
pub fn unticked(req: &Request) -> Result<BTreeSet<i64>, Fail> {
    let mut out = BTreeSet::new();
    for v in req.all("out") {
        out.extend(id_list(v)?);
    }
    let keep: BTreeSet<i64> = req
        .all("keep")
        .into_iter()
        .map(|s| parse_id(s).map_err(Fail::from))
        .collect::<Result<_, _>>()?;
    for s in req.all("shown") {
        let f = parse_id(s)?;
        if keep.contains(&f) {
            out.remove(&f);
        } else {
            out.insert(f);
        }
    }
    Ok(out)
}

/// `/groups/ID`: the faces of page `page`, ticked unless in the query's `out`.
pub fn show(app: &App, lib: &mut Library, id: i64, req: &Request) -> Handled {
    facelab_library::clusters::model_of(lib, id)?;
    let all = lib.group_faces(id, i64::MAX)?;
    if all.is_empty() {
        return Err(Fail::NotFound(format!(
            "group {id} has no face without a name left (help: it was named, merged or hidden; see the groups page)"
        )));
    }
    let total = all.len() as i64;
    let pages = ((total + FACES_PER_PAGE - 1) / FACES_PER_PAGE).max(1);
    let page_no = req.page().min(pages);
    let from = ((page_no - 1) * FACES_PER_PAGE) as usize;
    let faces: Vec<i64> = all
        .iter()
        .skip(from)
        .take(FACES_PER_PAGE as usize)
        .copied()
        .collect();
    let out: BTreeSet<i64> = id_list(req.q("out").unwrap_or(""))?
        .into_iter()
        .filter(|f| all.contains(f))
        .collect();
    crate::photo::cut_tiles(app, lib, &faces)?;
    let names: Vec<String> = lib.people()?.into_iter().map(|p| p.name).collect();
    // A change goes back to the groups page: this group is gone once named.
    let frame = app.frame(req);
    let frame = Frame {
        here: "/groups",
        ..frame
    };
    let mut body = people_list(&names);
    let _ = write!(
        body,
        "<p class=\"lead\">{} without a name. Untick the faces that are someone else, on every page, then name the group: the unticked ones are kept apart from that name.{}</p>\
         <form method=\"post\" action=\"/groups/{id}/name\" class=\"name-group group-page\">{}",
        crate::html::n_faces(total),
        if out.is_empty() {
            String::new()
        } else {
            format!(" {} unticked so far.", out.len())
        },
        hidden_fields(&frame)
    );
    let elsewhere: Vec<String> = out
        .iter()
        .filter(|f| !faces.contains(f))
        .map(|f| f.to_string())
        .collect();
    if !elsewhere.is_empty() {
        let _ = write!(
            body,
            "<input type=\"hidden\" name=\"out\" value=\"{}\">",
            elsewhere.join(",")
        );
    }
    let _ = write!(
        body,
        "<div class=\"row\"><label class=\"sr\" for=\"name-{id}\">Name</label><input id=\"name-{id}\" name=\"person\" list=\"people\" placeholder=\"Who is this?\" required autocomplete=\"off\"><button type=\"submit\" class=\"primary\">Name group</button>\
         <button type=\"submit\" formaction=\"/groups/{id}/split\" formnovalidate class=\"quiet\">Split</button>\
         <button type=\"submit\" formaction=\"/groups/{id}/hide\" formnovalidate class=\"quiet\">Not someone I know</button></div><div class=\"grid\">"
    );
    for f in &faces {
        let _ = write!(
            body,
            "<label class=\"tick\"><input type=\"hidden\" name=\"shown\" value=\"{f}\"><input type=\"checkbox\" name=\"keep\" value=\"{f}\"{}><img src=\"/thumb/{f}\" alt=\"face {f}\" width=\"112\" height=\"112\"></label>",
            if out.contains(f) { "" } else { " checked" }
        );
    }
    body.push_str("</div>");
    if pages > 1 {
        body.push_str("<nav class=\"pager\">");
        if page_no > 1 {
            let _ = write!(
                body,
                "<button type=\"submit\" formaction=\"/groups/{id}/view\" formnovalidate name=\"to\" value=\"{}\" class=\"quiet\" rel=\"prev\">← Previous</button>",
                page_no - 1
            );
        }
        let _ = write!(body, "<span>Page {page_no} of {pages}</span>");
        if page_no < pages {
            let _ = write!(
                body,
                "<button type=\"submit\" formaction=\"/groups/{id}/view\" formnovalidate name=\"to\" value=\"{}\" class=\"quiet\" rel=\"next\">Next →</button>",
                page_no + 1
            );
        }
        body.push_str("</nav>");
    }
    body.push_str("</form>");
    Ok(Reply::html(
        200,
        page(&frame, Tab::Groups, &format!("Group {id}"), &body),
    ))
}

/// `POST /groups/ID/view`: back to page `to` of the group with what is unticked so far.
pub fn view(id: i64, req: &Request) -> Handled {
    let to: i64 = req
        .f("to")
        .and_then(|t| t.parse().ok())
        .filter(|t| *t >= 1)
        .ok_or_else(|| Fail::Bad("the form has no page `to` go to".into()))?;
    let out: Vec<String> = unticked(req)?.iter().map(|f| f.to_string()).collect();
    let mut to_path = format!("/groups/{id}?page={to}");
    if !out.is_empty() {
        let _ = write!(to_path, "&out={}", out.join(","));
    }
    Ok(Reply::redirect(&to_path))
}

/// The faces `name_group` leaves out, checked to be `members` of the group.
pub fn left_out(req: &Request, members: &[i64]) -> Result<Vec<i64>, Fail> {
    Ok(unticked(req)?
        .into_iter()
        .filter(|f| members.contains(f))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Request {
        Request {
            method: "POST".into(),
            path: "/groups/3/view".into(),
            here: "/groups/3".into(),
            query: Vec::new(),
            form: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            if_none_match: None,
        }
    }

    #[test]
    fn unticked_faces_of_earlier_pages_travel_and_a_ticked_again_face_leaves_the_list() {
        // Page 2 shows 7 and 8, 8 unticked; 2 and 7 were unticked on pages seen before,
        // and 7 is ticked again here.
        let req = form(&[
            ("out", "2,7"),
            ("shown", "7"),
            ("keep", "7"),
            ("shown", "8"),
            ("to", "1"),
        ]);
        assert_eq!(
            unticked(&req).unwrap().into_iter().collect::<Vec<_>>(),
            vec![2, 8]
        );
        let back = view(3, &req).unwrap();
        let location = back
            .headers
            .iter()
            .find(|(k, _)| k == "Location")
            .map(|(_, v)| v.clone());
        assert_eq!(location.as_deref(), Some("/groups/3?page=1&out=2,8"));
        // Only the group's members are left out; anything but digits is refused.
        assert_eq!(left_out(&req, &[8, 9]).unwrap(), vec![8]);
        assert!(unticked(&form(&[("out", "2,../x")])).is_err());
    }
}
