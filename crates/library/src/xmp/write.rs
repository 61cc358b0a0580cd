//! Writing region structs into a packet: a new packet, or a merge into an existing one
//! that replaces only the region structs (`mwg-rs:Regions`, `MP:RegionInfo`) and the
//! keyword lists facelab adds to (`digiKam:TagsList`, `lr:hierarchicalSubject`), as digiKam
//! does. Every other byte of the existing packet is kept as it was: the old properties'
//! spans are cut out (with their indentation) and the new ones inserted before the end tag
//! of the first `rdf:Description`, each declaring the namespaces it uses, so nothing
//! depends on the prefixes the packet already binds.

use std::fmt::Write as _;

use quick_xml::escape::escape;

use super::dom::Dom;
use super::ns;
use super::read::items;
use super::regions::{mp_rectangle_from_area, StoredArea};
use super::XmpError;

/// A region to write.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRegion {
    /// The person's name (`None`: an unnamed region kept from the file).
    pub name: Option<String>,
    /// MWG type: `Face` for facelab's faces; a kept region keeps its own.
    pub kind: String,
    /// Normalised, centre-based, in the stored image's frame.
    pub area: StoredArea,
}

/// What one photo's packet gets.
#[derive(Debug, Clone, Default)]
pub struct Export {
    /// The MWG region list.
    pub mwg: Vec<OutRegion>,
    /// The Microsoft region list.
    pub microsoft: Vec<OutRegion>,
    /// The stored image's size in pixels (`mwg-rs:AppliedToDimensions`).
    pub dims: (u32, u32),
    /// People whose `People/…` keywords are added.
    pub names: Vec<String>,
    /// People whose `People/…` keywords are removed: names of the file's old regions that
    /// facelab replaced and that no face carries any more (a rename or an untag).
    pub dropped: Vec<String>,
}

const TOP_LEVEL: [(&str, &str); 4] = [
    (ns::MWG_RS, "Regions"),
    (ns::MP, "RegionInfo"),
    (ns::DIGIKAM, "TagsList"),
    (ns::LR, "hierarchicalSubject"),
];

fn num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".into()
    } else {
        s.to_owned()
    }
}

fn people_list(existing: Vec<String>, e: &Export, sep: char) -> Vec<String> {
    let tag = |n: &str| format!("People{sep}{n}");
    let dropped: Vec<String> = e
        .dropped
        .iter()
        .filter(|d| !e.names.iter().any(|n| n == *d))
        .map(|d| tag(d))
        .collect();
    let mut out: Vec<String> = existing
        .into_iter()
        .filter(|k| !dropped.contains(k))
        .collect();
    for n in &e.names {
        let t = tag(n);
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The new properties' XML, each line starting with `indent`.
fn properties(e: &Export, tags: &[String], subjects: &[String], indent: &str) -> String {
    let i = indent;
    let mut s = String::new();
    let rdf = format!("xmlns:rdf=\"{}\"", ns::RDF);
    if !e.mwg.is_empty() {
        mwg_regions(&mut s, e, i, &rdf);
    }
    if !e.microsoft.is_empty() {
        microsoft_regions(&mut s, &e.microsoft, i, &rdf);
    }
    keyword_list(
        &mut s,
        (i, &rdf),
        "digiKam:TagsList",
        &format!("xmlns:digiKam=\"{}\"", ns::DIGIKAM),
        "Seq",
        tags,
    );
    keyword_list(
        &mut s,
        (i, &rdf),
        "lr:hierarchicalSubject",
        &format!("xmlns:lr=\"{}\"", ns::LR),
        "Bag",
        subjects,
    );
    s
}

/// `mwg-rs:Regions`: the applied-to dimensions and each region's name, type and area.
fn mwg_regions(s: &mut String, e: &Export, i: &str, rdf: &str) {
    let _ = writeln!(
        s,
        "{i}<mwg-rs:Regions {rdf} xmlns:mwg-rs=\"{}\" xmlns:stArea=\"{}\" xmlns:stDim=\"{}\" rdf:parseType=\"Resource\">",
        ns::MWG_RS,
        ns::ST_AREA,
        ns::ST_DIM
    );
    let _ = writeln!(
        s,
        "{i} <mwg-rs:AppliedToDimensions stDim:w=\"{}\" stDim:h=\"{}\" stDim:unit=\"pixel\"/>",
        e.dims.0, e.dims.1
    );
    let _ = writeln!(s, "{i} <mwg-rs:RegionList>\n{i}  <rdf:Bag>");
    for r in &e.mwg {
        let name = r
            .name
            .as_deref()
            .map(|n| format!(" mwg-rs:Name=\"{}\"", escape(n)))
            .unwrap_or_default();
        let a = &r.area;
        let _ = writeln!(
            s,
            "{i}   <rdf:li>\n{i}    <rdf:Description{name} mwg-rs:Type=\"{}\">\n{i}     <mwg-rs:Area stArea:x=\"{}\" stArea:y=\"{}\" stArea:w=\"{}\" stArea:h=\"{}\" stArea:unit=\"normalized\"/>\n{i}    </rdf:Description>\n{i}   </rdf:li>",
            escape(&r.kind),
            num(a.x),
            num(a.y),
            num(a.w),
            num(a.h)
        );
    }
    let _ = writeln!(
        s,
        "{i}  </rdf:Bag>\n{i} </mwg-rs:RegionList>\n{i}</mwg-rs:Regions>"
    );
}

/// `MP:RegionInfo`: each region's rectangle (top-left based) and name.
fn microsoft_regions(s: &mut String, regions: &[OutRegion], i: &str, rdf: &str) {
    let _ = writeln!(
        s,
        "{i}<MP:RegionInfo {rdf} xmlns:MP=\"{}\" xmlns:MPRI=\"{}\" xmlns:MPReg=\"{}\" rdf:parseType=\"Resource\">\n{i} <MPRI:Regions>\n{i}  <rdf:Bag>",
        ns::MP,
        ns::MPRI,
        ns::MPREG
    );
    for r in regions {
        let [x, y, w, h] = mp_rectangle_from_area(&r.area);
        let name = r
            .name
            .as_deref()
            .map(|n| format!(" MPReg:PersonDisplayName=\"{}\"", escape(n)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{i}   <rdf:li>\n{i}    <rdf:Description MPReg:Rectangle=\"{}, {}, {}, {}\"{name}/>\n{i}   </rdf:li>",
            num(x),
            num(y),
            num(w),
            num(h)
        );
    }
    let _ = writeln!(
        s,
        "{i}  </rdf:Bag>\n{i} </MPRI:Regions>\n{i}</MP:RegionInfo>"
    );
}

/// Keyword property `prop` as an `rdf:{kind}` list of `values`; nothing when empty.
fn keyword_list(
    s: &mut String,
    (i, rdf): (&str, &str),
    prop: &str,
    xmlns: &str,
    kind: &str,
    values: &[String],
) {
    if values.is_empty() {
        return;
    }
    let _ = writeln!(s, "{i}<{prop} {rdf} {xmlns}>\n{i} <rdf:{kind}>");
    for v in values {
        let _ = writeln!(s, "{i}  <rdf:li>{}</rdf:li>", escape(v));
    }
    let _ = writeln!(s, "{i} </rdf:{kind}>\n{i}</{prop}>");
}

/// A new packet holding only `e`.
pub fn new_packet(e: &Export) -> String {
    let tags = people_list(Vec::new(), e, '/');
    let subjects = people_list(Vec::new(), e, '|');
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n<x:xmpmeta xmlns:x=\"{}\" x:xmptk=\"facelab {}\">\n <rdf:RDF xmlns:rdf=\"{}\">\n  <rdf:Description rdf:about=\"\">\n{}  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>\n",
        ns::X,
        env!("CARGO_PKG_VERSION"),
        ns::RDF,
        properties(e, &tags, &subjects, "   ")
    )
}

/// Whether element `i` is a property of a top-level `rdf:Description`.
fn top_level_property(dom: &Dom, i: usize) -> bool {
    let Some(d) = dom.elements[i].parent else {
        return false;
    };
    let de = &dom.elements[d];
    de.is(ns::RDF, "Description")
        && de
            .parent
            .is_some_and(|r| dom.elements[r].is(ns::RDF, "RDF"))
}

/// `existing` (parsed as `dom`) with its region structs and facelab's keyword lists
/// replaced by `e`'s; every other byte unchanged.
pub fn merge(existing: &str, dom: &Dom, e: &Export, path: &str) -> Result<String, XmpError> {
    let rdf = dom
        .find(ns::RDF, "RDF")
        .into_iter()
        .next()
        .ok_or_else(|| XmpError::Malformed {
            path: path.to_owned(),
            offset: 0,
            message: "no rdf:RDF element (not an XMP packet)".into(),
        })?;
    let cut = replaced_spans(existing, dom);
    let tagged = |ns: &str, local: &str| {
        dom.find(ns, local)
            .into_iter()
            .filter(|&i| top_level_property(dom, i))
            .flat_map(|i| items(dom, i))
            .map(|li| dom.elements[li].text.trim().to_owned())
            .collect::<Vec<_>>()
    };
    let tags = people_list(tagged(ns::DIGIKAM, "TagsList"), e, '/');
    let subjects = people_list(tagged(ns::LR, "hierarchicalSubject"), e, '|');
    let (at, text) = insertion(existing, dom, rdf, path, |indent| {
        properties(e, &tags, &subjects, indent)
    })?;
    Ok(splice(existing, cut, at, &text))
}

/// The spans of the top-level properties facelab replaces ([`TOP_LEVEL`]), each with its
/// line's indentation and the line break before it.
fn replaced_spans(existing: &str, dom: &Dom) -> Vec<(usize, usize)> {
    let mut cut: Vec<(usize, usize)> = Vec::new();
    for (n, l) in TOP_LEVEL {
        for i in dom.find(n, l) {
            if top_level_property(dom, i) {
                let el = &dom.elements[i];
                // Take the line's indentation and the line break before it along.
                let before = &existing[..el.start];
                let line = before.rfind('\n').map_or(0, |p| p + 1);
                let start = if before[line..].trim().is_empty() && line > 0 {
                    line - 1
                } else {
                    el.start
                };
                cut.push((start, el.end));
            }
        }
    }
    cut
}

/// Where the new properties go and their text: before the end tag of the first
/// `rdf:Description` under `rdf` that has one (one step deeper than its line), else in a
/// new `rdf:Description` before `rdf`'s end tag. `properties` gives the XML for an
/// indentation.
fn insertion(
    existing: &str,
    dom: &Dom,
    rdf: usize,
    path: &str,
    properties: impl Fn(&str) -> String,
) -> Result<(usize, String), XmpError> {
    let description = dom
        .children_named(rdf, ns::RDF, "Description")
        .into_iter()
        .find(|&d| dom.elements[d].close.is_some());
    let Some(d) = description else {
        let close = dom.elements[rdf].close.ok_or_else(|| XmpError::Malformed {
            path: path.to_owned(),
            offset: dom.elements[rdf].start as u64,
            message: "rdf:RDF is empty (<rdf:RDF/>)".into(),
        })?;
        let props = properties("   ");
        return Ok((
            close,
            format!("\n  <rdf:Description rdf:about=\"\" xmlns:rdf=\"{}\">\n{props}  </rdf:Description>\n ", ns::RDF),
        ));
    };
    let el = &dom.elements[d];
    let close = el.close.expect("filtered above");
    // Indent one step deeper than the Description's own line.
    let line = existing[..el.start].rfind('\n').map_or(0, |p| p + 1);
    let indent: String = existing[line..el.start]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    // The end tag's own line keeps its indentation: insert at that line's start.
    let before = &existing[..close];
    let close_line = before.rfind('\n').map_or(close, |p| p + 1);
    let at = if before[close_line..].trim().is_empty() {
        close_line
    } else {
        close
    };
    let mut props = properties(&format!("{indent} "));
    if at == close {
        props.insert(0, '\n');
    }
    Ok((at, props))
}

/// `existing` without the spans in `cut`, with `text` inserted at `at`.
fn splice(existing: &str, mut cut: Vec<(usize, usize)>, at: usize, text: &str) -> String {
    cut.sort();
    let mut out = String::with_capacity(existing.len() + text.len());
    let mut pos = 0;
    let mut inserted = false;
    for (s, t) in cut {
        if !inserted && at <= s {
            out.push_str(&existing[pos..at]);
            out.push_str(text);
            pos = at;
            inserted = true;
        }
        out.push_str(&existing[pos..s]);
        pos = t;
    }
    if !inserted {
        out.push_str(&existing[pos..at]);
        out.push_str(text);
        pos = at;
    }
    out.push_str(&existing[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmp::dom::parse;
    use crate::xmp::read::{regions, text_list};

    fn export(names: &[&str]) -> Export {
        Export {
            mwg: names
                .iter()
                .map(|n| OutRegion {
                    name: Some(n.to_string()),
                    kind: "Face".into(),
                    area: StoredArea {
                        x: 0.25,
                        y: 0.5,
                        w: 0.1,
                        h: 0.2,
                    },
                })
                .collect(),
            microsoft: vec![],
            dims: (400, 300),
            names: names.iter().map(|n| n.to_string()).collect(),
            dropped: vec![],
        }
    }

    const OTHER: &str = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n  <rdf:Description rdf:about=\"\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\" xmp:Rating=\"4\">\n   <dc:subject xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><rdf:Bag><rdf:li>sea</rdf:li></rdf:Bag></dc:subject>\n  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n";

    #[test]
    fn a_merge_keeps_every_other_byte_and_a_second_merge_replaces_the_first() {
        let dom = parse(OTHER.as_bytes(), "t").unwrap();
        let once = merge(OTHER, &dom, &export(&["Ada & Bob"]), "t").unwrap();
        let d1 = parse(once.as_bytes(), "t").unwrap();
        let r = regions(&d1).regions;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].name.as_deref(), Some("Ada & Bob"));
        assert!(once.contains("xmp:Rating=\"4\""));
        assert!(once.contains("<rdf:li>sea</rdf:li>"));
        let twice = merge(&once, &d1, &export(&["Cy"]), "t").unwrap();
        let d2 = parse(twice.as_bytes(), "t").unwrap();
        let r = regions(&d2).regions;
        assert_eq!(r.len(), 1, "{twice}");
        assert_eq!(r[0].name.as_deref(), Some("Cy"));
        // The keywords keep the earlier person (no rename was declared) and add the new one.
        assert_eq!(
            text_list(&d2, ns::DIGIKAM, "TagsList"),
            ["People/Ada & Bob", "People/Cy"]
        );
        // Removing what facelab added gives back the original bytes.
        let mut e = export(&["Cy"]);
        e.dropped = vec!["Ada & Bob".into()];
        let again = merge(&twice, &d2, &e, "t").unwrap();
        assert_eq!(
            text_list(
                &parse(again.as_bytes(), "t").unwrap(),
                ns::LR,
                "hierarchicalSubject"
            ),
            ["People|Cy"]
        );
        let same = merge(&again, &parse(again.as_bytes(), "t").unwrap(), &e, "t").unwrap();
        assert_eq!(
            same, again,
            "merging the same content twice changes nothing"
        );
    }

    #[test]
    fn a_new_packet_parses_and_holds_the_regions() {
        let p = new_packet(&export(&["Ada"]));
        let dom = parse(p.as_bytes(), "t").unwrap();
        let r = regions(&dom).regions;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].area.x, 0.25);
    }
}
