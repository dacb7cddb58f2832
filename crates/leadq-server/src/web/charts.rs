//! Charts as inline SVG, drawn on the server.
//!
//! Each function is pure: data in, an SVG string out, so a chart costs no
//! script and no extra request, and can be tested by reading its markup.
//! Every chart carries a `<title>` and an `aria-label`, labelled axes and
//! the value written next to each mark, so it reads without colour (series
//! differ by line pattern and direct labels, never by hue alone). All text
//! is XML-escaped here; callers pass plain strings.

use std::fmt::Write;

/// What a chart is about: its accessible title and the names of its axes.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
}

/// One bar: its category, its value and the text written next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub text: String,
}

impl Bar {
    pub fn new(label: impl Into<String>, value: f64, text: impl Into<String>) -> Bar {
        Bar {
            label: label.into(),
            value,
            text: text.into(),
        }
    }
}

/// Size and plot area of the column chart (public so tests can check the
/// geometry against it).
pub const COLUMN_W: f64 = 400.0;
pub const COLUMN_H: f64 = 230.0;
const COLUMN_LEFT: f64 = 44.0;
const COLUMN_RIGHT: f64 = 8.0;
const COLUMN_TOP: f64 = 20.0;
const COLUMN_BOTTOM: f64 = 48.0;
/// Height of the column chart's plot area: the tallest column's height.
pub const COLUMN_PLOT_H: f64 = COLUMN_H - COLUMN_TOP - COLUMN_BOTTOM;

/// Horizontal bar chart geometry.
pub const HBAR_W: f64 = 400.0;
const HBAR_LABEL_W: f64 = 104.0;
const HBAR_VALUE_W: f64 = 104.0;
const HBAR_ROW: f64 = 22.0;
/// Width of the horizontal bar chart's plot area: the longest bar's width.
pub const HBAR_PLOT_W: f64 = HBAR_W - HBAR_LABEL_W - HBAR_VALUE_W;

/// Escapes text for XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Shortens a label to `max` characters (with an ellipsis); the full text
/// stays in the mark's tooltip and in the table beside the chart.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A compact number for axis ticks: 1234 → "1.2k".
pub fn compact(x: f64) -> String {
    if !x.is_finite() {
        return "—".into();
    }
    let a = x.abs();
    if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else if a >= 10.0 || a == 0.0 || (x.fract() == 0.0) {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn open(out: &mut String, w: f64, h: f64, title: &str) {
    let t = esc(title);
    let _ = write!(
        out,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0} {h:.0}" role="img" aria-label="{t}"><title>{t}</title>"#
    );
}

/// The chart shown when there is nothing to draw: a sentence, not NaN.
pub fn no_data(title: &str) -> String {
    let mut out = String::new();
    open(&mut out, 320.0, 60.0, title);
    out.push_str(
        r#"<text class="no-data" x="160" y="34" text-anchor="middle">No data for this period</text></svg>"#,
    );
    out
}

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// Axis names: x centred under the plot, y turned along the left edge.
fn axis_labels(out: &mut String, f: &Frame, x_mid: f64, x_y: f64, y_mid: f64) {
    let _ = write!(
        out,
        r#"<text class="axis-label" x="{x_mid:.1}" y="{x_y:.1}" text-anchor="middle">{}</text><text class="axis-label" transform="translate(12 {y_mid:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        esc(f.x_label),
        esc(f.y_label)
    );
}

/// Vertical columns, one per category, each with its value written above it.
/// The tallest column fills the plot's height; negative values count as 0.
pub fn columns(f: &Frame, bars: &[Bar]) -> String {
    if bars.is_empty() {
        return no_data(f.title);
    }
    let (w, h) = (COLUMN_W, COLUMN_H);
    let pw = w - COLUMN_LEFT - COLUMN_RIGHT;
    let ph = COLUMN_PLOT_H;
    let base = COLUMN_TOP + ph;
    let max = bars.iter().map(|b| finite(b.value)).fold(0.0, f64::max);
    let slot = pw / bars.len() as f64;
    let bw = (slot * 0.7).max(1.0);
    // About 6.5 px per character at the chart's font size.
    let chars = ((slot / 6.5).floor() as usize).max(3);
    let mut out = String::new();
    open(&mut out, w, h, f.title);
    let _ = write!(
        out,
        r#"<line class="axis" x1="{COLUMN_LEFT:.1}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="currentColor"/><line class="axis" x1="{COLUMN_LEFT:.1}" y1="{COLUMN_TOP:.1}" x2="{COLUMN_LEFT:.1}" y2="{base:.1}" stroke="currentColor"/>"#,
        w - COLUMN_RIGHT
    );
    let _ = write!(
        out,
        r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">0</text><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
        COLUMN_LEFT - 4.0,
        base + 4.0,
        COLUMN_LEFT - 4.0,
        COLUMN_TOP + 4.0,
        esc(&compact(max))
    );
    for (i, b) in bars.iter().enumerate() {
        let v = finite(b.value).max(0.0);
        let bh = if max > 0.0 { v / max * ph } else { 0.0 };
        let x = COLUMN_LEFT + slot * i as f64 + (slot - bw) / 2.0;
        let y = base - bh;
        let cx = x + bw / 2.0;
        let _ = write!(
            out,
            r#"<g><title>{}: {}</title><rect class="bar" x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" fill="rgb(36,84,197)"/><text class="val" x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="cat" x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text></g>"#,
            esc(&b.label),
            esc(&b.text),
            (y - 4.0).max(10.0),
            esc(&clip(&b.text, chars)),
            base + 14.0,
            esc(&clip(&b.label, chars)),
        );
    }
    axis_labels(
        &mut out,
        f,
        COLUMN_LEFT + pw / 2.0,
        h - 8.0,
        COLUMN_TOP + ph / 2.0,
    );
    out.push_str("</svg>");
    out
}

/// Horizontal bars, one row per category (long names fit on the left), each
/// with its value written after it. The longest bar fills the plot's width.
pub fn hbars(f: &Frame, bars: &[Bar]) -> String {
    if bars.is_empty() {
        return no_data(f.title);
    }
    let top = 8.0;
    let h = top + HBAR_ROW * bars.len() as f64 + 34.0;
    let max = bars.iter().map(|b| finite(b.value)).fold(0.0, f64::max);
    let x0 = HBAR_LABEL_W;
    let mut out = String::new();
    open(&mut out, HBAR_W, h, f.title);
    let base = top + HBAR_ROW * bars.len() as f64;
    let _ = write!(
        out,
        r#"<line class="axis" x1="{x0:.1}" y1="{top:.1}" x2="{x0:.1}" y2="{base:.1}" stroke="currentColor"/>"#
    );
    for (i, b) in bars.iter().enumerate() {
        let v = finite(b.value).max(0.0);
        let bw = if max > 0.0 {
            v / max * HBAR_PLOT_W
        } else {
            0.0
        };
        let y = top + HBAR_ROW * i as f64 + 4.0;
        let mid = y + (HBAR_ROW - 8.0) / 2.0 + 4.0;
        let _ = write!(
            out,
            r#"<g><title>{}: {}</title><text class="cat" x="{:.1}" y="{mid:.1}" text-anchor="end">{}</text><rect class="bar" x="{x0:.1}" y="{y:.1}" width="{bw:.1}" height="{:.1}" fill="rgb(36,84,197)"/><text class="val" x="{:.1}" y="{mid:.1}">{}</text></g>"#,
            esc(&b.label),
            esc(&b.text),
            x0 - 6.0,
            esc(&clip(&b.label, 16)),
            HBAR_ROW - 8.0,
            x0 + bw + 4.0,
            esc(&clip(&b.text, 18)),
        );
    }
    let _ = write!(
        out,
        r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis-label" x="4" y="{:.1}">{}</text>"#,
        x0 + HBAR_PLOT_W / 2.0,
        h - 8.0,
        esc(f.x_label),
        h - 8.0,
        esc(f.y_label)
    );
    out.push_str("</svg>");
    out
}

/// A line over periods; `None` leaves a gap (no value that period). Values
/// are written at the points when there are few, else at the last point and
/// the highest one. `fmt` writes a value for people.
pub fn line(
    f: &Frame,
    labels: &[String],
    values: &[Option<f64>],
    fmt: &dyn Fn(f64) -> String,
) -> String {
    let n = labels.len().min(values.len());
    let vals: Vec<Option<f64>> = values[..n]
        .iter()
        .map(|v| v.filter(|x| x.is_finite()))
        .collect();
    if vals.iter().all(Option::is_none) {
        return no_data(f.title);
    }
    let (w, h) = (240.0, 130.0);
    let (left, right, top, bottom) = (40.0, 10.0, 16.0, 34.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let max = vals.iter().flatten().copied().fold(f64::MIN, f64::max);
    let min = vals
        .iter()
        .flatten()
        .copied()
        .fold(f64::MAX, f64::min)
        .min(0.0);
    let span = if max > min { max - min } else { 1.0 };
    let x_at = |i: usize| {
        if n <= 1 {
            left + pw / 2.0
        } else {
            left + pw * i as f64 / (n - 1) as f64
        }
    };
    let y_at = |v: f64| top + ph - (v - min) / span * ph;
    let base = top + ph;
    let mut out = String::new();
    open(&mut out, w, h, f.title);
    let _ = write!(
        out,
        r#"<line class="axis" x1="{left:.1}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="currentColor"/><line class="axis" x1="{left:.1}" y1="{top:.1}" x2="{left:.1}" y2="{base:.1}" stroke="currentColor"/>"#,
        w - right
    );
    let _ = write!(
        out,
        r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
        left - 4.0,
        base + 4.0,
        esc(&fmt(min)),
        left - 4.0,
        top + 4.0,
        esc(&fmt(max))
    );
    // One path per unbroken run of values.
    let mut d = String::new();
    let mut pen_down = false;
    for (i, v) in vals.iter().enumerate() {
        match v {
            Some(v) => {
                let _ = write!(
                    d,
                    "{}{:.1} {:.1} ",
                    if pen_down { "L" } else { "M" },
                    x_at(i),
                    y_at(*v)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    let _ = write!(
        out,
        r#"<path class="series" d="{}" fill="none" stroke="rgb(36,84,197)" stroke-width="2"/>"#,
        d.trim_end()
    );
    let last = vals.iter().rposition(Option::is_some);
    let top_i = vals
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i);
    for (i, v) in vals.iter().enumerate() {
        let Some(v) = *v else { continue };
        let (x, y) = (x_at(i), y_at(v));
        let _ = write!(
            out,
            r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="3" fill="rgb(36,84,197)"><title>{}: {}</title></circle>"#,
            esc(&labels[i]),
            esc(&fmt(v))
        );
        // Few points: each is labelled. Many: the last one, and the highest
        // unless it sits next to the last (the two labels would overlap).
        let near_last = last.is_some_and(|l| l.abs_diff(i) <= n / 5);
        let labelled = n <= 6 || Some(i) == last || (Some(i) == top_i && !near_last);
        if labelled {
            let anchor = if Some(i) == last && n > 1 {
                "end"
            } else if i == 0 && n > 1 {
                "start"
            } else {
                "middle"
            };
            let _ = write!(
                out,
                r#"<text class="val" x="{x:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
                (y - 6.0).max(10.0),
                esc(&fmt(v))
            );
        }
    }
    // First and last period under the axis; more would crowd a small chart.
    let mut ticks = vec![0];
    if n > 1 {
        ticks.push(n - 1);
    }
    for i in ticks {
        let anchor = if i == 0 && n > 1 { "start" } else { "end" };
        let anchor = if n == 1 { "middle" } else { anchor };
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
            x_at(i),
            base + 14.0,
            esc(&labels[i])
        );
    }
    axis_labels(&mut out, f, left + pw / 2.0, h - 6.0, top + ph / 2.0);
    out.push_str("</svg>");
    out
}

/// The cumulative gain (Pareto) chart: x is the share of leads taken best
/// score first, y the share of all conversions among them, both 0–1. The
/// diagonal is what a random order would catch; `mark` (the top-20% point)
/// is drawn and labelled. `curve` should start at (0, 0).
pub fn gain(f: &Frame, curve: &[(f64, f64)], mark: Option<(f64, f64)>) -> String {
    let pts: Vec<(f64, f64)> = curve
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|&(x, y)| (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)))
        .collect();
    if pts.len() < 2 {
        return no_data(f.title);
    }
    let (w, h) = (360.0, 320.0);
    let (left, right, top, bottom) = (52.0, 20.0, 16.0, 44.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let px = |x: f64| left + x * pw;
    let py = |y: f64| top + ph - y * ph;
    let mut out = String::new();
    open(&mut out, w, h, f.title);
    let base = top + ph;
    let _ = write!(
        out,
        r#"<line class="axis" x1="{left:.1}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="currentColor"/><line class="axis" x1="{left:.1}" y1="{top:.1}" x2="{left:.1}" y2="{base:.1}" stroke="currentColor"/>"#,
        w - right
    );
    for t in [0.0, 0.5, 1.0] {
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{:.0}%</text><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{:.0}%</text>"#,
            px(t),
            base + 14.0,
            t * 100.0,
            left - 4.0,
            py(t) + 4.0,
            t * 100.0
        );
    }
    // The random-order baseline: dashed, and named in words.
    let _ = write!(
        out,
        r#"<line class="baseline" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="currentColor" stroke-dasharray="5 4"/><text class="series-label" x="{:.1}" y="{:.1}" text-anchor="end">random order (dashed)</text>"#,
        px(0.0),
        py(0.0),
        px(1.0),
        py(1.0),
        px(0.98),
        py(0.9) + 14.0
    );
    let mut d = String::new();
    for (i, (x, y)) in pts.iter().enumerate() {
        let _ = write!(
            d,
            "{}{:.1} {:.1} ",
            if i == 0 { "M" } else { "L" },
            px(*x),
            py(*y)
        );
    }
    let _ = write!(
        out,
        r#"<path class="series" d="{}" fill="none" stroke="rgb(36,84,197)" stroke-width="2.5"/><text class="series-label" x="{:.1}" y="{:.1}">by score (solid)</text>"#,
        d.trim_end(),
        px(0.04),
        py(0.97)
    );
    if let Some((mx, my)) = mark.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        let (mx, my) = (mx.clamp(0.0, 1.0), my.clamp(0.0, 1.0));
        let (x, y) = (px(mx), py(my));
        let text = format!(
            "top {:.0}% of leads: {:.0}% of conversions",
            mx * 100.0,
            my * 100.0
        );
        let _ = write!(
            out,
            r#"<line class="guide" x1="{x:.1}" y1="{base:.1}" x2="{x:.1}" y2="{y:.1}" stroke="currentColor" stroke-dasharray="1 3"/><circle class="mark" cx="{x:.1}" cy="{y:.1}" r="5" fill="none" stroke="currentColor" stroke-width="2"><title>{t}</title></circle><text class="val" x="{:.1}" y="{:.1}">{t}</text>"#,
            x + 8.0,
            (y + 16.0).min(base - 6.0),
            t = esc(&text),
        );
    }
    axis_labels(&mut out, f, left + pw / 2.0, h - 6.0, top + ph / 2.0);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Frame = Frame {
        title: "Leads",
        x_label: "week",
        y_label: "count",
    };

    /// The numeric value of `attr` on every element that has `class="{class}"`.
    fn attr_of(svg: &str, class: &str, attr: &str) -> Vec<f64> {
        svg.split(&format!("class=\"{class}\""))
            .skip(1)
            .map(|s| {
                let m = format!("{attr}=\"");
                let start = s.find(&m).unwrap() + m.len();
                let end = s[start..].find('"').unwrap() + start;
                s[start..end].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn the_tallest_column_fills_the_plot_and_the_others_are_in_proportion() {
        let svg = columns(
            &F,
            &[
                Bar::new("a", 10.0, "10"),
                Bar::new("b", 40.0, "40"),
                Bar::new("c", 20.0, "20"),
                Bar::new("d", 0.0, "0"),
            ],
        );
        let heights = attr_of(&svg, "bar", "height");
        assert_eq!(heights.len(), 4);
        assert!((heights[1] - COLUMN_PLOT_H).abs() < 0.06, "{heights:?}");
        assert!((heights[0] - COLUMN_PLOT_H / 4.0).abs() < 0.06);
        assert!((heights[2] - COLUMN_PLOT_H / 2.0).abs() < 0.06);
        assert_eq!(heights[3], 0.0);
        // Every column stands on the same baseline.
        let ys = attr_of(&svg, "bar", "y");
        for (y, h) in ys.iter().zip(&heights) {
            assert!((y + h - (COLUMN_H - 48.0)).abs() < 0.11, "{y} + {h}");
        }
        // Values are written, not only drawn.
        assert!(svg.contains(">40</text>"));
    }

    #[test]
    fn the_longest_horizontal_bar_fills_the_plot_width() {
        let svg = hbars(
            &F,
            &[
                Bar::new("web", 3.0, "30%"),
                Bar::new("referral", 6.0, "60%"),
            ],
        );
        let widths = attr_of(&svg, "bar", "width");
        assert!((widths[1] - HBAR_PLOT_W).abs() < 0.06, "{widths:?}");
        assert!((widths[0] - HBAR_PLOT_W / 2.0).abs() < 0.06);
        assert!(svg.contains(">60%</text>") && svg.contains(">referral</text>"));
    }

    #[test]
    fn labels_and_titles_are_xml_escaped() {
        let f = Frame {
            title: "Conversion <by> \"source\" & band",
            x_label: "x<",
            y_label: "y&",
        };
        let svg = columns(&f, &[Bar::new("<script>alert(1)</script>", 1.0, "a&b")]);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("a&amp;b"));
        assert!(svg.contains("aria-label=\"Conversion &lt;by&gt; &quot;source&quot; &amp; band\""));
        let svg = hbars(&f, &[Bar::new("O'Brien & Co", 1.0, "1")]);
        assert!(svg.contains("O&#39;Brien &amp; Co"));
        let svg = line(&f, &["<w1>".into()], &[Some(1.0)], &|v| format!("{v}"));
        assert!(svg.contains("&lt;w1&gt;") && !svg.contains("<w1>"));
    }

    #[test]
    fn empty_or_all_zero_data_says_no_data_and_never_writes_nan() {
        for svg in [
            columns(&F, &[]),
            hbars(&F, &[]),
            line(&F, &[], &[], &|v| format!("{v}")),
            line(&F, &["w1".into()], &[None], &|v| format!("{v}")),
            line(&F, &["w1".into()], &[Some(f64::NAN)], &|v| format!("{v}")),
            gain(&F, &[], None),
        ] {
            assert!(svg.contains("No data"), "{svg}");
            assert!(svg.contains("<title>Leads</title>"));
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
        // All zeros: bars of no height, but no division by zero.
        let svg = columns(&F, &[Bar::new("a", 0.0, "0"), Bar::new("b", f64::NAN, "—")]);
        assert!(!svg.contains("NaN"), "{svg}");
        assert_eq!(attr_of(&svg, "bar", "height"), vec![0.0, 0.0]);
        // One flat value: a line with no vertical span still draws.
        let svg = line(
            &F,
            &["a".into(), "b".into()],
            &[Some(0.0), Some(0.0)],
            &|v| format!("{v}"),
        );
        assert!(!svg.contains("NaN") && svg.contains("class=\"series\""));
    }

    #[test]
    fn a_line_maps_values_to_heights_and_leaves_gaps_for_missing_periods() {
        let labels: Vec<String> = ["w1", "w2", "w3", "w4"].map(String::from).to_vec();
        let svg = line(
            &F,
            &labels,
            &[Some(0.0), Some(10.0), None, Some(5.0)],
            &|v| format!("{v:.0}"),
        );
        let ys = attr_of(&svg, "point", "cy");
        // Plot from y=16 (the maximum) down to y=96 (zero).
        assert_eq!(ys, vec![96.0, 16.0, 56.0]);
        // A gap starts a new run of the path.
        let d_start = svg.find("d=\"").unwrap() + 3;
        let d = &svg[d_start..d_start + svg[d_start..].find('"').unwrap()];
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert!(svg.contains(">w1</text>") && svg.contains(">w4</text>"));
    }

    #[test]
    fn the_gain_chart_marks_the_top_20_percent_point_and_the_diagonal() {
        let curve = [(0.0, 0.0), (0.2, 0.6), (1.0, 1.0)];
        let svg = gain(&F, &curve, Some((0.2, 0.6)));
        assert!(svg.contains("class=\"baseline\""));
        assert!(svg.contains("top 20% of leads: 60% of conversions"));
        // The mark sits at 20% of the plot width and 60% of its height.
        let cx = attr_of(&svg, "mark", "cx")[0];
        let cy = attr_of(&svg, "mark", "cy")[0];
        assert!((cx - (52.0 + 0.2 * 288.0)).abs() < 0.06, "{cx}");
        assert!((cy - (16.0 + 260.0 - 0.6 * 260.0)).abs() < 0.06, "{cy}");
    }

    #[test]
    fn compact_numbers_stay_short_and_finite() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(1234.0), "1.2k");
        assert_eq!(compact(45_000.0), "45k");
        assert_eq!(compact(0.25), "0.25");
        assert_eq!(compact(f64::NAN), "—");
    }
}
