//! `report.html`: the Markdown report as one self-contained page, with SVG charts drawn by
//! plotters inline: a PR curve per WIDER level, the LFW ROC curves, and speed against
//! accuracy for every pipeline. No scripts, no external files.

use std::fmt::Write as _;

use plotters::prelude::*;
use pulldown_cmark::{html, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::markdown;
use facelab_eval::bench::report::{HeadlineRow, Report};

const WIDTH: u32 = 560;
const HEIGHT: u32 = 400;

/// One named curve.
pub struct Series {
    /// The legend label.
    pub name: String,
    /// Its points.
    pub points: Vec<(f64, f64)>,
    /// One point drawn as a dot on the curve: a WIDER operating point.
    pub mark: Option<(f64, f64)>,
}

fn error(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Line chart of `series` on linear axes `x` × `y`, or a log-scaled x axis when `log_x`.
pub fn line_chart(
    title: &str,
    (x_desc, y_desc): (&str, &str),
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    log_x: bool,
    series: &[Series],
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(error)?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(52);
        macro_rules! draw {
            ($chart:expr, $clamp:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(x_desc)
                    .y_desc(y_desc)
                    .light_line_style(RGBColor(235, 235, 235))
                    .draw()
                    .map_err(error)?;
                for (i, s) in series.iter().enumerate() {
                    let c = crate::palette::colour(i);
                    chart
                        .draw_series(LineSeries::new(
                            s.points.iter().map(|&(px, py)| ($clamp(px), py)),
                            c.stroke_width(2),
                        ))
                        .map_err(error)?
                        .label(s.name.clone())
                        .legend(move |(lx, ly)| {
                            PathElement::new(vec![(lx, ly), (lx + 20, ly)], c.stroke_width(2))
                        });
                    if let Some((mx, my)) = s.mark {
                        chart
                            .draw_series(std::iter::once(Circle::new(
                                ($clamp(mx), my),
                                5,
                                c.filled(),
                            )))
                            .map_err(error)?;
                    }
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::LowerLeft)
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(180, 180, 180))
                    .draw()
                    .map_err(error)?;
            }};
        }
        if log_x {
            let lo = x.start;
            let chart = builder
                .build_cartesian_2d(x.log_scale(), y)
                .map_err(error)?;
            draw!(chart, |v: f64| v.max(lo));
        } else {
            let chart = builder.build_cartesian_2d(x, y).map_err(error)?;
            draw!(chart, |v: f64| v);
        }
        root.present().map_err(error)?;
    }
    Ok(svg)
}

/// One labelled point.
pub struct Point {
    /// Its label.
    pub name: String,
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
}

/// A range around `values` with a margin (and `right` times the span more on the high side,
/// for point labels), never empty; kept within [0, 1] when every value is.
fn padded(values: impl Iterator<Item = f64>, right: f64) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let span = (hi - lo).max(hi.abs() * 0.02).max(1e-3);
    let (mut start, mut end) = (lo - span * 0.15, hi + span * (0.15 + right));
    if lo >= 0.0 {
        start = start.max(0.0);
    }
    if hi <= 1.0 && right == 0.0 {
        end = end.min(1.0);
    }
    start..end
}

/// Scatter of labelled points.
pub fn scatter(
    title: &str,
    (x_desc, y_desc): (&str, &str),
    points: &[Point],
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(error)?;
        let x = padded(points.iter().map(|p| p.x), 0.45);
        let y = padded(points.iter().map(|p| p.y), 0.0);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(60)
            .build_cartesian_2d(x, y)
            .map_err(error)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(error)?;
        for (i, p) in points.iter().enumerate() {
            let c = crate::palette::colour(i);
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((p.x, p.y))
                        + Circle::new((0, 0), 6, c.filled())
                        + Text::new(p.name.clone(), (9, -14), ("sans-serif", 13).into_font()),
                ))
                .map_err(error)?;
        }
        root.present().map_err(error)?;
    }
    Ok(svg)
}

/// The charts that follow a report section, by the section's title.
fn charts_for(section: &str, r: &Report) -> Vec<(String, Result<String, String>)> {
    let t = &r.tasks;
    if section.starts_with("WIDER FACE") && !t.wider.results.is_empty() {
        wider_charts(r)
    } else if section.starts_with("LFW") && !t.lfw.results.is_empty() {
        vec![lfw_chart(r)]
    } else if section.starts_with("Speed") && !t.speed.results.is_empty() {
        speed_charts(r)
    } else if section.starts_with("Scan speed") {
        crate::scan::charts(r)
    } else {
        Vec::new()
    }
}

/// A PR curve per WIDER level, each pipeline's operating point marked on it.
fn wider_charts(r: &Report) -> Vec<(String, Result<String, String>)> {
    let mut out = Vec::new();
    for (i, level) in ["easy", "medium", "hard"].iter().enumerate() {
        let series: Vec<Series> = r
            .tasks
            .wider
            .results
            .iter()
            .filter_map(|w| {
                let l = w.levels.get(i)?;
                let mark = w
                    .operating_point
                    .as_ref()
                    .and_then(|o| o.levels.get(i).copied());
                Some(Series {
                    name: format!(
                        "{} (AP {:.3}{})",
                        w.pipeline,
                        l.ap,
                        if mark.is_some() {
                            ", ● its own settings"
                        } else {
                            ""
                        }
                    ),
                    points: l.pr_curve.clone(),
                    mark,
                })
            })
            .collect();
        out.push((
            format!("WIDER {level}: precision against recall"),
            line_chart(
                &format!("WIDER FACE {level}"),
                ("recall", "precision"),
                0.0..1.0,
                0.0..1.0,
                false,
                &series,
            ),
        ));
    }
    out
}

/// The LFW ROC curves on a log false-accept axis.
fn lfw_chart(r: &Report) -> (String, Result<String, String>) {
    let series: Vec<Series> = r
        .tasks
        .lfw
        .results
        .iter()
        .map(|l| Series {
            name: format!("{} (AUC {:.4})", l.pipeline, l.roc_auc),
            points: l.roc.clone(),
            mark: None,
        })
        .collect();
    (
        "LFW ROC: true-accept rate against false-accept rate (log)".into(),
        line_chart(
            "LFW View 2 ROC",
            ("false-accept rate", "true-accept rate"),
            1e-4..1.0,
            0.0..1.0,
            true,
            &series,
        ),
    )
}

/// Speed against accuracy from the headline: detection (WIDER hard) and recognition (LFW).
fn speed_charts(r: &Report) -> Vec<(String, Result<String, String>)> {
    let points = |f: &dyn Fn(&HeadlineRow) -> Option<(f64, f64)>| -> Vec<Point> {
        r.headline
            .iter()
            .filter_map(|h| {
                f(h).map(|(x, y)| Point {
                    name: h.pipeline.clone(),
                    x,
                    y,
                })
            })
            .collect()
    };
    let mut out = Vec::new();
    let detection = points(&|h| Some((h.ms_per_photo?, h.wider_hard?)));
    if !detection.is_empty() {
        out.push((
            "Detection: WIDER hard AP against ms per photo".into(),
            scatter(
                "Detection speed and accuracy",
                ("ms per photo (detection)", "WIDER hard AP"),
                &detection,
            ),
        ));
    }
    let recognition = points(&|h| Some((h.ms_per_photo? + h.ms_per_face?, h.lfw?.mean)));
    if !recognition.is_empty() {
        out.push((
            "Recognition: LFW accuracy against ms per photo + ms per face".into(),
            scatter(
                "Pipeline speed and LFW accuracy",
                ("ms per photo + ms per face", "LFW accuracy"),
                &recognition,
            ),
        ));
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report's Markdown as HTML (CommonMark with tables, by pulldown-cmark), with each
/// `##` section's charts (`charts(section title)`) after it. Raw HTML in the text is escaped, except the `<br>` that
/// table cells use for line breaks: pipeline names and notices come from the suite file.
fn body(md: &str, charts: impl Fn(&str) -> Vec<(String, Result<String, String>)>) -> String {
    let mut out = String::new();
    let mut pending: Vec<Event<'_>> = Vec::new();
    let mut section = String::new();
    let mut heading: Option<String> = None;
    let flush = |out: &mut String, pending: &mut Vec<Event<'_>>, section: &str| {
        html::push_html(out, pending.drain(..));
        for (caption, chart) in charts(section) {
            match chart {
                Ok(svg) => {
                    let _ = writeln!(
                        out,
                        "<figure>{svg}<figcaption>{}</figcaption></figure>",
                        escape(&caption)
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "<p class=\"error\">chart {}: {}</p>",
                        escape(&caption),
                        escape(&e)
                    );
                }
            }
        }
    };
    for event in Parser::new_ext(md, Options::ENABLE_TABLES) {
        let event = match event {
            Event::Html(h) | Event::InlineHtml(h) => {
                if matches!(h.trim(), "<br>" | "<br/>" | "<br />") {
                    Event::InlineHtml(h)
                } else {
                    Event::Text(h)
                }
            }
            e => e,
        };
        match &event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                ..
            }) => {
                flush(&mut out, &mut pending, &section);
                heading = Some(String::new());
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(t);
                }
            }
            Event::End(TagEnd::Heading(HeadingLevel::H2)) => {
                section = heading.take().unwrap_or_default();
            }
            _ => {}
        }
        pending.push(event);
    }
    flush(&mut out, &mut pending, &section);
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f2f2f2}tbody tr:nth-child(even){background:#fafafa}code{font-size:12px;word-break:break-all}\
pre{background:#f6f6f6;padding:1em}figure{display:inline-block;margin:0.5em;vertical-align:top}\
figcaption{font-size:13px;color:#555;text-align:center}.error{color:#b00}h2{border-bottom:1px solid #ddd;padding-bottom:4px}";

/// The whole page.
pub fn render(r: &Report) -> String {
    let md = markdown::render(r);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>facelab bench report {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
        escape(&r.environment.date),
        body(&md, |section| charts_for(section, r))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg() {
        let s = line_chart(
            "t",
            ("x", "y"),
            1e-4..1.0,
            0.0..1.0,
            true,
            &[Series {
                name: "a".into(),
                points: vec![(0.0, 0.1), (0.01, 0.5), (1.0, 1.0)],
                mark: Some((0.5, 0.5)),
            }],
        )
        .unwrap();
        assert!(
            s.starts_with("<svg") && s.contains("</svg>") && s.contains("polyline"),
            "{s}"
        );
        let s = scatter(
            "t",
            ("x", "y"),
            &[Point {
                name: "p<1>".into(),
                x: 3.0,
                y: 0.9,
            }],
        )
        .unwrap();
        assert!(s.contains("<circle") && s.contains("p&lt;1&gt;"), "{s}");
    }

    /// One chart, after the Headline section only.
    fn headline_chart(section: &str) -> Vec<(String, Result<String, String>)> {
        match section {
            "Headline" => vec![("speed <&> accuracy".into(), Ok("<svg></svg>".into()))],
            _ => Vec::new(),
        }
    }

    #[test]
    fn headings_tables_code_and_lists_become_html() {
        let md =
            "# facelab bench report\n\nSuite `config/bench.toml`, **bold**.\n\n## Headline\n\n\
                  | pipeline | ORL 20% |\n|---|---|\n| a<br>b | 99.94 ± 0.13 |\n| `x<y>` | – |\n\n\
                  - one\n- two\n\n```\nfacelab bench\n```\n\n## Speed `640`\n\nfast\n";
        let html = body(md, headline_chart);
        for want in [
            "<h1>facelab bench report</h1>",
            "<p>Suite <code>config/bench.toml</code>, <strong>bold</strong>.</p>",
            "<h2>Headline</h2>",
            "<table>",
            "<th>pipeline</th>",
            "<th>ORL 20%</th>",
            "<td>a<br>b</td>",
            "<td>99.94 ± 0.13</td>",
            "<td><code>x&lt;y&gt;</code></td>",
            "<li>one</li>",
            "<li>two</li>",
            "<pre><code>facelab bench\n</code></pre>",
        ] {
            assert!(html.contains(want), "missing {want} in\n{html}");
        }
        // A header row and two data rows.
        assert_eq!(html.matches("<tr>").count(), 3, "{html}");
        // The Headline chart closes its section: after its code block, before the next `##`.
        let chart = html
            .find("<figure><svg></svg><figcaption>speed &lt;&amp;&gt; accuracy</figcaption>")
            .unwrap_or_else(|| panic!("no chart in\n{html}"));
        assert!(html.find("</pre>").unwrap() < chart, "{html}");
        assert!(
            chart < html.find("<h2>Speed <code>640</code></h2>").unwrap(),
            "{html}"
        );
        assert_eq!(html.matches("<figure>").count(), 1, "{html}");
    }

    #[test]
    fn raw_html_other_than_br_is_escaped() {
        let html = body(
            "A pipeline named <script>alert(1)</script> and a<br>break.\n\n<div>x</div>\n",
            |_| Vec::new(),
        );
        assert!(
            !html.contains("<script>") && !html.contains("<div>"),
            "{html}"
        );
        assert!(
            html.contains("&lt;script&gt;") && html.contains("&lt;div&gt;"),
            "{html}"
        );
        assert!(html.contains("a<br>break"), "{html}");
    }
}
