//! `--report FILE.html`: one self-contained HTML page (inline CSS and
//! inline SVG, no script, no network) showing how well one or more scores
//! rank leads whose outcome is known: a summary table, the ROC curve, the
//! cumulative gain chart, lift by decile, the reliability diagram (for
//! probabilities) and the score distribution by outcome.
//!
//! Series are told apart by colour *and* by dash pattern, marker shape or
//! fill pattern; every chart has labelled axes, a legend and a data table.
//! The same inputs give the same bytes.

use anyhow::{Context, Result};
use leadq_core::metrics;
use std::fmt::Write as _;
use std::path::Path;

/// One score to report on: a value per lead and the lead's outcome.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub scores: Vec<f64>,
    pub labels: Vec<bool>,
    /// Calibrated probabilities in [0, 1] (gets PR AUC, ECE and a
    /// reliability diagram); `false` for rules scores.
    pub probabilities: bool,
}

/// Writes the report page to `path`.
pub fn write_report(
    path: &Path,
    title: &str,
    series: &[Series],
    notes: &[(String, String)],
) -> Result<()> {
    std::fs::write(path, render(title, series, notes))
        .with_context(|| format!("cannot write report {}", path.display()))
}

// ---- figures -----------------------------------------------------------------

/// Rows with a finite score, in input order.
fn clean(s: &Series) -> (Vec<f64>, Vec<bool>) {
    s.scores
        .iter()
        .zip(&s.labels)
        .filter(|(v, _)| v.is_finite())
        .map(|(&v, &l)| (v, l))
        .unzip()
}

/// (false-positive rate, true-positive rate, share of leads) after each
/// group of tied scores, best scores first, starting at (0, 0, 0).
fn sweep(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64, f64)> {
    let n = scores.len().min(labels.len());
    let pos = labels[..n].iter().filter(|&&b| b).count() as f64;
    let neg = n as f64 - pos;
    let share = |a: f64, total: f64| if total > 0.0 { a / total } else { 0.0 };
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = vec![(0.0, 0.0, 0.0)];
    let (mut tp, mut fp, mut i) = (0.0, 0.0, 0);
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            if labels[k] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
        }
        out.push((share(fp, neg), share(tp, pos), (j + 1) as f64 / n as f64));
        i = j + 1;
    }
    out
}

/// ROC curve: (false-positive rate, true-positive rate).
pub(crate) fn roc_points(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    sweep(scores, labels).iter().map(|p| (p.0, p.1)).collect()
}

/// Cumulative gain: (share of leads contacted, share of conversions caught).
pub(crate) fn gain_points(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    sweep(scores, labels).iter().map(|p| (p.2, p.1)).collect()
}

/// `y` at `x` on a curve whose `x` never decreases (linear in between, so
/// a tie group is shared out pro rata).
fn interp(points: &[(f64, f64)], x: f64) -> f64 {
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x1 >= x && x1 > x0 {
            if x <= x0 {
                return y0;
            }
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    points.last().map_or(0.0, |p| p.1)
}

/// Highest `y` reached at or before `x` (TPR at FPR ≤ x).
fn best_at(points: &[(f64, f64)], x: f64) -> f64 {
    points
        .iter()
        .filter(|p| p.0 <= x + 1e-12)
        .map(|p| p.1)
        .fold(0.0, f64::max)
}

/// Drops points closer than a fraction of a pixel to the last one kept.
fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (i, &p) in points.iter().enumerate() {
        let keep = match out.last() {
            None => true,
            Some(&(x, y)) => i + 1 == points.len() || (p.0 - x).abs() + (p.1 - y).abs() >= 0.002,
        };
        if keep {
            out.push(p);
        }
    }
    out
}

/// Lift of each tenth of the ranking, best first.
fn decile_lift(gain: &[(f64, f64)]) -> [f64; 10] {
    let mut out = [0.0; 10];
    for (d, v) in out.iter_mut().enumerate() {
        let a = interp(gain, d as f64 / 10.0);
        let b = interp(gain, (d + 1) as f64 / 10.0);
        *v = (b - a) * 10.0;
    }
    out
}

/// Reliability bin: rows, mean probability, observed conversion rate.
#[derive(Clone, Copy, Default)]
struct Bin {
    count: usize,
    mean_p: f64,
    rate: f64,
}

fn reliability(p: &[f64], y: &[bool]) -> [Bin; 10] {
    let mut sum_p = [0.0; 10];
    let mut sum_y = [0.0; 10];
    let mut count = [0usize; 10];
    for (&q, &t) in p.iter().zip(y) {
        let b = ((q.clamp(0.0, 1.0) * 10.0) as usize).min(9);
        sum_p[b] += q;
        sum_y[b] += f64::from(u8::from(t));
        count[b] += 1;
    }
    let mut out = [Bin::default(); 10];
    for b in 0..10 {
        if count[b] > 0 {
            out[b] = Bin {
                count: count[b],
                mean_p: sum_p[b] / count[b] as f64,
                rate: sum_y[b] / count[b] as f64,
            };
        }
    }
    out
}

const HIST_BINS: usize = 20;

struct Histogram {
    lo: f64,
    hi: f64,
    /// Per bin: (not converted, converted).
    counts: Vec<(usize, usize)>,
}

fn histogram(scores: &[f64], labels: &[bool], probabilities: bool) -> Histogram {
    let (mut lo, mut hi) = if probabilities {
        (0.0, 1.0)
    } else {
        scores
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            })
    };
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        hi = lo + 1.0;
    }
    if !probabilities {
        // Round ends, so the axis ticks fall on round numbers.
        let (_, step) = nice(hi - lo);
        (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
        if hi - lo < 1e-12 {
            hi = lo + step;
        }
    }
    let mut counts = vec![(0, 0); HIST_BINS];
    for (&v, &t) in scores.iter().zip(labels) {
        let b = (((v - lo) / (hi - lo) * HIST_BINS as f64).max(0.0) as usize).min(HIST_BINS - 1);
        if t {
            counts[b].1 += 1;
        } else {
            counts[b].0 += 1;
        }
    }
    Histogram { lo, hi, counts }
}

// ---- text --------------------------------------------------------------------

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        "–".into()
    }
}

fn num(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "–".into(),
    }
}

/// A score value on an axis or in a table.
fn score_text(v: f64, probabilities: bool, span: f64) -> String {
    if probabilities {
        format!("{v:.2}")
    } else if span >= 20.0 {
        if (v - v.round()).abs() < 1e-9 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    } else {
        format!("{v:.2}")
    }
}

/// At most `max` characters of `s` (legends are drawn, not wrapped).
fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

// ---- drawing -----------------------------------------------------------------

/// Okabe–Ito colours, distinguishable with the common colour-vision
/// deficiencies; each series also has its own dash, marker and fill pattern.
const COLOURS: [&str; 4] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7"];
const DASHES: [&str; 4] = ["none", "8 4", "2 3", "10 3 2 3"];
const MARKERS: [&str; 4] = ["circle", "square", "triangle", "diamond"];
const REFERENCE: &str = "#777777";

fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

fn dash(i: usize) -> &'static str {
    DASHES[i % DASHES.len()]
}

const W: f64 = 560.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 16.0;
const PLOT_H: f64 = 300.0;
const LEGEND_TOP: f64 = TOP + PLOT_H + 60.0;
const LEGEND_ROW: f64 = 20.0;

/// Data ranges of a plot area.
struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn unit() -> Frame {
        Frame {
            x0: 0.0,
            x1: 1.0,
            y0: 0.0,
            y1: 1.0,
        }
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        TOP + PLOT_H - (y - self.y0) / (self.y1 - self.y0) * PLOT_H
    }

    fn points(&self, pts: &[(f64, f64)]) -> String {
        let mut s = String::new();
        for (i, &(x, y)) in pts.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{:.1},{:.1}", self.px(x), self.py(y));
        }
        s
    }
}

fn svg_open(o: &mut String, id: &str, title: &str, desc: &str, legend_rows: usize) {
    let h = LEGEND_TOP + legend_rows as f64 * LEGEND_ROW + 8.0;
    let _ = writeln!(
        o,
        "<svg id=\"{id}-svg\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" \
         aria-labelledby=\"{id}-t {id}-d\"><title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
        esc(title),
        esc(desc)
    );
}

/// Fill patterns, one per series (solid, diagonal hatch, cross-hatch,
/// dots), with ids unique to the chart.
fn patterns(o: &mut String, id: &str, n: usize) {
    o.push_str("<defs>");
    for i in 0..n {
        let c = colour(i);
        match i % 4 {
            0 => {}
            1 => {
                let _ = write!(
                    o,
                    "<pattern id=\"{id}-p{i}\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
                     patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\"/>\
                     <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"{c}\" stroke-width=\"3\"/></pattern>"
                );
            }
            2 => {
                let _ = write!(
                    o,
                    "<pattern id=\"{id}-p{i}\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">\
                     <rect width=\"6\" height=\"6\" fill=\"#fff\"/>\
                     <path d=\"M0,0 L6,6 M6,0 L0,6\" stroke=\"{c}\" stroke-width=\"1.2\"/></pattern>"
                );
            }
            _ => {
                let _ = write!(
                    o,
                    "<pattern id=\"{id}-p{i}\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\">\
                     <rect width=\"5\" height=\"5\" fill=\"#fff\"/>\
                     <circle cx=\"2.5\" cy=\"2.5\" r=\"1.3\" fill=\"{c}\"/></pattern>"
                );
            }
        }
    }
    o.push_str("</defs>\n");
}

fn fill(id: &str, i: usize) -> String {
    if i.is_multiple_of(4) {
        colour(i).to_string()
    } else {
        format!("url(#{id}-p{i})")
    }
}

fn axes(
    o: &mut String,
    f: &Frame,
    x_label: &str,
    y_label: &str,
    x_ticks: &[(f64, String)],
    y_ticks: &[(f64, String)],
) {
    o.push_str("<g class=\"axes\">");
    for (v, lab) in y_ticks {
        let y = f.py(*v);
        let _ = write!(
            o,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" class=\"grid\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(lab)
        );
    }
    for (v, lab) in x_ticks {
        let x = f.px(*v);
        let _ = write!(
            o,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" class=\"grid\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP + PLOT_H,
            TOP + PLOT_H + 16.0,
            esc(lab)
        );
    }
    let _ = writeln!(
        o,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{PLOT_H}\" fill=\"none\" stroke=\"#333\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"label\">{}</text>\
         <text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\" class=\"label\">{}</text></g>",
        W - LEFT - RIGHT,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        TOP + PLOT_H + 38.0,
        esc(x_label),
        TOP + PLOT_H / 2.0,
        esc(y_label)
    );
}

fn pct_ticks() -> Vec<(f64, String)> {
    (0..=5)
        .map(|i| {
            let v = i as f64 / 5.0;
            (v, format!("{}%", i * 20))
        })
        .collect()
}

/// A round axis maximum at or above `v` and its tick step.
fn nice(v: f64) -> (f64, f64) {
    if !(v > 0.0 && v.is_finite()) {
        return (1.0, 0.2);
    }
    let raw = v / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    ((v / step).ceil() * step, step)
}

fn ticks(max: f64, step: f64, fmt: impl Fn(f64) -> String) -> Vec<(f64, String)> {
    let n = (max / step).round() as usize;
    (0..=n)
        .map(|i| {
            let v = i as f64 * step;
            (v, fmt(v))
        })
        .collect()
}

fn marker(o: &mut String, i: usize, x: f64, y: f64, r: f64, c: &str, opacity: f64) {
    let style =
        format!("fill=\"{c}\" fill-opacity=\"{opacity}\" stroke=\"#222\" stroke-width=\"0.8\"");
    let _ = match MARKERS[i % MARKERS.len()] {
        "circle" => write!(
            o,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r:.1}\" {style}/>"
        ),
        "square" => write!(
            o,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" {style}/>",
            x - r * 0.9,
            y - r * 0.9,
            r * 1.8,
            r * 1.8
        ),
        "triangle" => write!(
            o,
            "<polygon points=\"{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" {style}/>",
            y - r * 1.15,
            x + r,
            y + r * 0.75,
            x - r,
            y + r * 0.75
        ),
        _ => write!(
            o,
            "<polygon points=\"{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}\" {style}/>",
            y - r * 1.2,
            x + r * 1.2,
            y + r * 1.2,
            x - r * 1.2
        ),
    };
}

fn polyline(o: &mut String, f: &Frame, pts: &[(f64, f64)], c: &str, dash: &str, width: f64) {
    let _ = writeln!(
        o,
        "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"{width}\" stroke-dasharray=\"{dash}\" \
         stroke-linejoin=\"round\" points=\"{}\"/>",
        f.points(pts)
    );
}

/// What a legend row shows before its label.
enum Key {
    /// A line with a colour, a dash pattern and optionally a marker.
    Line {
        colour: String,
        dash: String,
        marker: Option<usize>,
    },
    /// A filled box.
    Box {
        fill: String,
        stroke: String,
        dash: String,
    },
}

fn legend(o: &mut String, items: &[(Key, String)]) {
    o.push_str("<g class=\"legend\">");
    for (row, (key, label)) in items.iter().enumerate() {
        let y = LEGEND_TOP + row as f64 * LEGEND_ROW;
        match key {
            Key::Line {
                colour,
                dash,
                marker: m,
            } => {
                let _ = write!(
                    o,
                    "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\" \
                     stroke-width=\"2.5\" stroke-dasharray=\"{dash}\"/>",
                    LEFT + 36.0
                );
                if let Some(i) = m {
                    marker(o, *i, LEFT + 18.0, y, 4.0, colour, 1.0);
                }
            }
            Key::Box { fill, stroke, dash } => {
                let _ = write!(
                    o,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"24\" height=\"12\" fill=\"{fill}\" \
                     stroke=\"{stroke}\" stroke-dasharray=\"{dash}\"/>",
                    LEFT + 6.0,
                    y - 6.0
                );
            }
        }
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            LEFT + 46.0,
            y + 4.0,
            esc(&short(label, 64))
        );
    }
    o.push_str("</g>\n");
}

fn series_key(i: usize) -> Key {
    Key::Line {
        colour: colour(i).into(),
        dash: dash(i).into(),
        marker: Some(i),
    }
}

fn reference_key() -> Key {
    Key::Line {
        colour: REFERENCE.into(),
        dash: "3 3".into(),
        marker: None,
    }
}

/// The `y = x` line of a chance ranking or a perfect calibration.
fn diagonal(o: &mut String, f: &Frame) {
    polyline(o, f, &[(0.0, 0.0), (1.0, 1.0)], REFERENCE, "3 3", 1.5);
}

/// A data table: header row, then rows.
fn table(o: &mut String, caption: &str, head: &[String], rows: &[Vec<String>]) {
    let _ = write!(
        o,
        "<table class=\"data\"><caption>{}</caption><thead><tr>",
        esc(caption)
    );
    for h in head {
        let _ = write!(o, "<th scope=\"col\">{}</th>", esc(h));
    }
    o.push_str("</tr></thead><tbody>\n");
    for r in rows {
        o.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            if i == 0 {
                let _ = write!(o, "<th scope=\"row\">{}</th>", esc(c));
            } else {
                let _ = write!(o, "<td>{}</td>", esc(c));
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n");
}

// ---- the page ----------------------------------------------------------------

struct Prepared<'a> {
    name: &'a str,
    probabilities: bool,
    scores: Vec<f64>,
    labels: Vec<bool>,
    roc: Vec<(f64, f64)>,
    gain: Vec<(f64, f64)>,
}

const CSS: &str = "\
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1a1a1a;background:#fff;margin:0}
main{max-width:980px;margin:0 auto;padding:1rem 1.25rem 3rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:2rem 0 .4rem;border-bottom:1px solid #ccc;padding-bottom:.2rem}
h3{font-size:1rem;margin:1.2rem 0 .3rem}
p.how{margin:.2rem 0 .6rem;color:#333;max-width:48rem}
dl.notes{display:grid;grid-template-columns:max-content auto;gap:.15rem 1rem;margin:0 0 1rem}
dl.notes dt{font-weight:600}
dl.notes dd{margin:0;word-break:break-word}
svg{max-width:100%;height:auto;display:block;margin:.4rem 0}
svg text{font:12px system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;fill:#1a1a1a}
svg text.label{font-size:13px;font-weight:600}
svg .grid{stroke:#e3e3e3;stroke-width:1}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.85rem}
caption{text-align:left;font-weight:600;padding:.2rem 0}
th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
th[scope=row],thead th:first-child{text-align:left}
thead th{background:#f2f2f2}
table.summary{font-size:.95rem}
footer{margin-top:2rem;color:#555;font-size:.85rem}
";

/// The whole page.
pub fn render(title: &str, series: &[Series], notes: &[(String, String)]) -> String {
    let prepared: Vec<Prepared> = series
        .iter()
        .map(|s| {
            let (scores, labels) = clean(s);
            Prepared {
                name: &s.name,
                probabilities: s.probabilities,
                roc: roc_points(&scores, &labels),
                gain: gain_points(&scores, &labels),
                scores,
                labels,
            }
        })
        .collect();
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        esc(title),
        esc(title)
    );
    if !notes.is_empty() {
        o.push_str("<dl class=\"notes\">\n");
        for (k, v) in notes {
            let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
        }
        o.push_str("</dl>\n");
    }
    summary(&mut o, &prepared);
    roc_chart(&mut o, &prepared);
    gain_chart(&mut o, &prepared);
    lift_chart(&mut o, &prepared);
    if prepared.iter().any(|p| p.probabilities) {
        reliability_chart(&mut o, &prepared);
    }
    distribution_charts(&mut o, &prepared);
    o.push_str(
        "<footer>Written by leadq. Every chart is drawn from the rows listed in the summary; \
         tied scores are shared out pro rata.</footer>\n</main>\n</body>\n</html>\n",
    );
    o
}

fn head_row(first: &str, p: &[Prepared]) -> Vec<String> {
    std::iter::once(first.to_string())
        .chain(p.iter().map(|s| s.name.to_string()))
        .collect()
}

fn summary(o: &mut String, p: &[Prepared]) {
    o.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n");
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |name: &str, f: &dyn Fn(&Prepared) -> String| {
        let mut r = vec![name.to_string()];
        r.extend(p.iter().map(f));
        rows.push(r);
    };
    let pos = |s: &Prepared| s.labels.iter().filter(|&&b| b).count();
    row("rows", &|s| s.labels.len().to_string());
    row("converted", &|s| pos(s).to_string());
    row("conversion rate", &|s| {
        pct(pos(s) as f64 / s.labels.len() as f64)
    });
    row("ROC AUC", &|s| {
        num(metrics::roc_auc(&s.scores, &s.labels), 4)
    });
    row("PR AUC (average precision)", &|s| {
        if s.probabilities {
            num(
                Some(leadq_predict::metrics::average_precision(
                    &s.scores, &s.labels,
                )),
                4,
            )
        } else {
            "–".into()
        }
    });
    row("conversions in top 20%", &|s| {
        metrics::top_share(&s.scores, &s.labels, 0.2).map_or("–".into(), pct)
    });
    row("lift in top 10%", &|s| {
        num(metrics::lift(&s.scores, &s.labels, 0.1), 2)
    });
    row("ECE (10 bins)", &|s| {
        if s.probabilities && !s.labels.is_empty() {
            num(
                Some(leadq_predict::metrics::ece(&s.scores, &s.labels, 10)),
                4,
            )
        } else {
            "–".into()
        }
    });
    table(o, "Metrics per model", &head_row("metric", p), &rows);
    o.push_str(
        "<p class=\"how\">PR AUC and the expected calibration error (ECE) apply to probabilities only; \
         a rules score ranks leads but does not claim a conversion rate.</p>\n</section>\n",
    );
}

fn line_legend(p: &[Prepared], reference: &str) -> Vec<(Key, String)> {
    p.iter()
        .enumerate()
        .map(|(i, s)| (series_key(i), s.name.to_string()))
        .chain(std::iter::once((reference_key(), reference.to_string())))
        .collect()
}

/// Markers spread along a curve, shifted per series so they do not hide
/// each other.
fn curve_markers(o: &mut String, f: &Frame, pts: &[(f64, f64)], i: usize) {
    for k in 0..5 {
        let x = 0.1 + 0.2 * k as f64 + 0.035 * (i % 4) as f64;
        let y = interp(pts, x);
        marker(o, i, f.px(x), f.py(y), 4.0, colour(i), 1.0);
    }
}

fn roc_chart(o: &mut String, p: &[Prepared]) {
    o.push_str(
        "<section id=\"roc\">\n<h2>ROC curve</h2>\n<p class=\"how\">Each point is a cut-off: the share of \
         converted leads above it (true-positive rate) against the share of non-converted leads above it \
         (false-positive rate). The dotted diagonal is a random ranking; the closer a curve hugs the top-left \
         corner, the better. The area under it is the ROC AUC.</p>\n",
    );
    let f = Frame::unit();
    svg_open(
        o,
        "roc",
        "ROC curve",
        "True-positive rate against false-positive rate for each model, with the diagonal of a random ranking.",
        p.len() + 1,
    );
    axes(
        o,
        &f,
        "false-positive rate (share of non-converted leads above the cut-off)",
        "true-positive rate",
        &pct_ticks(),
        &pct_ticks(),
    );
    diagonal(o, &f);
    for (i, s) in p.iter().enumerate() {
        polyline(o, &f, &thin(&s.roc), colour(i), dash(i), 2.5);
        curve_markers(o, &f, &s.roc, i);
    }
    legend(o, &line_legend(p, "random ranking"));
    o.push_str("</svg>\n");
    let rows: Vec<Vec<String>> = [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
        .iter()
        .map(|&x| {
            std::iter::once(pct(x))
                .chain(p.iter().map(|s| pct(best_at(&s.roc, x))))
                .collect()
        })
        .collect();
    table(
        o,
        "True-positive rate reached at each false-positive rate",
        &head_row("false-positive rate ≤", p),
        &rows,
    );
    o.push_str("</section>\n");
}

fn gain_chart(o: &mut String, p: &[Prepared]) {
    o.push_str(
        "<section id=\"gain\">\n<h2>Cumulative gain</h2>\n<p class=\"how\">Contact leads best score first: \
         the share of all conversions caught against the share of leads contacted. The dotted diagonal is \
         contacting at random; the vertical line marks the top 20%.</p>\n",
    );
    let f = Frame::unit();
    svg_open(
        o,
        "gain",
        "Cumulative gain",
        "Share of conversions captured against share of leads contacted, best scores first, with the random line and the top-20% point marked.",
        p.len() + 1,
    );
    axes(
        o,
        &f,
        "share of leads contacted (best scores first)",
        "share of conversions captured",
        &pct_ticks(),
        &pct_ticks(),
    );
    diagonal(o, &f);
    let x20 = f.px(0.2);
    let _ = writeln!(
        o,
        "<line x1=\"{x20:.1}\" y1=\"{TOP}\" x2=\"{x20:.1}\" y2=\"{:.1}\" stroke=\"#333\" stroke-width=\"1\" \
         stroke-dasharray=\"1 3\"/><text x=\"{:.1}\" y=\"{:.1}\">top 20%</text>",
        TOP + PLOT_H,
        x20 + 4.0,
        TOP + 14.0
    );
    for (i, s) in p.iter().enumerate() {
        polyline(o, &f, &thin(&s.gain), colour(i), dash(i), 2.5);
        curve_markers(o, &f, &s.gain, i);
    }
    for (i, s) in p.iter().enumerate() {
        if let Some(share) = metrics::top_share(&s.scores, &s.labels, 0.2) {
            let (x, y) = (f.px(0.2), f.py(share));
            marker(o, i, x, y, 6.0, colour(i), 1.0);
            let _ = writeln!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"label\">{}</text>",
                x + 10.0,
                y + 16.0 + 15.0 * i as f64,
                esc(&pct(share))
            );
        }
    }
    legend(o, &line_legend(p, "random contact order"));
    o.push_str("</svg>\n");
    let rows: Vec<Vec<String>> = (1..=10)
        .map(|d| {
            let x = d as f64 / 10.0;
            std::iter::once(pct(x))
                .chain(p.iter().map(|s| {
                    if d == 2 {
                        metrics::top_share(&s.scores, &s.labels, 0.2).map_or("–".into(), pct)
                    } else {
                        pct(interp(&s.gain, x))
                    }
                }))
                .collect()
        })
        .collect();
    table(
        o,
        "Share of conversions captured",
        &head_row("leads contacted", p),
        &rows,
    );
    o.push_str("</section>\n");
}

fn lift_chart(o: &mut String, p: &[Prepared]) {
    o.push_str(
        "<section id=\"lift\">\n<h2>Lift by decile</h2>\n<p class=\"how\">Leads ranked best score first and cut \
         into ten equal groups: each group's conversion rate divided by the overall rate. A lift of 1 (dotted \
         line) is no better than random; a good score has high bars on the left that fall to the right.</p>\n",
    );
    let lifts: Vec<[f64; 10]> = p.iter().map(|s| decile_lift(&s.gain)).collect();
    let top = lifts
        .iter()
        .flat_map(|l| l.iter().copied())
        .fold(1.0, f64::max);
    let (ymax, step) = nice(top * 1.05);
    let f = Frame {
        x0: 0.0,
        x1: 10.0,
        y0: 0.0,
        y1: ymax,
    };
    svg_open(
        o,
        "lift",
        "Lift by decile",
        "Conversion rate of each tenth of the ranking divided by the overall rate, one bar per model, with the line of lift 1.",
        p.len() + 1,
    );
    patterns(o, "lift", p.len());
    let x_ticks: Vec<(f64, String)> = (1..=10).map(|d| (d as f64 - 0.5, format!("{d}"))).collect();
    axes(
        o,
        &f,
        "decile of leads, best scores first (1 = top 10%)",
        "lift (group rate ÷ overall rate)",
        &x_ticks,
        &ticks(ymax, step, |v| format!("{v:.1}")),
    );
    let n = p.len().max(1) as f64;
    let width = 0.8 / n;
    for (i, l) in lifts.iter().enumerate() {
        for (d, &v) in l.iter().enumerate() {
            let x = f.px(d as f64 + 0.1 + width * i as f64);
            let w = f.px(width) - f.px(0.0);
            let (y, y0) = (f.py(v.max(0.0)), f.py(0.0));
            let _ = write!(
                o,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\" stroke=\"{}\" \
                 stroke-width=\"1.2\"><title>{}: decile {}, lift {v:.2}</title></rect>",
                y0 - y,
                fill("lift", i),
                colour(i),
                esc(p[i].name),
                d + 1
            );
        }
        o.push('\n');
    }
    polyline(o, &f, &[(0.0, 1.0), (10.0, 1.0)], REFERENCE, "3 3", 1.5);
    let items: Vec<(Key, String)> = p
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                Key::Box {
                    fill: fill("lift", i),
                    stroke: colour(i).into(),
                    dash: "none".into(),
                },
                s.name.to_string(),
            )
        })
        .chain(std::iter::once((reference_key(), "lift 1 (random)".into())))
        .collect();
    legend(o, &items);
    o.push_str("</svg>\n");
    let rows: Vec<Vec<String>> = (0..10)
        .map(|d| {
            std::iter::once(format!("{} ({}–{}%)", d + 1, d * 10, d * 10 + 10))
                .chain(lifts.iter().map(|l| format!("{:.2}", l[d])))
                .collect()
        })
        .collect();
    table(o, "Lift per decile", &head_row("decile", p), &rows);
    o.push_str("</section>\n");
}

fn reliability_chart(o: &mut String, p: &[Prepared]) {
    o.push_str(
        "<section id=\"reliability\">\n<h2>Reliability (calibration)</h2>\n<p class=\"how\">Predicted \
         probabilities in ten equal-width bins: the mean predicted probability against the share that \
         actually converted. Points on the dotted diagonal are well calibrated; the size of a point \
         follows the number of leads in its bin.</p>\n",
    );
    let probs: Vec<(usize, &Prepared)> = p
        .iter()
        .enumerate()
        .filter(|(_, s)| s.probabilities)
        .collect();
    let bins: Vec<[Bin; 10]> = probs
        .iter()
        .map(|(_, s)| reliability(&s.scores, &s.labels))
        .collect();
    let max_count = bins
        .iter()
        .flat_map(|b| b.iter().map(|x| x.count))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let f = Frame::unit();
    svg_open(
        o,
        "reliability",
        "Reliability (calibration)",
        "Observed conversion rate against mean predicted probability in ten bins, point size by number of leads, with the diagonal of perfect calibration.",
        probs.len() + 1,
    );
    axes(
        o,
        &f,
        "mean predicted probability",
        "observed conversion rate",
        &pct_ticks(),
        &pct_ticks(),
    );
    diagonal(o, &f);
    for ((i, _), b) in probs.iter().zip(&bins) {
        let pts: Vec<(f64, f64)> = b
            .iter()
            .filter(|x| x.count > 0)
            .map(|x| (x.mean_p, x.rate))
            .collect();
        polyline(o, &f, &pts, colour(*i), dash(*i), 1.8);
        for x in b.iter().filter(|x| x.count > 0) {
            let r = 3.0 + 9.0 * (x.count as f64 / max_count).sqrt();
            marker(o, *i, f.px(x.mean_p), f.py(x.rate), r, colour(*i), 0.55);
        }
        o.push('\n');
    }
    let items: Vec<(Key, String)> = probs
        .iter()
        .map(|(i, s)| (series_key(*i), s.name.to_string()))
        .chain(std::iter::once((
            reference_key(),
            "perfect calibration".to_string(),
        )))
        .collect();
    legend(o, &items);
    o.push_str("</svg>\n");
    let mut head = vec!["probability bin".to_string()];
    for (_, s) in &probs {
        head.push(format!("{}: leads", s.name));
        head.push(format!("{}: mean predicted", s.name));
        head.push(format!("{}: observed", s.name));
    }
    let rows: Vec<Vec<String>> = (0..10)
        .map(|k| {
            let mut r = vec![format!(
                "{:.1}–{:.1}",
                k as f64 / 10.0,
                (k + 1) as f64 / 10.0
            )];
            for b in &bins {
                let x = b[k];
                r.push(x.count.to_string());
                if x.count > 0 {
                    r.push(pct(x.mean_p));
                    r.push(pct(x.rate));
                } else {
                    r.extend(["–".to_string(), "–".to_string()]);
                }
            }
            r
        })
        .collect();
    table(o, "Reliability bins", &head, &rows);
    o.push_str("</section>\n");
}

fn distribution_charts(o: &mut String, p: &[Prepared]) {
    o.push_str(
        "<section id=\"distribution\">\n<h2>Score distribution by outcome</h2>\n<p class=\"how\">For each \
         model, the share of converted and of non-converted leads in each of 20 score bins (each outcome \
         sums to 100%). The less the two overlap, the better the score separates them.</p>\n",
    );
    for (i, s) in p.iter().enumerate() {
        let h = histogram(&s.scores, &s.labels, s.probabilities);
        let pos = s.labels.iter().filter(|&&b| b).count();
        let neg = s.labels.len() - pos;
        let share = |c: usize, total: usize| {
            if total > 0 {
                c as f64 / total as f64
            } else {
                0.0
            }
        };
        let top = h
            .counts
            .iter()
            .map(|&(a, b)| share(a, neg).max(share(b, pos)))
            .fold(0.0, f64::max);
        let (ymax, step) = nice(top * 1.05);
        let f = Frame {
            x0: h.lo,
            x1: h.hi,
            y0: 0.0,
            y1: ymax,
        };
        let id = format!("dist{i}");
        let _ = writeln!(o, "<h3>{}</h3>", esc(s.name));
        svg_open(
            o,
            &id,
            &format!("Score distribution by outcome: {}", s.name),
            "Overlaid histograms of the score, 20 bins: share of non-converted leads (grey, solid outline) and of converted leads (hatched, dashed outline) per bin.",
            2,
        );
        let c = colour(i);
        let _ = writeln!(
            o,
            "<defs><pattern id=\"{id}-conv\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
             patternTransform=\"rotate(45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"{c}\" \
             stroke-width=\"2.5\"/></pattern></defs>"
        );
        let span = h.hi - h.lo;
        let x_step = if s.probabilities { 0.2 } else { nice(span).1 };
        let x_ticks: Vec<(f64, String)> = (0..=(span / x_step).round() as usize)
            .map(|k| {
                let v = h.lo + x_step * k as f64;
                (v, score_text(v, s.probabilities, span))
            })
            .collect();
        axes(
            o,
            &f,
            if s.probabilities {
                "predicted probability"
            } else {
                "score"
            },
            "share of the outcome's leads",
            &x_ticks,
            &ticks(ymax, step, pct),
        );
        let bw = span / HIST_BINS as f64;
        for (outcome, total, style) in [
            (
                false,
                neg,
                "fill=\"#bdbdbd\" fill-opacity=\"0.7\" stroke=\"#444\" stroke-width=\"1\"".to_string(),
            ),
            (
                true,
                pos,
                format!(
                    "fill=\"url(#{id}-conv)\" stroke=\"#111\" stroke-width=\"1.4\" stroke-dasharray=\"5 3\""
                ),
            ),
        ] {
            for (b, &(a, cnv)) in h.counts.iter().enumerate() {
                let count = if outcome { cnv } else { a };
                if count == 0 {
                    continue;
                }
                let v = share(count, total);
                let x = f.px(h.lo + bw * b as f64);
                let w = f.px(h.lo + bw * (b + 1) as f64) - x;
                let (y, y0) = (f.py(v), f.py(0.0));
                let _ = write!(
                    o,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" {style}/>",
                    y0 - y
                );
            }
            o.push('\n');
        }
        legend(
            o,
            &[
                (
                    Key::Box {
                        fill: "#bdbdbd".into(),
                        stroke: "#444".into(),
                        dash: "none".into(),
                    },
                    format!("not converted ({neg} leads)"),
                ),
                (
                    Key::Box {
                        fill: format!("url(#{id}-conv)"),
                        stroke: "#111".into(),
                        dash: "5 3".into(),
                    },
                    format!("converted ({pos} leads)"),
                ),
            ],
        );
        o.push_str("</svg>\n");
        let rows: Vec<Vec<String>> = h
            .counts
            .iter()
            .enumerate()
            .map(|(b, &(a, cnv))| {
                let from = h.lo + bw * b as f64;
                vec![
                    format!(
                        "{} – {}",
                        score_text(from, s.probabilities, span),
                        score_text(from + bw, s.probabilities, span)
                    ),
                    format!("{a} ({})", pct(share(a, neg))),
                    format!("{cnv} ({})", pct(share(cnv, pos))),
                ]
            })
            .collect();
        table(
            o,
            &format!("Score bins: {}", s.name),
            &[
                "score bin".to_string(),
                "not converted".to_string(),
                "converted".to_string(),
            ],
            &rows,
        );
    }
    o.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, probabilities: bool) -> Series {
        // Scores that rank converters higher on the whole, with ties.
        let mut scores = Vec::new();
        let mut labels = Vec::new();
        for i in 0..200usize {
            let y = (i * 37 % 100) < 30;
            let base = if y { 0.55 } else { 0.35 };
            let noise = ((i * 7919) % 40) as f64 / 100.0 - 0.2;
            let v: f64 = base + noise;
            let v = if probabilities {
                (v.clamp(0.0, 1.0) * 20.0).round() / 20.0
            } else {
                (v * 100.0).round()
            };
            scores.push(v);
            labels.push(y);
        }
        Series {
            name: name.into(),
            scores,
            labels,
            probabilities,
        }
    }

    #[test]
    fn roc_starts_at_the_origin_and_ends_at_one_one() {
        let s = series("m", true);
        let roc = roc_points(&s.scores, &s.labels);
        assert_eq!(roc.first(), Some(&(0.0, 0.0)));
        assert_eq!(roc.last(), Some(&(1.0, 1.0)));
        assert!(roc.windows(2).all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1));
        // Ties form one step: a single group of everything is the diagonal.
        assert_eq!(
            roc_points(&[0.5; 4], &[true, false, true, false]),
            vec![(0.0, 0.0), (1.0, 1.0)]
        );
    }

    #[test]
    fn gain_reaches_all_conversions_when_all_leads_are_contacted() {
        let s = series("m", false);
        let gain = gain_points(&s.scores, &s.labels);
        assert_eq!(gain.first(), Some(&(0.0, 0.0)));
        assert_eq!(gain.last(), Some(&(1.0, 1.0)));
        assert!((interp(&gain, 1.0) - 1.0).abs() < 1e-12);
        // The interpolated 20% point is the pro-rata top-20% share.
        let share = metrics::top_share(&s.scores, &s.labels, 0.2).unwrap();
        assert!((interp(&gain, 0.2) - share).abs() < 1e-9);
        // Decile lifts average to 1.
        let l = decile_lift(&gain);
        assert!((l.iter().sum::<f64>() / 10.0 - 1.0).abs() < 1e-9);
    }

    #[test]
    fn names_and_notes_are_escaped() {
        let mut s = series("<script>alert('x')</script> & co", true);
        s.name.push('"');
        let page = render(
            "title <b>",
            &[s],
            &[("data <file>".into(), "a&b.csv".into())],
        );
        assert!(!page.contains("<script"), "unescaped script tag");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co&quot;"));
        assert!(page.contains("title &lt;b&gt;"));
        assert!(page.contains("data &lt;file&gt;") && page.contains("a&amp;b.csv"));
    }

    #[test]
    fn the_page_is_self_contained_with_one_svg_per_chart() {
        let page = render(
            "report",
            &[series("model A", true), series("rules B", false)],
            &[],
        );
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!page.contains("<script") && !page.contains("<link"));
        // ROC, gain, lift, reliability, one distribution per series.
        assert_eq!(page.matches("<svg").count(), 6);
        assert_eq!(page.matches("</svg>").count(), 6);
        for t in [
            "ROC curve",
            "Cumulative gain",
            "Lift by decile",
            "Reliability (calibration)",
            "Score distribution by outcome",
        ] {
            assert!(page.contains(&format!("<h2>{t}</h2>")), "{t}");
        }
        // Every chart is followed by its data table.
        assert!(page.matches("<table class=\"data\">").count() >= 7);
        // Rules scores alone get no reliability diagram.
        let rules = render("r", &[series("rules", false)], &[]);
        assert_eq!(rules.matches("<svg").count(), 4);
        assert!(!rules.contains("Reliability"));
    }

    #[test]
    fn output_is_deterministic_and_survives_degenerate_input() {
        let s = [series("a", true), series("b", false)];
        assert_eq!(render("t", &s, &[]), render("t", &s, &[]));
        let odd = [
            Series {
                name: "empty".into(),
                scores: vec![],
                labels: vec![],
                probabilities: true,
            },
            Series {
                name: "one class, a missing score".into(),
                scores: vec![1.0, f64::NAN, 1.0],
                labels: vec![false, true, false],
                probabilities: false,
            },
        ];
        let page = render("t", &odd, &[]);
        assert!(!page.contains("NaN") && !page.contains("inf\""));
        assert_eq!(page.matches("<svg").count(), 6);
    }
}
