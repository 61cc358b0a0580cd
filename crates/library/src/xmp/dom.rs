//! An XMP packet as namespace-resolved elements with byte spans, parsed by quick-xml.
//!
//! The spans let [`super::write`] replace one property element and keep every other byte.
//! The guards make an XMP bomb a clear error instead of a hang or an allocation storm:
//! the caller caps the input size ([`super::MAX_PACKET_BYTES`]); nesting deeper than
//! [`super::MAX_DEPTH`] is refused; a DTD (`<!DOCTYPE`, where entities are declared) is
//! refused outright; a reference to any entity but XML's five predefined ones (and
//! character references) is refused. quick-xml itself never expands custom entities; the
//! tests here check that it stays so.

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{NamespaceResolver, ResolveResult};
use quick_xml::reader::NsReader;
use quick_xml::XmlVersion;

use super::{XmpError, MAX_DEPTH};

/// One attribute, namespace-resolved.
#[derive(Debug, Clone)]
pub struct Attr {
    /// Namespace URI ("" when unbound).
    pub ns: String,
    /// Local name.
    pub local: String,
    /// Value with entities resolved.
    pub value: String,
}

/// One element.
#[derive(Debug, Clone)]
pub struct Element {
    /// Namespace URI ("" when unbound).
    pub ns: String,
    /// Local name.
    pub local: String,
    /// Attributes other than namespace declarations.
    pub attrs: Vec<Attr>,
    /// Child elements (indices into [`Dom::elements`]).
    pub children: Vec<usize>,
    /// The parent element.
    pub parent: Option<usize>,
    /// Its text content (direct text, entities resolved).
    pub text: String,
    /// Byte offset of its start tag's `<`.
    pub start: usize,
    /// Byte offset just after its end tag (or its empty tag).
    pub end: usize,
    /// Byte offset of its end tag's `<`; `None` for an empty element (`<a/>`).
    pub close: Option<usize>,
}

impl Element {
    /// Whether it is `ns`:`local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// The value of attribute `ns`:`local`.
    pub fn attr(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == ns && a.local == local)
            .map(|a| a.value.as_str())
    }
}

/// A parsed packet.
#[derive(Debug, Clone, Default)]
pub struct Dom {
    /// Every element in document order; the first one is the root.
    pub elements: Vec<Element>,
}

impl Dom {
    /// Indices of every element `ns`:`local`, in document order.
    pub fn find(&self, ns: &str, local: &str) -> Vec<usize> {
        (0..self.elements.len())
            .filter(|&i| self.elements[i].is(ns, local))
            .collect()
    }

    /// The children of `i` that are `ns`:`local`.
    pub fn children_named(&self, i: usize, ns: &str, local: &str) -> Vec<usize> {
        self.elements[i]
            .children
            .iter()
            .copied()
            .filter(|&c| self.elements[c].is(ns, local))
            .collect()
    }
}

fn namespace(r: &ResolveResult<'_>) -> String {
    match r {
        ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
        _ => String::new(),
    }
}

/// Parses `bytes` (the packet or sidecar of `path`, already size-capped) into elements.
pub fn parse(bytes: &[u8], path: &str) -> Result<Dom, XmpError> {
    let text = std::str::from_utf8(bytes).map_err(|e| XmpError::NotUtf8 {
        path: path.to_owned(),
        offset: e.valid_up_to(),
    })?;
    // A byte-order mark may open a sidecar; positions stay those of `bytes`.
    let skip = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let src = Source { path, skip };
    let mut reader = NsReader::from_str(&text[skip..]);
    let mut tree = Tree::default();
    loop {
        let pos = reader.buffer_position() as usize + skip;
        let (resolved, event) = match reader.read_resolved_event() {
            Ok((r, e)) => (namespace(&r), e),
            Err(e) => return Err(src.malformed(reader.error_position(), e.to_string())),
        };
        let end = reader.buffer_position() as usize + skip;
        let decoded =
            |err: quick_xml::encoding::EncodingError| src.malformed(pos as u64, err.to_string());
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if tree.stack.len() >= MAX_DEPTH {
                    return Err(XmpError::TooDeep {
                        path: path.to_owned(),
                        max: MAX_DEPTH,
                    });
                }
                let attrs = attributes(reader.resolver(), e, &src, pos)?;
                let element = Element {
                    ns: resolved,
                    local: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    attrs,
                    children: Vec::new(),
                    parent: tree.stack.last().copied(),
                    text: String::new(),
                    start: pos,
                    end,
                    close: None,
                };
                tree.open(element, matches!(event, Event::Empty(_)));
            }
            Event::End(_) => {
                if !tree.close(pos, end) {
                    return Err(src.malformed(pos as u64, "an end tag without a start".into()));
                }
            }
            Event::Text(t) => tree.text(|| t.decode().map_err(decoded))?,
            Event::CData(t) => tree.text(|| t.decode().map_err(decoded))?,
            Event::GeneralRef(r) => {
                // Checked even outside an element.
                let resolved = reference(&r, &src, pos)?;
                tree.text(|| Ok(resolved.into()))?;
            }
            Event::DocType(_) => {
                return Err(XmpError::Dtd {
                    path: path.to_owned(),
                })
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !tree.stack.is_empty() {
        return Err(src.malformed(
            text.len() as u64,
            "the packet ends inside an element".into(),
        ));
    }
    if tree.dom.elements.is_empty() {
        return Err(src.malformed(0, "no XML element at all".into()));
    }
    Ok(tree.dom)
}

/// Where a parse error points: the file, and the byte-order mark skipped before parsing
/// (error offsets are those of the file's bytes).
struct Source<'a> {
    path: &'a str,
    skip: usize,
}

impl Source<'_> {
    fn malformed(&self, offset: u64, message: String) -> XmpError {
        XmpError::Malformed {
            path: self.path.to_owned(),
            offset: offset + self.skip as u64,
            message,
        }
    }

    fn entity(&self, name: String) -> XmpError {
        XmpError::Entity {
            path: self.path.to_owned(),
            name,
        }
    }
}

/// The elements parsed so far and the ones still open.
#[derive(Default)]
struct Tree {
    dom: Dom,
    /// Open elements, innermost last.
    stack: Vec<usize>,
}

impl Tree {
    /// Adds `element` as the last child of the innermost open element; it stays open unless
    /// it is `empty` (`<a/>`).
    fn open(&mut self, element: Element, empty: bool) {
        let index = self.dom.elements.len();
        let parent = element.parent;
        self.dom.elements.push(element);
        if let Some(p) = parent {
            self.dom.elements[p].children.push(index);
        }
        if !empty {
            self.stack.push(index);
        }
    }

    /// Closes the innermost open element at its end tag (`pos`..`end`); false when none is
    /// open.
    fn close(&mut self, pos: usize, end: usize) -> bool {
        let Some(i) = self.stack.pop() else {
            return false;
        };
        self.dom.elements[i].close = Some(pos);
        self.dom.elements[i].end = end;
        true
    }

    /// Appends text to the innermost open element; outside every element it is not even
    /// decoded.
    fn text<'t>(
        &mut self,
        decode: impl FnOnce() -> Result<std::borrow::Cow<'t, str>, XmpError>,
    ) -> Result<(), XmpError> {
        if let Some(&i) = self.stack.last() {
            let s = decode()?;
            self.dom.elements[i].text.push_str(&s);
        }
        Ok(())
    }
}

/// The attributes of start tag `e` (at `pos`), namespace declarations left out, values
/// normalised with their entities resolved (an unknown entity is refused).
fn attributes(
    resolver: &NamespaceResolver,
    e: &BytesStart<'_>,
    src: &Source<'_>,
    pos: usize,
) -> Result<Vec<Attr>, XmpError> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| src.malformed(pos as u64, err.to_string()))?;
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        let (r, local) = resolver.resolve_attribute(a.key);
        let value =
            a.normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| match err {
                    quick_xml::Error::Escape(
                        quick_xml::escape::EscapeError::UnrecognizedEntity(_, name),
                    ) => src.entity(name),
                    err => src.malformed(pos as u64, err.to_string()),
                })?;
        attrs.push(Attr {
            ns: namespace(&r),
            local: String::from_utf8_lossy(local.as_ref()).into_owned(),
            value: value.into_owned(),
        });
    }
    Ok(attrs)
}

/// The text of reference `r` (at `pos`): a character reference, or one of XML's five
/// predefined entities; any other entity is refused.
fn reference(r: &BytesRef<'_>, src: &Source<'_>, pos: usize) -> Result<String, XmpError> {
    let name = r
        .decode()
        .map_err(|err| src.malformed(pos as u64, err.to_string()))?
        .into_owned();
    let ch = r
        .resolve_char_ref()
        .map_err(|err| src.malformed(pos as u64, err.to_string()))?;
    Ok(match ch {
        Some(c) => c.to_string(),
        None => quick_xml::escape::resolve_predefined_entity(&name)
            .ok_or_else(|| src.entity(name.clone()))?
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_each_element_exactly() {
        let s = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><a:b xmlns:a="u">t&amp;&#65;</a:b><a:c xmlns:a="v" a:k="1 &lt; 2"/></x:xmpmeta>"#;
        let dom = parse(s.as_bytes(), "t").unwrap();
        let b = &dom.elements[dom.find("u", "b")[0]];
        assert_eq!(&s[b.start..b.end], r#"<a:b xmlns:a="u">t&amp;&#65;</a:b>"#);
        assert_eq!(b.text, "t&A");
        let c = &dom.elements[dom.find("v", "c")[0]];
        assert_eq!(&s[c.start..c.end], r#"<a:c xmlns:a="v" a:k="1 &lt; 2"/>"#);
        assert_eq!(c.attr("v", "k"), Some("1 < 2"));
        assert!(c.close.is_none());
    }

    #[test]
    fn a_dtd_with_an_entity_bomb_is_refused_not_expanded() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><x>&c;</x>"#;
        assert!(matches!(
            parse(bomb.as_bytes(), "t"),
            Err(XmpError::Dtd { .. })
        ));
        // Without the DTD the reference is undefined: refused, never expanded.
        assert!(matches!(
            parse(b"<x>&c;</x>", "t"),
            Err(XmpError::Entity { name, .. }) if name == "c"
        ));
        assert!(matches!(
            parse(br#"<x a="&c;"/>"#, "t"),
            Err(XmpError::Entity { name, .. }) if name == "c"
        ));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(matches!(
            parse(deep.as_bytes(), "t"),
            Err(XmpError::TooDeep { .. })
        ));
        let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes(), "t").is_ok());
    }

    #[test]
    fn malformed_and_non_utf8_packets_are_errors_with_a_position() {
        assert!(matches!(
            parse(b"<a><b></a>", "t"),
            Err(XmpError::Malformed { .. })
        ));
        assert!(matches!(
            parse(b"<a>", "t"),
            Err(XmpError::Malformed { .. })
        ));
        assert!(matches!(
            parse(b"<a>caf\xe9</a>", "t"),
            Err(XmpError::NotUtf8 { offset: 6, .. })
        ));
    }
}
