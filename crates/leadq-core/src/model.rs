//! Scoring models written as TOML ("scoring as code") and their compiled
//! form. See the README for the file format; `examples/default-model.toml`
//! is a complete example.

use crate::expr::{CompileError, Program, Resolver, Slot, Ty};
use crate::framework::{self, Framework};
use crate::lead::LeadField;
use crate::scoring::{Grade, Priority};
use crate::value::FieldType;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;
use toml::Spanned;

/// Why a model was refused at load time.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The file is not valid TOML or does not match the model schema.
    #[error("{message} (line {line}, column {column})")]
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    /// A rule's expression does not compile.
    #[error("{}", describe_rule_error(.section, .rule, .error, .file_position))]
    Rule {
        section: &'static str,
        rule: String,
        error: CompileError,
        /// Line and column of the error in the model file, when known.
        file_position: Option<(usize, usize)>,
    },
    /// Something else in the model is inconsistent.
    #[error("{0}")]
    Invalid(String),
}

fn describe_rule_error(
    section: &str,
    rule: &str,
    e: &CompileError,
    file: &Option<(usize, usize)>,
) -> String {
    let at = match file {
        Some((l, c)) => format!("line {l}, column {c} of the model; "),
        None => String::new(),
    };
    format!(
        "{section} rule '{rule}': {} ({at}column {} of the expression)",
        e.message, e.column
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelDef {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    frameworks: Vec<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    #[serde(default)]
    custom_frameworks: Vec<Framework>,
    grades: GradesDef,
    bands: BTreeMap<String, f64>,
    #[serde(default)]
    priority: Option<PriorityDef>,
    #[serde(default)]
    score: Option<ScoreDef>,
    #[serde(default)]
    fit: Vec<FitRuleDef>,
    #[serde(default)]
    engagement: Vec<EngagementRuleDef>,
    mql: ConditionDef,
    #[serde(default)]
    sql: Option<ConditionDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
struct GradesDef {
    A: f64,
    B: f64,
    C: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriorityDef {
    order: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreDef {
    #[serde(default = "one")]
    fit_weight: f64,
    #[serde(default = "one")]
    engagement_weight: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FitRuleDef {
    name: String,
    when: Spanned<String>,
    points: f64,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngagementRuleDef {
    name: String,
    #[serde(default)]
    event: Option<OneOrMany>,
    #[serde(default)]
    when: Option<Spanned<String>>,
    #[serde(default)]
    value: Option<Spanned<String>>,
    points: f64,
    #[serde(default)]
    half_life_days: Option<f64>,
    #[serde(default)]
    cap: Option<f64>,
    #[serde(default)]
    cap_window_days: Option<f64>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionDef {
    when: Spanned<String>,
}

/// A compiled fit rule.
#[derive(Debug, Clone)]
pub struct FitRule {
    pub name: String,
    pub description: Option<String>,
    pub when: Program,
    pub points: f64,
}

/// A compiled engagement rule: either over events of some kinds, or over
/// aggregate fields of the lead (`events` empty).
#[derive(Debug, Clone)]
pub struct EngagementRule {
    pub name: String,
    pub description: Option<String>,
    /// Indices into [`CompiledModel::event_kinds`]; empty for an aggregate rule.
    pub events: Vec<u16>,
    pub when: Option<Program>,
    /// For aggregate rules: contribution = points × value.
    pub value: Option<Program>,
    pub points: f64,
    pub half_life_days: Option<f64>,
    pub cap: Option<f64>,
    pub cap_window_days: Option<f64>,
}

impl EngagementRule {
    pub fn is_aggregate(&self) -> bool {
        self.events.is_empty()
    }
}

/// A scoring model ready to score leads. Built by [`CompiledModel::from_toml`].
#[derive(Debug, Clone)]
pub struct CompiledModel {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub custom_fields: Vec<(String, FieldType)>,
    pub frameworks: Vec<Framework>,
    /// For each framework, the index of its first answer in `Lead::answers`.
    pub answer_offsets: Vec<usize>,
    pub grade_thresholds: [f64; 3],
    pub band_thresholds: [f64; 3],
    /// rank_of[grade][band-1]: lower ranks first.
    priority_rank: [[u8; 4]; 4],
    pub fit_weight: f64,
    pub engagement_weight: f64,
    pub fit: Vec<FitRule>,
    pub engagement: Vec<EngagementRule>,
    pub event_kinds: Vec<String>,
    pub event_properties: Vec<String>,
    /// For each event kind index, the engagement rules listening to it.
    pub(crate) rules_by_kind: Vec<Vec<u16>>,
    pub mql: Program,
    pub sql: Option<Program>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Lead,
    Event,
    Outcome,
}

struct ModelResolver<'m> {
    scope: Scope,
    custom: &'m [(String, FieldType)],
    frameworks: &'m [Framework],
    answer_offsets: &'m [usize],
    event_properties: &'m mut Vec<String>,
}

impl ModelResolver<'_> {
    fn known_names(&self) -> Vec<String> {
        let mut names: Vec<String> = LeadField::ALL
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        names.extend(self.custom.iter().map(|(n, _)| format!("custom.{n}")));
        for f in self.frameworks {
            let p = f.column_prefix();
            names.extend(
                ["status", "satisfied", "unknown"]
                    .iter()
                    .map(|a| format!("{p}.{a}")),
            );
            names.extend(f.criteria.iter().map(|c| format!("{p}.{}", c.key)));
        }
        if self.scope == Scope::Outcome {
            names.extend(
                ["fit", "grade", "engagement", "band", "priority", "score"].map(String::from),
            );
        }
        if self.scope == Scope::Event {
            names.push("event.type".into());
        }
        names
    }

    fn unknown(&self, path: &[&str]) -> String {
        let wanted = path.join(".");
        let best = self
            .known_names()
            .into_iter()
            .map(|n| (strsim::jaro_winkler(&n, &wanted), n))
            .filter(|(s, _)| *s > 0.85)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let mut msg = format!("unknown field '{wanted}'");
        if let Some((_, n)) = best {
            msg.push_str(&format!("; did you mean '{n}'?"));
        }
        if path.len() == 2 && path[0] == "custom" {
            msg.push_str(&format!(
                " (declare custom fields in [fields], e.g. {} = \"number\")",
                path[1]
            ));
        }
        if path.first() == Some(&"event") && self.scope != Scope::Event {
            msg = format!("'{wanted}' can only be used in an engagement rule with an `event`");
        }
        msg
    }
}

impl Resolver for ModelResolver<'_> {
    fn resolve(&mut self, path: &[&str]) -> Result<(Slot, FieldType), String> {
        match path {
            [name] => {
                if let Some(f) = LeadField::by_name(name) {
                    return Ok((Slot::Lead(f), f.field_type()));
                }
                if self.scope == Scope::Outcome {
                    let hit = match *name {
                        "fit" => Some((Slot::Fit, FieldType::Number)),
                        "grade" => Some((Slot::Grade, FieldType::String)),
                        "engagement" => Some((Slot::Engagement, FieldType::Number)),
                        "band" => Some((Slot::Band, FieldType::Number)),
                        "priority" => Some((Slot::Priority, FieldType::String)),
                        "score" => Some((Slot::Score, FieldType::Number)),
                        _ => None,
                    };
                    if let Some(h) = hit {
                        return Ok(h);
                    }
                }
                Err(self.unknown(path))
            }
            ["custom", name] => self
                .custom
                .iter()
                .position(|(n, _)| n == name)
                .map(|i| (Slot::Custom(i), self.custom[i].1))
                .ok_or_else(|| self.unknown(path)),
            ["event", prop] if self.scope == Scope::Event => {
                if *prop == "type" {
                    return Ok((Slot::EventKind, FieldType::String));
                }
                let i = match self.event_properties.iter().position(|p| p == prop) {
                    Some(i) => i,
                    None => {
                        self.event_properties.push(prop.to_string());
                        self.event_properties.len() - 1
                    }
                };
                Ok((Slot::EventProp(i), FieldType::String))
            }
            [prefix, attr] => {
                let Some(fi) = self
                    .frameworks
                    .iter()
                    .position(|f| f.column_prefix() == *prefix)
                else {
                    return Err(self.unknown(path));
                };
                match *attr {
                    "status" => Ok((Slot::FrameworkStatus(fi), FieldType::String)),
                    "satisfied" => Ok((Slot::FrameworkSatisfied(fi), FieldType::Number)),
                    "unknown" => Ok((Slot::FrameworkUnknown(fi), FieldType::Number)),
                    key => {
                        let f = &self.frameworks[fi];
                        let ci = f
                            .criteria
                            .iter()
                            .position(|c| c.key == key)
                            .ok_or_else(|| self.unknown(path))?;
                        Ok((
                            Slot::Answer(self.answer_offsets[fi] + ci),
                            Framework::answer_field_type(&f.criteria[ci]),
                        ))
                    }
                }
            }
            _ => Err(self.unknown(path)),
        }
    }
}

/// Turns a byte offset in `text` into a 1-based (line, column).
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl CompiledModel {
    /// Parses and compiles a model. Every expression is type-checked now, so
    /// a model that loads cannot fail at scoring time.
    pub fn from_toml(text: &str) -> Result<CompiledModel, ModelError> {
        let def: ModelDef = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            ModelError::Syntax {
                message: e.message().trim().to_string(),
                line,
                column,
            }
        })?;
        Self::compile(def, text)
    }

    fn compile(def: ModelDef, text: &str) -> Result<CompiledModel, ModelError> {
        let invalid = |m: String| Err(ModelError::Invalid(m));
        // Custom fields.
        let mut custom_fields = Vec::new();
        for (name, ty) in &def.fields {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.is_empty() {
                return invalid(format!("[fields]: '{name}' must be a snake_case name"));
            }
            let Some(t) = FieldType::parse(ty) else {
                return invalid(format!(
                    "[fields]: '{name}' has unknown type '{ty}' (use string, number or bool)"
                ));
            };
            custom_fields.push((name.clone(), t));
        }
        // Frameworks.
        for f in &def.custom_frameworks {
            Framework::from_toml(&toml::to_string(f).unwrap_or_default(), &f.key)
                .map_err(|e| ModelError::Invalid(e.to_string()))?;
        }
        let mut frameworks = Vec::new();
        for key in &def.frameworks {
            let f = framework::find(key, &def.custom_frameworks)
                .map_err(|e| ModelError::Invalid(format!("frameworks: {e}")))?;
            if frameworks.iter().any(|g: &Framework| g.key == f.key) {
                return invalid(format!("frameworks: '{key}' is listed twice"));
            }
            frameworks.push(f);
        }
        let mut answer_offsets = Vec::new();
        let mut n = 0;
        for f in &frameworks {
            answer_offsets.push(n);
            n += f.criteria.len();
        }
        // Thresholds.
        let g = [def.grades.A, def.grades.B, def.grades.C];
        if !(g[0] > g[1] && g[1] > g[2]) {
            return invalid(format!(
                "[grades]: thresholds must decrease from A to C, got A={} B={} C={}",
                g[0], g[1], g[2]
            ));
        }
        let mut b = [0.0; 3];
        for (i, slot) in b.iter_mut().enumerate() {
            let key = (i + 1).to_string();
            *slot = *def.bands.get(&key).ok_or_else(|| ModelError::Invalid(format!("[bands]: missing threshold for band {key} (bands 1, 2 and 3 need one; band 4 is everything below)")))?;
        }
        if let Some(extra) = def
            .bands
            .keys()
            .find(|k| !["1", "2", "3"].contains(&k.as_str()))
        {
            return invalid(format!(
                "[bands]: unknown band '{extra}' (only 1, 2 and 3 take a threshold)"
            ));
        }
        if !(b[0] > b[1] && b[1] > b[2]) {
            return invalid(format!(
                "[bands]: thresholds must decrease from band 1 to 3, got {} {} {}",
                b[0], b[1], b[2]
            ));
        }
        let priority_rank = match &def.priority {
            None => default_priority_rank(),
            Some(p) => custom_priority_rank(&p.order)?,
        };
        let (fit_weight, engagement_weight) = def
            .score
            .as_ref()
            .map_or((1.0, 1.0), |s| (s.fit_weight, s.engagement_weight));

        let mut event_properties = Vec::new();
        let mut event_kinds: Vec<String> = Vec::new();
        let rule_err =
            |section: &'static str, rule: &str, src: &Spanned<String>, error: CompileError| {
                let file_position = expression_file_position(text, src, &error);
                ModelError::Rule {
                    section,
                    rule: rule.to_string(),
                    error,
                    file_position,
                }
            };
        let mut names = std::collections::HashSet::new();
        let mut fit = Vec::new();
        for r in &def.fit {
            if !names.insert(("fit", r.name.clone())) {
                return invalid(format!("fit rule '{}' is defined twice", r.name));
            }
            check_points("fit", &r.name, r.points)?;
            let mut res = ModelResolver {
                scope: Scope::Lead,
                custom: &custom_fields,
                frameworks: &frameworks,
                answer_offsets: &answer_offsets,
                event_properties: &mut event_properties,
            };
            let when = Program::compile(r.when.get_ref(), Ty::Bool, &mut res)
                .map_err(|e| rule_err("fit", &r.name, &r.when, e))?;
            fit.push(FitRule {
                name: r.name.clone(),
                description: r.description.clone(),
                when,
                points: r.points,
            });
        }
        let mut engagement = Vec::new();
        for r in &def.engagement {
            if !names.insert(("engagement", r.name.clone())) {
                return invalid(format!("engagement rule '{}' is defined twice", r.name));
            }
            check_points("engagement", &r.name, r.points)?;
            let kinds: Vec<String> = match &r.event {
                None => vec![],
                Some(OneOrMany::One(k)) => vec![k.clone()],
                Some(OneOrMany::Many(ks)) => ks.clone(),
            };
            let mut events = Vec::new();
            for k in &kinds {
                let Some(kind) = crate::event::EventKind::parse(k) else {
                    return invalid(format!(
                        "engagement rule '{}': '{k}' is not an event type name",
                        r.name
                    ));
                };
                let name = kind.as_str().to_string();
                let idx = match event_kinds.iter().position(|e| *e == name) {
                    Some(i) => i,
                    None => {
                        event_kinds.push(name);
                        event_kinds.len() - 1
                    }
                };
                events.push(idx as u16);
            }
            let scope = if events.is_empty() {
                Scope::Lead
            } else {
                Scope::Event
            };
            for (what, v) in [
                ("half_life_days", r.half_life_days),
                ("cap", r.cap),
                ("cap_window_days", r.cap_window_days),
            ] {
                if let Some(v) = v {
                    if !(v.is_finite() && v > 0.0) {
                        return invalid(format!(
                            "engagement rule '{}': {what} must be a positive number, got {v}",
                            r.name
                        ));
                    }
                }
            }
            if events.is_empty() && (r.half_life_days.is_some() || r.cap_window_days.is_some()) {
                return invalid(format!("engagement rule '{}': half_life_days and cap_window_days need an `event` (aggregate fields carry no timestamps)", r.name));
            }
            if r.cap_window_days.is_some() && r.cap.is_none() {
                return invalid(format!(
                    "engagement rule '{}': cap_window_days is set but cap is not",
                    r.name
                ));
            }
            if !events.is_empty() && r.value.is_some() {
                return invalid(format!(
                    "engagement rule '{}': `value` is for aggregate rules (without `event`)",
                    r.name
                ));
            }
            if events.is_empty() && r.when.is_none() && r.value.is_none() {
                return invalid(format!(
                    "engagement rule '{}': needs an `event`, a `when` or a `value`",
                    r.name
                ));
            }
            let mut res = ModelResolver {
                scope,
                custom: &custom_fields,
                frameworks: &frameworks,
                answer_offsets: &answer_offsets,
                event_properties: &mut event_properties,
            };
            let when = match &r.when {
                Some(w) => Some(
                    Program::compile(w.get_ref(), Ty::Bool, &mut res)
                        .map_err(|e| rule_err("engagement", &r.name, w, e))?,
                ),
                None => None,
            };
            let value = match &r.value {
                Some(v) => Some(
                    Program::compile(v.get_ref(), Ty::Num, &mut res)
                        .map_err(|e| rule_err("engagement", &r.name, v, e))?,
                ),
                None => None,
            };
            engagement.push(EngagementRule {
                name: r.name.clone(),
                description: r.description.clone(),
                events,
                when,
                value,
                points: r.points,
                half_life_days: r.half_life_days,
                cap: r.cap,
                cap_window_days: r.cap_window_days,
            });
        }
        let mut outcome = ModelResolver {
            scope: Scope::Outcome,
            custom: &custom_fields,
            frameworks: &frameworks,
            answer_offsets: &answer_offsets,
            event_properties: &mut event_properties,
        };
        let mql = Program::compile(def.mql.when.get_ref(), Ty::Bool, &mut outcome)
            .map_err(|e| rule_err("mql", "mql", &def.mql.when, e))?;
        let sql = match &def.sql {
            Some(s) => Some(
                Program::compile(s.when.get_ref(), Ty::Bool, &mut outcome)
                    .map_err(|e| rule_err("sql", "sql", &s.when, e))?,
            ),
            None => None,
        };
        let mut rules_by_kind = vec![Vec::new(); event_kinds.len()];
        for (ri, r) in engagement.iter().enumerate() {
            for k in &r.events {
                rules_by_kind[*k as usize].push(ri as u16);
            }
        }
        if fit.len() > u16::MAX as usize || engagement.len() > u16::MAX as usize {
            return invalid("too many rules".into());
        }
        Ok(CompiledModel {
            name: def.name,
            version: def.version,
            description: def.description,
            custom_fields,
            frameworks,
            answer_offsets,
            grade_thresholds: g,
            band_thresholds: b,
            priority_rank,
            fit_weight,
            engagement_weight,
            fit,
            engagement,
            event_kinds,
            event_properties,
            rules_by_kind,
            mql,
            sql,
        })
    }

    /// The index of an event kind in this model, or `None` when no rule
    /// listens to it (such events can be skipped at read time).
    pub fn event_kind_index(&self, kind: &str) -> Option<u16> {
        self.event_kinds
            .iter()
            .position(|k| k == kind)
            .map(|i| i as u16)
    }

    /// Total number of framework answers a lead carries for this model.
    pub fn answer_count(&self) -> usize {
        self.frameworks.iter().map(|f| f.criteria.len()).sum()
    }

    /// (framework index, criterion index) for each answer slot, in order.
    pub fn answer_slots(&self) -> Vec<(usize, usize)> {
        self.frameworks
            .iter()
            .enumerate()
            .flat_map(|(fi, f)| (0..f.criteria.len()).map(move |ci| (fi, ci)))
            .collect()
    }

    /// Sort key of a priority: lower comes first.
    pub fn priority_rank(&self, p: Priority) -> u8 {
        self.priority_rank[p.grade as usize][(p.band - 1) as usize]
    }

    /// The grade of a fit score.
    pub fn grade_of(&self, fit: f64) -> Grade {
        let [a, b, c] = self.grade_thresholds;
        if fit >= a {
            Grade::A
        } else if fit >= b {
            Grade::B
        } else if fit >= c {
            Grade::C
        } else {
            Grade::D
        }
    }

    /// The band (1 = hottest … 4) of an engagement score.
    pub fn band_of(&self, engagement: f64) -> u8 {
        let [b1, b2, b3] = self.band_thresholds;
        if engagement >= b1 {
            1
        } else if engagement >= b2 {
            2
        } else if engagement >= b3 {
            3
        } else {
            4
        }
    }

    /// Highest possible fit score: every positive fit rule firing.
    pub fn max_fit(&self) -> f64 {
        self.fit.iter().map(|r| r.points.max(0.0)).sum()
    }
}

fn check_points(section: &str, rule: &str, points: f64) -> Result<(), ModelError> {
    if points.is_finite() {
        Ok(())
    } else {
        Err(ModelError::Invalid(format!(
            "{section} rule '{rule}': points must be a finite number"
        )))
    }
}

/// Where in the model file an expression error sits: the error's position
/// in the decoded expression is mapped back through the string as written,
/// so escapes (`\"`) and line-ending backslashes are accounted for.
fn expression_file_position(
    text: &str,
    src: &Spanned<String>,
    e: &CompileError,
) -> Option<(usize, usize)> {
    let span = src.span();
    let raw = text.get(span.clone())?;
    let quote = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
        3
    } else {
        1
    };
    let mut start = span.start + quote;
    if quote == 3 {
        if text[start..].starts_with('\n') {
            start += 1;
        } else if text[start..].starts_with("\r\n") {
            start += 2;
        }
    }
    let body = text.get(start..span.end)?;
    let target = char_index(src.get_ref(), e.line, e.column);
    Some(line_col(
        text,
        start + written_offset(body, target, raw.starts_with('"')),
    ))
}

/// The index, in characters, of a 1-based line and column of `s`.
fn char_index(s: &str, line: usize, column: usize) -> usize {
    let (mut l, mut c) = (1, 1);
    for (i, ch) in s.chars().enumerate() {
        if (l == line && c >= column) || l > line {
            return i;
        }
        if ch == '\n' {
            l += 1;
            c = 1;
        } else {
            c += 1;
        }
    }
    s.chars().count()
}

/// The byte offset in `body`, the text of a TOML string as written, of its
/// `target`-th decoded character. Only basic strings have `escapes`; both
/// kinds read a CRLF line ending as one newline.
fn written_offset(body: &str, target: usize, escapes: bool) -> usize {
    let mut decoded = 0;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if escapes && c == '\\' && chars.peek().is_some_and(|(_, w)| w.is_whitespace()) {
            // A line-ending backslash: it, the newline and the whitespace
            // that follows decode to nothing.
            while chars.next_if(|(_, w)| w.is_whitespace()).is_some() {}
            continue;
        }
        if decoded == target {
            return i;
        }
        if escapes && c == '\\' {
            match chars.next() {
                Some((_, 'u')) => chars.by_ref().take(4).for_each(drop),
                Some((_, 'U')) => chars.by_ref().take(8).for_each(drop),
                _ => {}
            }
        } else if c == '\r' {
            chars.next_if(|(_, n)| *n == '\n');
        }
        decoded += 1;
    }
    body.len()
}

fn default_priority_rank() -> [[u8; 4]; 4] {
    // Better grade and hotter band first; ties on the sum go to fit, since
    // a good-fit lead that is warming up is worth more than a poor fit
    // that is busy on the website.
    let mut all: Vec<(usize, usize)> = (0..4).flat_map(|g| (0..4).map(move |b| (g, b))).collect();
    all.sort_by_key(|&(g, b)| (g + b, g));
    let mut rank = [[0u8; 4]; 4];
    for (i, (g, b)) in all.into_iter().enumerate() {
        rank[g][b] = i as u8;
    }
    rank
}

fn custom_priority_rank(order: &[String]) -> Result<[[u8; 4]; 4], ModelError> {
    let mut rank = [[u8::MAX; 4]; 4];
    for (i, p) in order.iter().enumerate() {
        let parsed = Priority::parse(p).ok_or_else(|| {
            ModelError::Invalid(format!("[priority]: '{p}' is not a priority like A1 or D4"))
        })?;
        let cell = &mut rank[parsed.grade as usize][(parsed.band - 1) as usize];
        if *cell != u8::MAX {
            return Err(ModelError::Invalid(format!(
                "[priority]: '{p}' appears twice in order"
            )));
        }
        *cell = i as u8;
    }
    for (g, row) in rank.iter().enumerate() {
        for (b, v) in row.iter().enumerate() {
            if *v == u8::MAX {
                let p = Priority {
                    grade: Grade::ALL[g],
                    band: b as u8 + 1,
                };
                return Err(ModelError::Invalid(format!(
                    "[priority]: order must list all 16 priorities; {p} is missing"
                )));
            }
        }
    }
    Ok(rank)
}

impl fmt::Display for CompiledModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(v) = &self.version {
            write!(f, " (version {v})")?;
        }
        Ok(())
    }
}
