//! Scoring one lead: fit rules, engagement rules with half-life decay and
//! windowed caps, grade, band, priority, MQL/SQL verdicts and the reasons.

use crate::event::EventsView;
use crate::expr::{Env, Slot};
use crate::framework::Evaluation;
use crate::lead::Lead;
use crate::model::CompiledModel;
use crate::time::{Timestamp, SECONDS_PER_DAY};
use crate::value::ValueRef;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Fit grade: A is the best fit with the Ideal Customer Profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grade {
    A = 0,
    B = 1,
    C = 2,
    D = 3,
}

impl Grade {
    pub const ALL: [Grade; 4] = [Grade::A, Grade::B, Grade::C, Grade::D];

    pub fn as_str(self) -> &'static str {
        ["A", "B", "C", "D"][self as usize]
    }

    pub fn parse(s: &str) -> Option<Grade> {
        match s.trim() {
            "A" | "a" => Some(Grade::A),
            "B" | "b" => Some(Grade::B),
            "C" | "c" => Some(Grade::C),
            "D" | "d" => Some(Grade::D),
            _ => None,
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cell of the grade × engagement-band matrix, `A1` … `D4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Priority {
    pub grade: Grade,
    /// 1 (most engaged) to 4.
    pub band: u8,
}

const PRIORITY_NAMES: [[&str; 4]; 4] = [
    ["A1", "A2", "A3", "A4"],
    ["B1", "B2", "B3", "B4"],
    ["C1", "C2", "C3", "C4"],
    ["D1", "D2", "D3", "D4"],
];

impl Priority {
    pub fn as_str(self) -> &'static str {
        PRIORITY_NAMES[self.grade as usize][(self.band.clamp(1, 4) - 1) as usize]
    }

    pub fn parse(s: &str) -> Option<Priority> {
        let s = s.trim();
        let mut chars = s.chars();
        let grade = Grade::parse(&chars.next()?.to_string())?;
        let band = chars
            .as_str()
            .parse::<u8>()
            .ok()
            .filter(|b| (1..=4).contains(b))?;
        Some(Priority { grade, band })
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    Fit,
    Engagement,
}

/// One rule that contributed to a score.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub kind: RuleKind,
    /// Index into the model's `fit` or `engagement` rules.
    pub rule: u16,
    /// Points after decay and caps.
    pub points: f64,
    /// Points before decay (after caps); equal to `points` for fit rules.
    pub raw_points: f64,
    /// Events that counted (0 for fit and aggregate rules).
    pub events: u32,
    /// Whether a cap cut the contribution.
    pub capped: bool,
}

/// One event's contribution, recorded when explaining a lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventContribution {
    pub rule: u16,
    pub event: usize,
    pub at: Timestamp,
    pub age_days: f64,
    pub raw_points: f64,
    pub decay_factor: f64,
    pub points: f64,
    pub capped: bool,
}

/// The score of one lead as of one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub fit: f64,
    pub engagement: f64,
    /// `fit_weight × fit + engagement_weight × engagement`.
    pub score: f64,
    pub grade: Grade,
    pub band: u8,
    pub priority: Priority,
    pub mql: bool,
    pub sql: Option<bool>,
    pub reasons: Vec<Reason>,
    pub frameworks: Vec<Evaluation>,
}

struct LeadEnv<'a> {
    lead: &'a Lead,
    now: Timestamp,
    frameworks: &'a [Evaluation],
    /// The event being tested: its kind and the ids of its properties.
    event: Option<(&'a str, &'a [u32])>,
    event_values: &'a [compact_str::CompactString],
    outcome: Option<(&'a Score, f64)>,
}

impl Env for LeadEnv<'_> {
    #[inline]
    fn get(&self, slot: Slot) -> ValueRef<'_> {
        match slot {
            Slot::Lead(f) => f.get(self.lead, self.now),
            Slot::Custom(i) => self
                .lead
                .custom
                .get(i)
                .map_or(ValueRef::Null, |v| v.as_ref()),
            Slot::Answer(i) => self
                .lead
                .answers
                .get(i)
                .map_or(ValueRef::Null, |v| v.as_ref()),
            Slot::FrameworkStatus(i) => ValueRef::Str(self.frameworks[i].status.as_str()),
            Slot::FrameworkSatisfied(i) => ValueRef::Num(self.frameworks[i].satisfied as f64),
            Slot::FrameworkUnknown(i) => ValueRef::Num(self.frameworks[i].unknown_count as f64),
            Slot::EventKind => self.event.map_or(ValueRef::Null, |(k, _)| ValueRef::Str(k)),
            Slot::EventProp(i) => self
                .event
                .and_then(|(_, props)| props.get(i))
                .and_then(|&id| self.event_values.get(id as usize))
                .map_or(ValueRef::Null, |v| ValueRef::Str(v.as_str())),
            Slot::Fit => self
                .outcome
                .map_or(ValueRef::Null, |(s, _)| ValueRef::Num(s.fit)),
            Slot::Grade => self
                .outcome
                .map_or(ValueRef::Null, |(s, _)| ValueRef::Str(s.grade.as_str())),
            Slot::Engagement => self
                .outcome
                .map_or(ValueRef::Null, |(s, _)| ValueRef::Num(s.engagement)),
            Slot::Band => self
                .outcome
                .map_or(ValueRef::Null, |(s, _)| ValueRef::Num(s.band as f64)),
            Slot::Priority => self
                .outcome
                .map_or(ValueRef::Null, |(s, _)| ValueRef::Str(s.priority.as_str())),
            Slot::Score => self
                .outcome
                .map_or(ValueRef::Null, |(_, v)| ValueRef::Num(v)),
        }
    }
}

/// Per-rule accumulator for engagement.
#[derive(Clone, Copy, Default)]
struct Acc {
    points: f64,
    raw: f64,
    events: u32,
    capped: bool,
    window: i64,
    used_in_window: f64,
}

/// `0.5^(age / half_life)`: 1 for a fresh event, ½ after one half-life.
#[inline]
pub fn decay_factor(age_days: f64, half_life_days: Option<f64>) -> f64 {
    match half_life_days {
        Some(h) if age_days > 0.0 => (-(age_days / h) * std::f64::consts::LN_2).exp(),
        _ => 1.0,
    }
}

impl CompiledModel {
    /// Scores `lead` with its `events` as of `as_of`. Events after `as_of`
    /// are ignored, so the result depends only on the inputs.
    pub fn score(&self, lead: &Lead, events: EventsView<'_>, as_of: Timestamp) -> Score {
        self.score_inner(lead, events, as_of, None)
    }

    /// Like [`score`](Self::score) and also records every event's
    /// contribution, for `leadq explain`.
    pub fn explain(
        &self,
        lead: &Lead,
        events: EventsView<'_>,
        as_of: Timestamp,
    ) -> (Score, Vec<EventContribution>) {
        let mut trace = Vec::new();
        let s = self.score_inner(lead, events, as_of, Some(&mut trace));
        (s, trace)
    }

    fn score_inner(
        &self,
        lead: &Lead,
        events: EventsView<'_>,
        as_of: Timestamp,
        mut trace: Option<&mut Vec<EventContribution>>,
    ) -> Score {
        let frameworks: Vec<Evaluation> = self
            .frameworks
            .iter()
            .zip(&self.answer_offsets)
            .map(|(f, &off)| {
                let end = (off + f.criteria.len()).min(lead.answers.len());
                f.evaluate(lead.answers.get(off..end).unwrap_or(&[]))
            })
            .collect();
        let mut env = LeadEnv {
            lead,
            now: as_of,
            frameworks: &frameworks,
            event: None,
            event_values: events.values,
            outcome: None,
        };
        let mut reasons = Vec::new();

        let mut fit = 0.0;
        for (i, r) in self.fit.iter().enumerate() {
            if r.when.test(&env) {
                fit += r.points;
                reasons.push(Reason {
                    kind: RuleKind::Fit,
                    rule: i as u16,
                    points: r.points,
                    raw_points: r.points,
                    events: 0,
                    capped: false,
                });
            }
        }
        let fit = fit.max(0.0);

        let mut acc = vec![
            Acc {
                window: -1,
                ..Acc::default()
            };
            self.engagement.len()
        ];
        // Aggregate rules read lead fields only.
        for (i, r) in self
            .engagement
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_aggregate())
        {
            if let Some(w) = &r.when {
                if !w.test(&env) {
                    continue;
                }
            }
            let raw = match &r.value {
                Some(v) => match v.number(&env) {
                    Some(x) => r.points * x,
                    None => continue,
                },
                None => r.points,
            };
            let (counted, capped) = match r.cap {
                Some(c) if raw.abs() > c => (c.copysign(raw), true),
                _ => (raw, false),
            };
            acc[i] = Acc {
                points: counted,
                raw: counted,
                events: 0,
                capped,
                window: 0,
                used_in_window: counted.abs(),
            };
            // Mark that it fired even when the contribution is zero.
            acc[i].events = 0;
            reasons.push(Reason {
                kind: RuleKind::Engagement,
                rule: i as u16,
                points: counted,
                raw_points: counted,
                events: 0,
                capped,
            });
        }

        // Event rules: newest first, so that a cap keeps the freshest signals.
        if !events.is_empty() && !self.event_kinds.is_empty() {
            let mut order: Vec<u32> = (0..events.len() as u32)
                .filter(|&i| events.at[i as usize] <= as_of)
                .collect();
            order.sort_by_key(|&i| std::cmp::Reverse(events.at[i as usize]));
            for ei in order {
                let ei = ei as usize;
                let kind = events.kinds[ei] as usize;
                let Some(rules) = self.rules_by_kind.get(kind) else {
                    continue;
                };
                if rules.is_empty() {
                    continue;
                }
                env.event = Some((self.event_kinds[kind].as_str(), events.prop_ids(ei)));
                let age_days = (as_of.0 - events.at[ei].0) as f64 / SECONDS_PER_DAY;
                for &ri in rules {
                    let r = &self.engagement[ri as usize];
                    if let Some(w) = &r.when {
                        if !w.test(&env) {
                            continue;
                        }
                    }
                    let a = &mut acc[ri as usize];
                    let mut raw = r.points;
                    let mut capped = false;
                    if let Some(cap) = r.cap {
                        let window = match r.cap_window_days {
                            Some(wd) => (age_days / wd).floor() as i64,
                            None => 0,
                        };
                        if window != a.window {
                            a.window = window;
                            a.used_in_window = 0.0;
                        }
                        let room = (cap - a.used_in_window).max(0.0);
                        if raw.abs() > room {
                            raw = room.copysign(raw);
                            capped = true;
                        }
                        a.used_in_window += raw.abs();
                    }
                    let factor = decay_factor(age_days, r.half_life_days);
                    let pts = raw * factor;
                    a.points += pts;
                    a.raw += raw;
                    a.capped |= capped;
                    if raw != 0.0 {
                        a.events += 1;
                    }
                    if let Some(t) = trace.as_deref_mut() {
                        t.push(EventContribution {
                            rule: ri,
                            event: ei,
                            at: events.at[ei],
                            age_days,
                            raw_points: raw,
                            decay_factor: factor,
                            points: pts,
                            capped,
                        });
                    }
                }
            }
            for (i, a) in acc.iter().enumerate() {
                if !self.engagement[i].is_aggregate() && (a.events > 0 || a.capped) {
                    reasons.push(Reason {
                        kind: RuleKind::Engagement,
                        rule: i as u16,
                        points: a.points,
                        raw_points: a.raw,
                        events: a.events,
                        capped: a.capped,
                    });
                }
            }
        }
        // Reasons read in model order: fit rules, then engagement rules.
        reasons.sort_by_key(|r| (r.kind as u8, r.rule));
        let engagement: f64 = acc.iter().map(|a| a.points).sum::<f64>().max(0.0);
        let grade = self.grade_of(fit);
        let band = self.band_of(engagement);
        let priority = Priority { grade, band };
        let combined = self.fit_weight * fit + self.engagement_weight * engagement;
        let mut score = Score {
            fit,
            engagement,
            score: combined,
            grade,
            band,
            priority,
            mql: false,
            sql: None,
            reasons,
            frameworks: Vec::new(),
        };
        let (mql, sql) = {
            let env = LeadEnv {
                lead,
                now: as_of,
                frameworks: &frameworks,
                event: None,
                event_values: &[],
                outcome: Some((&score, combined)),
            };
            (self.mql.test(&env), self.sql.as_ref().map(|p| p.test(&env)))
        };
        score.mql = mql || sql == Some(true);
        score.sql = sql;
        score.frameworks = frameworks;
        score
    }

    /// The name of the rule a reason refers to.
    pub fn rule_name(&self, r: &Reason) -> &str {
        match r.kind {
            RuleKind::Fit => &self.fit[r.rule as usize].name,
            RuleKind::Engagement => &self.engagement[r.rule as usize].name,
        }
    }

    /// Reasons as one readable line: `Enterprise size +25; Pricing page +8.4 (3 events)`.
    pub fn reasons_text(&self, s: &Score) -> String {
        let mut out = String::new();
        self.write_reasons(s, &mut out);
        out
    }

    /// Appends [`reasons_text`](Self::reasons_text) to `out` without
    /// allocating per reason (output of a million leads goes through here).
    pub fn write_reasons(&self, s: &Score, out: &mut String) {
        use std::fmt::Write;
        for (i, r) in s.reasons.iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            out.push_str(self.rule_name(r));
            out.push(' ');
            write_points(out, r.points);
            if r.events > 0 {
                let _ = write!(
                    out,
                    " ({} event{}",
                    r.events,
                    if r.events == 1 { "" } else { "s" }
                );
                if r.capped {
                    out.push_str(", capped");
                }
                out.push(')');
            } else if r.capped {
                out.push_str(" (capped)");
            }
        }
    }
}

/// Appends points as `+12`, `-5` or `+8.42`.
pub fn write_points(out: &mut String, p: f64) {
    out.push(if p < 0.0 && (p * 100.0).round() != 0.0 {
        '-'
    } else {
        '+'
    });
    write_cents(out, p.abs(), true);
}

/// Appends `x` (≥ 0) rounded to cents: `12`, `8.4` or `8.42`, or with
/// `two_decimals` always two digits after a point (`8.40`). Integer
/// arithmetic instead of float formatting: output of a million leads has
/// tens of millions of these.
pub fn write_cents(out: &mut String, x: f64, two_decimals: bool) {
    use std::fmt::Write;
    let cents = (x * 100.0).round() as u64;
    let (whole, frac) = (cents / 100, cents % 100);
    let _ = write!(out, "{whole}");
    if frac == 0 {
        return;
    }
    out.push('.');
    out.push(char::from(b'0' + (frac / 10) as u8));
    if two_decimals || frac % 10 != 0 {
        out.push(char::from(b'0' + (frac % 10) as u8));
    }
}

/// `+12`, `-5`, `+8.42`.
pub fn format_points(p: f64) -> String {
    let mut s = String::new();
    write_points(&mut s, p);
    s
}

/// Ranks scored leads: priority order of the model, then score, then id.
/// Returns indices into `scores` best first.
pub fn rank(model: &CompiledModel, ids: &[&str], scores: &[Score]) -> Vec<usize> {
    // Sort compact keys rather than indices into the scores: the comparisons
    // then read neighbouring memory, and only ties on priority and score
    // look at the ids.
    let mut keys: Vec<(u8, i64, u32)> = scores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                model.priority_rank(s.priority),
                descending(s.score),
                i as u32,
            )
        })
        .collect();
    keys.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| ids[a.2 as usize].cmp(ids[b.2 as usize]))
            .then_with(|| a.2.cmp(&b.2))
    });
    keys.into_iter().map(|(_, _, i)| i as usize).collect()
}

/// An integer that orders as `f64::total_cmp` orders `-x`: higher scores
/// first.
fn descending(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    // Flip the magnitude bits of negatives so that integer order is
    // total_cmp's order, then reverse it.
    !(bits ^ (((bits >> 63) as u64) >> 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_points(p: f64) -> String {
        let rounded = (p * 100.0).round() / 100.0;
        if rounded.fract() == 0.0 {
            format!("{:+}", rounded as i64)
        } else {
            format!("{rounded:+.2}")
        }
    }

    #[test]
    fn points_are_written_like_float_formatting_would() {
        let mut x = -250.0;
        while x < 250.0 {
            assert_eq!(format_points(x), reference_points(x), "{x}");
            x += 0.0137;
        }
        for (p, want) in [
            (8.4, "+8.40"),
            (8.0, "+8"),
            (-0.05, "-0.05"),
            (0.004, "+0"),
            (-0.004, "+0"),
            (1234.567, "+1234.57"),
        ] {
            assert_eq!(format_points(p), want, "{p}");
        }
    }

    #[test]
    fn plain_numbers_drop_trailing_zeros() {
        let mut s = String::new();
        for (x, want) in [
            (86.17, "86.17"),
            (1.5, "1.5"),
            (42.0, "42"),
            (0.999, "1"),
            (0.0, "0"),
        ] {
            s.clear();
            write_cents(&mut s, x, false);
            assert_eq!(s, want, "{x}");
        }
    }
}
