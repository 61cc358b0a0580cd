//! Finding face regions and keywords in a parsed packet.
//!
//! RDF allows one structure several spellings, and the tools use them all: exiftool writes
//! `rdf:parseType="Resource"` with child elements, digiKam (Exiv2) writes `rdf:Description`
//! with the simple fields as attributes. [`fields`] reads a struct in any of these forms, so
//! the region reader matches on namespace URIs and field names only.

use super::dom::{Dom, Element};
use super::ns;
use super::regions::{area_from_mp_rectangle, Region, RegionSource, StoredArea};

/// A struct field's value: text, or the element holding a nested struct or array.
#[derive(Debug, Clone)]
pub enum Value {
    /// A simple value.
    Text(String),
    /// A nested struct or array (the property element).
    Node(usize),
}

/// The fields of the struct that property element `i` holds: its own property attributes,
/// and the fields of `rdf:parseType="Resource"` content or of a nested `rdf:Description`.
pub fn fields(dom: &Dom, i: usize) -> Vec<(String, String, Value)> {
    let e = &dom.elements[i];
    let mut out = Vec::new();
    let attr_fields = |e: &Element, out: &mut Vec<(String, String, Value)>| {
        for a in &e.attrs {
            if a.ns != ns::RDF && a.ns != "http://www.w3.org/XML/1998/namespace" {
                out.push((a.ns.clone(), a.local.clone(), Value::Text(a.value.clone())));
            }
        }
    };
    attr_fields(e, &mut out);
    let mut children: Vec<usize> = Vec::new();
    for &c in &e.children {
        let ce = &dom.elements[c];
        if ce.is(ns::RDF, "Description") {
            attr_fields(ce, &mut out);
            children.extend(ce.children.iter().copied());
        } else {
            children.push(c);
        }
    }
    for c in children {
        let ce = &dom.elements[c];
        let value = if ce.children.is_empty() && ce.attrs.iter().all(|a| a.ns == ns::RDF) {
            Value::Text(ce.text.trim().to_owned())
        } else {
            Value::Node(c)
        };
        out.push((ce.ns.clone(), ce.local.clone(), value));
    }
    out
}

fn field<'a>(f: &'a [(String, String, Value)], ns: &str, local: &str) -> Option<&'a Value> {
    f.iter()
        .find(|(n, l, _)| n == ns && l == local)
        .map(|(_, _, v)| v)
}

fn text<'a>(f: &'a [(String, String, Value)], ns: &str, local: &str) -> Option<&'a str> {
    match field(f, ns, local) {
        Some(Value::Text(t)) => Some(t.as_str()),
        _ => None,
    }
}

fn number(f: &[(String, String, Value)], ns: &str, local: &str) -> Option<f64> {
    text(f, ns, local)?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// The `rdf:li` items of the array that property element `i` holds.
pub fn items(dom: &Dom, i: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for &c in &dom.elements[i].children {
        let ce = &dom.elements[c];
        if ce.ns == ns::RDF && matches!(ce.local.as_str(), "Bag" | "Seq" | "Alt") {
            out.extend(dom.children_named(c, ns::RDF, "li"));
        }
    }
    out
}

/// The text items of array property `ns`:`local` wherever it appears.
pub fn text_list(dom: &Dom, ns: &str, local: &str) -> Vec<String> {
    dom.find(ns, local)
        .into_iter()
        .flat_map(|p| items(dom, p))
        .map(|li| dom.elements[li].text.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn name_of(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// What a packet's regions hold.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Every MWG and Microsoft region with a usable area.
    pub regions: Vec<Region>,
    /// Regions skipped because their area is missing, not normalised, or not a number.
    pub unusable: usize,
}

/// The MWG and Microsoft regions of `dom`.
pub fn regions(dom: &Dom) -> Found {
    let mut found = Found::default();
    for r in dom.find(ns::MWG_RS, "Regions") {
        let rf = fields(dom, r);
        let Some(Value::Node(list)) = field(&rf, ns::MWG_RS, "RegionList") else {
            continue;
        };
        for li in items(dom, *list) {
            let f = fields(dom, li);
            let area = match field(&f, ns::MWG_RS, "Area") {
                Some(Value::Node(a)) => {
                    let af = fields(dom, *a);
                    let unit = text(&af, ns::ST_AREA, "unit").unwrap_or("normalized");
                    match (
                        unit.eq_ignore_ascii_case("normalized"),
                        number(&af, ns::ST_AREA, "x"),
                        number(&af, ns::ST_AREA, "y"),
                        number(&af, ns::ST_AREA, "w"),
                        number(&af, ns::ST_AREA, "h"),
                    ) {
                        (true, Some(x), Some(y), Some(w), Some(h)) if w > 0.0 && h > 0.0 => {
                            Some(StoredArea { x, y, w, h })
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            let Some(area) = area else {
                found.unusable += 1;
                continue;
            };
            found.regions.push(Region {
                name: name_of(text(&f, ns::MWG_RS, "Name")),
                kind: text(&f, ns::MWG_RS, "Type").unwrap_or("Face").to_owned(),
                area,
                source: RegionSource::Mwg,
            });
        }
    }
    for info in dom.find(ns::MP, "RegionInfo") {
        let inf = fields(dom, info);
        let Some(Value::Node(list)) = field(&inf, ns::MPRI, "Regions") else {
            continue;
        };
        for li in items(dom, *list) {
            let f = fields(dom, li);
            let rect: Option<Vec<f64>> = text(&f, ns::MPREG, "Rectangle").and_then(|r| {
                r.split(',')
                    .map(|v| v.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
                    .collect()
            });
            let rect = match rect.as_deref() {
                Some(&[x, y, w, h]) if w > 0.0 && h > 0.0 => [x, y, w, h],
                _ => {
                    found.unusable += 1;
                    continue;
                }
            };
            found.regions.push(Region {
                name: name_of(text(&f, ns::MPREG, "PersonDisplayName")),
                kind: "Face".into(),
                area: area_from_mp_rectangle(rect),
                source: RegionSource::Microsoft,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmp::dom::parse;

    /// The form exiftool writes.
    const EXIFTOOL: &str = r#"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
 <rdf:Description rdf:about='' xmlns:mwg-rs='http://www.metadataworkinggroup.com/schemas/regions/' xmlns:stArea='http://ns.adobe.com/xmp/sType/Area#'>
  <mwg-rs:Regions rdf:parseType='Resource'>
   <mwg-rs:RegionList><rdf:Bag>
    <rdf:li rdf:parseType='Resource'>
     <mwg-rs:Area rdf:parseType='Resource'><stArea:h>0.2</stArea:h><stArea:unit>normalized</stArea:unit><stArea:w>0.1</stArea:w><stArea:x>0.3</stArea:x><stArea:y>0.4</stArea:y></mwg-rs:Area>
     <mwg-rs:Name>Ada &amp; Co</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type>
    </rdf:li>
   </rdf:Bag></mwg-rs:RegionList>
  </mwg-rs:Regions>
 </rdf:Description></rdf:RDF></x:xmpmeta>"#;

    /// The form digiKam (Exiv2) writes, with other prefixes.
    const DIGIKAM: &str = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:r="http://www.metadataworkinggroup.com/schemas/regions/" xmlns:a="http://ns.adobe.com/xmp/sType/Area#"
   xmlns:MP="http://ns.microsoft.com/photo/1.2/" xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#" xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#">
  <r:Regions rdf:parseType="Resource"><r:RegionList><rdf:Bag>
    <rdf:li><rdf:Description r:Name="Bob" r:Type="Face"><r:Area a:x="0.5" a:y="0.5" a:w="0.2" a:h="0.3" a:unit="normalized"/></rdf:Description></rdf:li>
    <rdf:li><rdf:Description r:Name="whole" r:Type="Face"><r:Area a:x="0.5" a:y="0.5" a:w="1" a:h="1" a:unit="normalized"/></rdf:Description></rdf:li>
    <rdf:li><rdf:Description r:Type="Face"><r:Area a:x="0.5" a:y="0.5" a:w="20" a:h="30" a:unit="pixel"/></rdf:Description></rdf:li>
  </rdf:Bag></r:RegionList></r:Regions>
  <MP:RegionInfo rdf:parseType="Resource"><MPRI:Regions><rdf:Bag>
    <rdf:li MPReg:Rectangle="0.4, 0.35, 0.2, 0.3" MPReg:PersonDisplayName="Bob"/>
  </rdf:Bag></MPRI:Regions></MP:RegionInfo>
 </rdf:Description></rdf:RDF></x:xmpmeta>"#;

    #[test]
    fn exiftool_s_resource_form_is_read() {
        let f = regions(&parse(EXIFTOOL.as_bytes(), "t").unwrap());
        assert_eq!(f.regions.len(), 1);
        let r = &f.regions[0];
        assert_eq!(r.name.as_deref(), Some("Ada & Co"));
        assert!(r.is_face());
        assert_eq!(
            r.area,
            StoredArea {
                x: 0.3,
                y: 0.4,
                w: 0.1,
                h: 0.2
            }
        );
    }

    #[test]
    fn digikam_s_attribute_form_and_microsoft_regions_are_read() {
        let f = regions(&parse(DIGIKAM.as_bytes(), "t").unwrap());
        assert_eq!(f.unusable, 1, "the pixel-unit area is not usable");
        assert_eq!(f.regions.len(), 3);
        assert_eq!(f.regions[0].name.as_deref(), Some("Bob"));
        assert_eq!(f.regions[0].area.w, 0.2);
        assert_eq!(f.regions[1].area.w, 1.0);
        let mp = &f.regions[2];
        assert_eq!(mp.source, RegionSource::Microsoft);
        assert!((mp.area.x - 0.5).abs() < 1e-9 && (mp.area.y - 0.5).abs() < 1e-9);
    }
}
