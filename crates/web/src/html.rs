//! HTML building: every text that comes from the library or a request goes through
//! [`esc`], so a person called `<script>` is shown as those characters. Pages carry no
//! inline script or style (the Content-Security-Policy forbids both); behaviour is in
//! `assets/app.js`, served as a file.

use std::fmt::Write as _;

/// `s` escaped for HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Which tab of the navigation a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Named people.
    People,
    /// Unnamed groups.
    Groups,
    /// The suggestion queue.
    Suggestions,
    /// Faces in no group, hidden faces.
    Faces,
    /// A person or a photo.
    None,
}

/// What every page shows around its content.
pub struct Frame<'a> {
    /// The CSRF token for the forms.
    pub csrf: &'a str,
    /// The last action, which the undo button reverts.
    pub last: Option<String>,
    /// The path of this page (where a change goes back to).
    pub here: &'a str,
}

/// A whole page.
pub fn page(frame: &Frame<'_>, tab: Tab, title: &str, body: &str) -> String {
    let mut nav = String::new();
    for (t, href, label) in [
        (Tab::People, "/people", "People"),
        (Tab::Groups, "/groups", "Groups"),
        (Tab::Suggestions, "/suggestions", "Suggestions"),
        (Tab::Faces, "/faces", "Faces in no group"),
    ] {
        let current = if t == tab {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{href}\"{current}>{label}</a>");
    }
    let undo = match &frame.last {
        Some(last) => format!(
            "<form class=\"undo\" method=\"post\" action=\"/undo\">{}<span>Last: {}</span> <button type=\"submit\" id=\"undo\" accesskey=\"z\">Undo</button></form>",
            hidden_fields(frame),
            esc(last)
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} · facelab</title><link rel=\"stylesheet\" href=\"/assets/app.css\"><script src=\"/assets/app.js\" defer></script></head><body><header><strong class=\"brand\">facelab</strong><nav>{nav}</nav>{undo}</header><main><h1>{}</h1>{body}</main></body></html>",
        esc(title),
        esc(title)
    )
}

/// The hidden fields every form carries: the CSRF token and the page to come back to.
pub fn hidden_fields(frame: &Frame<'_>) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"back\" value=\"{}\">",
        esc(frame.csrf),
        esc(frame.here)
    )
}

/// A POST form to `action` with one submit button (and `extra` fields before it).
pub fn button(frame: &Frame<'_>, action: &str, label: &str, class: &str, extra: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\">{}{extra}<button type=\"submit\" class=\"{class}\">{}</button></form>",
        esc(action),
        hidden_fields(frame),
        esc(label)
    )
}

/// "1 face", "12 faces".
pub fn n_faces(n: impl Into<i64>) -> String {
    count(n.into(), "face")
}

/// `n` and `noun`, with an `s` unless `n` is 1 ("1 group", "3 groups").
pub fn count(n: i64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// A face tile linking to `href`.
pub fn tile(face: i64, href: &str, caption: &str) -> String {
    format!(
        "<a class=\"tile\" href=\"{}\"><img src=\"/thumb/{face}\" alt=\"face {face}\" width=\"112\" height=\"112\"><span>{}</span></a>",
        esc(href),
        esc(caption)
    )
}

/// The `<datalist>` of people's names that name fields autocomplete from.
pub fn people_list(names: &[String]) -> String {
    let mut s = String::from("<datalist id=\"people\">");
    for n in names {
        let _ = write!(s, "<option value=\"{}\">", esc(n));
    }
    s.push_str("</datalist>");
    s
}

/// "Page 2 of 9" with previous and next links; `base` ends with `?` or `&`.
pub fn pager(base: &str, page: i64, total: i64, per_page: i64) -> String {
    let pages = ((total + per_page - 1) / per_page).max(1);
    if pages <= 1 {
        return String::new();
    }
    let mut s = String::from("<nav class=\"pager\">");
    if page > 1 {
        let _ = write!(
            s,
            "<a href=\"{}page={}\" rel=\"prev\">← Previous</a>",
            esc(base),
            page - 1
        );
    }
    let _ = write!(s, "<span>Page {page} of {pages}</span>");
    if page < pages {
        let _ = write!(
            s,
            "<a href=\"{}page={}\" rel=\"next\">Next →</a>",
            esc(base),
            page + 1
        );
    }
    s.push_str("</nav>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_text_never_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        let frame = Frame {
            csrf: "c",
            last: Some("named <b>".into()),
            here: "/",
        };
        let p = page(&frame, Tab::People, "<script>", "");
        assert!(!p.contains("<script>alert"), "{p}");
        assert!(p.contains("<title>&lt;script&gt; · facelab</title>"), "{p}");
        assert!(p.contains("Last: named &lt;b&gt;"), "{p}");
    }
}
