//! An XMP packet as namespace-resolved elements with byte spans, parsed by quick-xml.
//!
//! The spans let [`super::write`] replace one property element and keep every other byte.
//! The guards make an XMP bomb a clear error instead of a hang or an allocation storm:
//! the caller caps the input size ([`super::MAX_PACKET_BYTES`]); nesting deeper than
//! [`super::MAX_DEPTH`] is refused; a DTD (`<!DOCTYPE`, where entities are declared) is
//! refused outright; a reference to any entity but XML's five predefined ones (and
//! character references) is refused. quick-xml itself never expands custom entities; the
//! tests here check that it stays so.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
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
    let mut reader = NsReader::from_str(&text[skip..]);
    let malformed = |offset: u64, message: String| XmpError::Malformed {
        path: path.to_owned(),
        offset: offset + skip as u64,
        message,
    };
    let mut dom = Dom::default();
    let mut stack: Vec<usize> = Vec::new();
    loop {
        let pos = reader.buffer_position() as usize + skip;
        let (resolved, event) = match reader.read_resolved_event() {
            Ok((r, e)) => (namespace(&r), e),
            Err(e) => return Err(malformed(reader.error_position(), e.to_string())),
        };
        let end = reader.buffer_position() as usize + skip;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmpError::TooDeep {
                        path: path.to_owned(),
                        max: MAX_DEPTH,
                    });
                }
                let mut attrs = Vec::new();
                for a in e.attributes() {
                    let a = a.map_err(|err| malformed(pos as u64, err.to_string()))?;
                    if a.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (r, local) = reader.resolver().resolve_attribute(a.key);
                    let value =
                        a.normalized_value(XmlVersion::Implicit1_0)
                            .map_err(|err| match err {
                                quick_xml::Error::Escape(
                                    quick_xml::escape::EscapeError::UnrecognizedEntity(_, name),
                                ) => XmpError::Entity {
                                    path: path.to_owned(),
                                    name,
                                },
                                err => malformed(pos as u64, err.to_string()),
                            })?;
                    attrs.push(Attr {
                        ns: namespace(&r),
                        local: String::from_utf8_lossy(local.as_ref()).into_owned(),
                        value: value.into_owned(),
                    });
                }
                let empty = matches!(event, Event::Empty(_));
                let index = dom.elements.len();
                let parent = stack.last().copied();
                dom.elements.push(Element {
                    ns: resolved,
                    local: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    attrs,
                    children: Vec::new(),
                    parent,
                    text: String::new(),
                    start: pos,
                    end,
                    close: None,
                });
                if let Some(p) = parent {
                    dom.elements[p].children.push(index);
                }
                if !empty {
                    stack.push(index);
                }
            }
            Event::End(_) => {
                let i = stack
                    .pop()
                    .ok_or_else(|| malformed(pos as u64, "an end tag without a start".into()))?;
                dom.elements[i].close = Some(pos);
                dom.elements[i].end = end;
            }
            Event::Text(t) => {
                if let Some(&i) = stack.last() {
                    let s = t
                        .decode()
                        .map_err(|err| malformed(pos as u64, err.to_string()))?;
                    dom.elements[i].text.push_str(&s);
                }
            }
            Event::CData(t) => {
                if let Some(&i) = stack.last() {
                    let s = t
                        .decode()
                        .map_err(|err| malformed(pos as u64, err.to_string()))?;
                    dom.elements[i].text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                let name = r
                    .decode()
                    .map_err(|err| malformed(pos as u64, err.to_string()))?
                    .into_owned();
                let ch = r
                    .resolve_char_ref()
                    .map_err(|err| malformed(pos as u64, err.to_string()))?;
                let resolved = match ch {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| XmpError::Entity {
                            path: path.to_owned(),
                            name: name.clone(),
                        })?
                        .to_owned(),
                };
                if let Some(&i) = stack.last() {
                    dom.elements[i].text.push_str(&resolved);
                }
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
    if !stack.is_empty() {
        return Err(malformed(
            text.len() as u64,
            "the packet ends inside an element".into(),
        ));
    }
    if dom.elements.is_empty() {
        return Err(malformed(0, "no XML element at all".into()));
    }
    Ok(dom)
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
