//! Scoring stored leads: stored fields → clean [`Lead`] (through the same
//! ingest path as files) → score with the published model.

use compact_str::CompactString;
use leadq_core::event::EventColumns;
use leadq_core::framework::Framework;
use leadq_core::scoring::RuleKind;
use leadq_core::{CompiledModel, Lead, Score, Timestamp, Value};
use leadq_ingest::{InputFormat, Mapping, Reject};
use leadq_store::{AnswerRow, EventRow, LeadRow, LeadScore, ModelRow};
use serde_json::{json, Map, Value as Json};

/// The model leads are scored with, compiled once.
pub struct ActiveModel {
    pub row: ModelRow,
    pub compiled: CompiledModel,
}

impl ActiveModel {
    pub fn version(&self) -> i64 {
        self.row.version.unwrap_or(0)
    }
}

/// The document the cleaner sees: the stored fields, the service-owned keys
/// and the recorded framework answers as `prefix.criterion` columns.
fn document(lead: &LeadRow, answers: &[AnswerRow], frameworks: &[Framework]) -> Map<String, Json> {
    let mut doc: Map<String, Json> = serde_json::from_str(&lead.fields).unwrap_or_default();
    doc.insert("lead_id".into(), Json::String(lead.id.clone()));
    doc.insert("stage".into(), Json::String(lead.stage.clone()));
    if let Some(o) = &lead.owner {
        doc.insert("owner".into(), Json::String(o.clone()));
    }
    if !doc.contains_key("created_at") {
        doc.insert(
            "created_at".into(),
            Json::String(crate::clock::rfc3339(lead.created_at)),
        );
    }
    for a in answers.iter().filter(|a| a.lead_id == lead.id) {
        if let Some(f) = frameworks
            .iter()
            .find(|f| f.key.eq_ignore_ascii_case(&a.framework))
        {
            doc.insert(
                format!("{}.{}", f.column_prefix(), a.criterion),
                Json::String(a.value.clone()),
            );
        }
    }
    doc
}

/// [`document`] written straight into `buf` when it is the stored fields
/// with the service-owned keys appended: the fields are a JSON object (as
/// the service stores them) naming none of those keys, and the lead has no
/// answers. Returns false, having written nothing, otherwise.
fn append_plain_document(buf: &mut Vec<u8>, lead: &LeadRow, answers: &[AnswerRow]) -> bool {
    let fields = lead.fields.trim();
    let Some(inner) = fields.strip_prefix('{').and_then(|f| f.strip_suffix('}')) else {
        return false;
    };
    // A backslash could spell a key in escapes, and a line break would split
    // the document over two lines: such fields go the long way.
    let plain = !fields.contains(['\\', '\n'])
        && !["\"lead_id\"", "\"stage\"", "\"owner\"", "\"created_at\""]
            .iter()
            .any(|k| fields.contains(k))
        && !answers.iter().any(|a| a.lead_id == lead.id)
        && serde_json::from_str::<serde::de::IgnoredAny>(fields).is_ok();
    if !plain {
        return false;
    }
    buf.push(b'{');
    buf.extend_from_slice(inner.as_bytes());
    if !inner.trim().is_empty() {
        buf.push(b',');
    }
    let key = |buf: &mut Vec<u8>, k: &str, v: &str, comma: bool| {
        buf.extend_from_slice(k.as_bytes());
        serde_json::to_writer(&mut *buf, v).expect("a string serialises");
        if comma {
            buf.push(b',');
        }
    };
    key(buf, "\"lead_id\":", &lead.id, true);
    key(buf, "\"stage\":", &lead.stage, true);
    if let Some(o) = &lead.owner {
        key(buf, "\"owner\":", o, true);
    }
    key(
        buf,
        "\"created_at\":",
        &crate::clock::rfc3339(lead.created_at),
        false,
    );
    buf.push(b'}');
    true
}

/// Cleans stored leads for `model`, one result per lead, in order.
pub fn clean_leads(
    leads: &[LeadRow],
    answers: &[AnswerRow],
    model: &CompiledModel,
    mapping: &Mapping,
) -> Vec<Result<Lead, Reject>> {
    if leads.is_empty() {
        return Vec::new();
    }
    let mut buf = Vec::with_capacity(leads.len() * 256);
    for l in leads {
        if !append_plain_document(&mut buf, l, answers) {
            let doc = document(l, answers, &model.frameworks);
            serde_json::to_writer(&mut buf, &doc).expect("a JSON map serialises");
        }
        buf.push(b'\n');
    }
    match leadq_ingest::clean_records(&buf, InputFormat::Ndjson, model, mapping) {
        Ok(cleaned) => {
            let mut out: Vec<Result<Lead, Reject>> = Vec::with_capacity(leads.len());
            let mut by_row = cleaned.results.into_iter().peekable();
            for i in 0..leads.len() {
                let row = i + 1;
                while by_row.peek().is_some_and(|(r, _)| *r < row) {
                    by_row.next();
                }
                match by_row.peek() {
                    Some((r, _)) if *r == row => out.push(by_row.next().expect("peeked").1),
                    _ => out.push(Err(reject(row, "the lead could not be read"))),
                }
            }
            out
        }
        Err(e) => leads
            .iter()
            .enumerate()
            .map(|(i, _)| Err(reject(i + 1, &e.to_string())))
            .collect(),
    }
}

fn reject(row: usize, reason: &str) -> Reject {
    Reject {
        file: "leads",
        row,
        line: row as u64,
        column: None,
        value: None,
        reason: reason.to_string(),
    }
}

/// A stored event's property as the model reads it: a top-level key, or a
/// dotted path into nested objects.
fn prop_of(props: &Json, name: &str) -> Option<CompactString> {
    let v = props.get(name).or_else(|| {
        let mut cur = props;
        for part in name.split('.') {
            cur = cur.get(part)?;
        }
        Some(cur)
    })?;
    match v {
        Json::Null => None,
        Json::String(s) => Some(CompactString::new(s)),
        other => Some(CompactString::new(other.to_string())),
    }
}

/// The events of one lead in the scorer's columnar layout; kinds the model
/// does not listen to are left out.
pub fn event_columns(events: &[EventRow], model: &CompiledModel) -> EventColumns {
    let mut cols = EventColumns::new(model.event_properties.len());
    for e in events {
        let Some(kind) = model.event_kind_index(&e.kind) else {
            continue;
        };
        let props: Json = serde_json::from_str(&e.props).unwrap_or(Json::Null);
        cols.push(
            kind,
            Timestamp(e.at.div_euclid(1000)),
            model.event_properties.iter().map(|p| prop_of(&props, p)),
        );
    }
    cols
}

/// Reasons in the form a score stores them: one array per rule that fired,
/// `["f", rule, points]` for a fit rule and `["e", rule, points,
/// raw_points, events, capped]` for an engagement rule, with the rule's
/// description after them when it has one. [`shown_reasons`] turns them
/// back into one object per rule (`kind`, `rule`, `points`, and for
/// engagement `raw_points`, `events`, `capped`; `description` when set).
///
/// Why not the objects themselves: a re-score writes one of these per lead
/// into the ledger, and without the keys they take half the bytes (the
/// ledger is the largest write of a re-score). They still name every rule,
/// so an entry reads on its own, whatever became of its model. Written
/// straight into one buffer sized up front; serde_json escapes the names
/// and formats the numbers.
pub fn stored_reasons(model: &CompiledModel, score: &Score) -> String {
    fn put<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, v: &T) {
        serde_json::to_writer(&mut *buf, v).expect("plain values serialise");
    }
    let mut buf = Vec::with_capacity(2 + score.reasons.len() * 48);
    buf.push(b'[');
    for (i, r) in score.reasons.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let description = match r.kind {
            RuleKind::Fit => {
                buf.extend_from_slice(b"[\"f\",");
                model.fit[r.rule as usize].description.as_deref()
            }
            RuleKind::Engagement => {
                buf.extend_from_slice(b"[\"e\",");
                model.engagement[r.rule as usize].description.as_deref()
            }
        };
        put(&mut buf, model.rule_name(r));
        buf.push(b',');
        put(&mut buf, &round2(r.points));
        if r.kind == RuleKind::Engagement {
            buf.push(b',');
            put(&mut buf, &round2(r.raw_points));
            buf.push(b',');
            put(&mut buf, &r.events);
            buf.extend_from_slice(if r.capped { b",true" } else { b",false" });
        }
        if let Some(d) = description {
            buf.push(b',');
            put(&mut buf, d);
        }
        buf.push(b']');
    }
    buf.push(b']');
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// Stored reasons as they are shown: one object per rule. Takes the
/// form [`stored_reasons`] writes and the object form scores were stored in
/// before it (kept as it is), so every ledger entry reads the same way.
/// Text that is not JSON comes back as a string, and an element of neither
/// form as it is: nothing stored is hidden.
pub fn shown_reasons(stored: &str) -> Json {
    let Ok(parsed) = serde_json::from_str::<Json>(stored) else {
        return Json::String(stored.to_string());
    };
    let Json::Array(items) = parsed else {
        return parsed;
    };
    Json::Array(items.into_iter().map(shown_reason).collect())
}

/// Whether two stored reasons say the same: as text when both are in the
/// form [`stored_reasons`] writes, as shown when one was stored as objects
/// before it.
pub fn same_reasons(a: &str, b: &str) -> bool {
    let as_objects = |r: &str| r.starts_with("[{");
    if as_objects(a) || as_objects(b) {
        shown_reasons(a) == shown_reasons(b)
    } else {
        a == b
    }
}

fn shown_reason(item: Json) -> Json {
    let Json::Array(parts) = &item else {
        return item;
    };
    let number = |i: usize| parts.get(i).and_then(Json::as_f64);
    let (kind, extra) = match parts.first().and_then(Json::as_str) {
        Some("f") => ("fit", 0),
        Some("e") => ("engagement", 3),
        _ => return item,
    };
    let (Some(rule), Some(points)) = (parts.get(1).and_then(Json::as_str), number(2)) else {
        return item;
    };
    let mut o = json!({ "kind": kind, "rule": rule, "points": points });
    if extra > 0 {
        o["raw_points"] = json!(number(3));
        o["events"] = json!(parts.get(4).and_then(Json::as_u64));
        o["capped"] = json!(parts.get(5).and_then(Json::as_bool));
    }
    if let Some(d) = parts.get(3 + extra).and_then(Json::as_str) {
        o["description"] = json!(d);
    }
    o
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn to_lead_score(model: &ActiveModel, score: &Score, scored_at: i64) -> LeadScore {
    LeadScore {
        fit: round2(score.fit),
        grade: score.grade.as_str().to_string(),
        engagement: round2(score.engagement),
        score: round2(score.score),
        band: score.band as i64,
        priority: score.priority.as_str().to_string(),
        priority_rank: model.compiled.priority_rank(score.priority) as i64,
        mql: score.mql,
        model_version: model.version(),
        reasons: stored_reasons(&model.compiled, score),
        scored_at,
        inputs_digest: None,
    }
}

/// Scores a clean lead with its events as of `as_of_ms`.
pub fn score(model: &ActiveModel, lead: &Lead, events: &[EventRow], as_of_ms: i64) -> Score {
    let cols = event_columns(events, &model.compiled);
    model
        .compiled
        .score(lead, cols.view(), Timestamp(as_of_ms.div_euclid(1000)))
}

/// Parses recorded answers for a framework into the values it evaluates,
/// in criterion order.
pub fn framework_values(framework: &Framework, answers: &[AnswerRow]) -> Vec<Value> {
    framework
        .criteria
        .iter()
        .map(|c| {
            answers
                .iter()
                .find(|a| a.framework.eq_ignore_ascii_case(&framework.key) && a.criterion == c.key)
                .and_then(|a| Framework::parse_answer(c, &a.value).ok())
                .unwrap_or(Value::Null)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadq_core::scoring::Reason;

    /// Reasons as shown (by the API, the history, the UI and exports), built
    /// as a tree straight from the score: what [`shown_reasons`] of
    /// [`stored_reasons`] must give.
    fn reasons_json(model: &CompiledModel, score: &Score) -> Json {
        Json::Array(
            score
                .reasons
                .iter()
                .map(|r| {
                    let (kind, description) = match r.kind {
                        RuleKind::Fit => ("fit", model.fit[r.rule as usize].description.clone()),
                        RuleKind::Engagement => (
                            "engagement",
                            model.engagement[r.rule as usize].description.clone(),
                        ),
                    };
                    let mut o = json!({
                        "kind": kind,
                        "rule": model.rule_name(r),
                        "points": round2(r.points),
                    });
                    if r.kind == RuleKind::Engagement {
                        o["raw_points"] = json!(round2(r.raw_points));
                        o["events"] = json!(r.events);
                        o["capped"] = json!(r.capped);
                    }
                    if let Some(d) = description {
                        o["description"] = json!(d);
                    }
                    o
                })
                .collect(),
        )
    }

    /// The example model with a description, in characters JSON must
    /// escape, on one rule of each kind.
    fn described_model() -> CompiledModel {
        let mut model =
            CompiledModel::from_toml(include_str!("../../../examples/default-model.toml"))
                .expect("the example model compiles");
        model.fit[1].description = Some("says \"why\"\n\tin é and \u{1}".into());
        model.engagement[0].description = Some("a \\ b".into());
        model
    }

    /// A score with the given reasons.
    fn score_with(model: &CompiledModel, reasons: Vec<Reason>) -> Score {
        let cols = EventColumns::new(model.event_properties.len());
        let mut score = model.score(&Lead::default(), cols.view(), Timestamp(0));
        score.reasons = reasons;
        score
    }

    /// One reason for every rule of `model`, with varied numbers.
    fn every_rule(model: &CompiledModel) -> Vec<Reason> {
        (0..model.fit.len())
            .map(|i| (RuleKind::Fit, i))
            .chain((0..model.engagement.len()).map(|i| (RuleKind::Engagement, i)))
            .map(|(kind, i)| Reason {
                kind,
                rule: i as u16,
                points: i as f64 * 1.337 - 4.0,
                raw_points: i as f64 / 3.0,
                events: i as u32,
                capped: i % 2 == 0,
            })
            .collect()
    }

    #[test]
    fn stored_reasons_are_shown_as_the_reasons_document() {
        let model = described_model();
        let score = score_with(&model, every_rule(&model));
        assert!(!score.reasons.is_empty());
        assert_eq!(
            shown_reasons(&stored_reasons(&model, &score)),
            reasons_json(&model, &score)
        );
    }

    #[test]
    fn stored_reasons_take_at_most_half_the_bytes_of_the_objects_they_show() {
        let model = CompiledModel::from_toml(include_str!("../../../examples/default-model.toml"))
            .expect("the example model compiles");
        let score = score_with(&model, every_rule(&model));
        let stored = stored_reasons(&model, &score).len();
        let objects = reasons_json(&model, &score).to_string().len();
        assert!(2 * stored <= objects, "{stored} bytes stored for {objects}");
    }

    #[test]
    fn reasons_stored_as_objects_before_are_shown_as_they_were() {
        let model = described_model();
        let score = score_with(&model, every_rule(&model));
        let objects = reasons_json(&model, &score);
        assert_eq!(shown_reasons(&objects.to_string()), objects);
        assert_eq!(shown_reasons("[]"), json!([]));
        // What is neither form is shown, not dropped.
        assert_eq!(shown_reasons("not json"), json!("not json"));
        assert_eq!(shown_reasons(r#"[["x",1],"y"]"#), json!([["x", 1], "y"]));
    }

    #[test]
    fn reasons_stored_as_objects_before_are_the_same_as_their_stored_form_now() {
        let now = r#"[["f","Business email",8.0],["e","Visits",5.0,5.0,2,false]]"#;
        let before = r#"[{"kind":"fit","rule":"Business email","points":8.0},{"kind":"engagement","rule":"Visits","points":5.0,"raw_points":5.0,"events":2,"capped":false}]"#;
        assert!(same_reasons(before, now));
        assert!(same_reasons(now, now));
        let other = r#"[["f","Business email",8.0],["e","Visits",5.0,5.0,3,false]]"#;
        assert!(!same_reasons(before, other));
        assert!(!same_reasons(now, other));
    }

    proptest::proptest! {
        #[test]
        fn any_reasons_come_back_from_their_stored_form_as_the_document_they_show(
            picks in proptest::collection::vec(
                (proptest::bool::ANY, 0usize..64, -1e6f64..1e6, -1e6f64..1e6, 0u32..100_000, proptest::bool::ANY),
                0..12,
            ),
            name in "\\PC{0,24}",
            description in proptest::option::of("\\PC{0,40}"),
        ) {
            let mut model = described_model();
            model.fit[0].name = name.clone();
            model.engagement[1].description = description;
            let reasons = picks
                .into_iter()
                .map(|(fit, i, points, raw_points, events, capped)| {
                    let (kind, n) = if fit {
                        (RuleKind::Fit, model.fit.len())
                    } else {
                        (RuleKind::Engagement, model.engagement.len())
                    };
                    Reason { kind, rule: (i % n) as u16, points, raw_points, events, capped }
                })
                .collect();
            let score = score_with(&model, reasons);
            proptest::prop_assert_eq!(
                shown_reasons(&stored_reasons(&model, &score)),
                reasons_json(&model, &score)
            );
        }
    }

    #[test]
    fn a_plain_document_is_the_document_written_out() {
        let mut row: LeadRow = serde_json::from_value(serde_json::json!({
            "seq": 1, "id": "L1", "external_id": null, "email": null, "domain": null,
            "company": null, "source": null, "campaign": null, "country": null,
            "fields": r#"{"email":"a@b.example","n":1.5,"x":null,"t":"é q"}"#,
            "stage": "new", "stage_reason": null, "owner": null, "score": null,
            "created_at": 1_700_000_000_000_i64, "updated_at": 0, "assigned_at": null,
            "first_response_at": null, "stage_changed_at": 0, "mql_at": null,
            "sql_at": null, "closed_at": null, "version": 1
        }))
        .expect("a lead row");
        let written = |row: &LeadRow| {
            let mut buf = Vec::new();
            append_plain_document(&mut buf, row, &[]).then(|| String::from_utf8(buf).unwrap())
        };
        let built = |row: &LeadRow| serde_json::to_string(&document(row, &[], &[])).unwrap();
        for (fields, owner) in [
            (None, None),
            (None, Some("rep-1")),
            (Some("{}"), None),
            (Some(r#"{"a":[1,{"b":2}]}"#), Some("rep-2")),
        ] {
            if let Some(f) = fields {
                row.fields = f.into();
            }
            row.owner = owner.map(str::to_string);
            assert_eq!(written(&row), Some(built(&row)), "{}", row.fields);
        }
        for f in [
            r#"{"stage":"won"}"#,
            r#"{"created_at":"2020-01-01"}"#,
            r#"{"\u006cead_id":"x"}"#,
            r#"{"t":"a \"q\""}"#,
            r#"{"a":1"#,
            "[1]",
            r#"{"a":1}{"b":2}"#,
            "{\"a\":\n1}",
        ] {
            row.fields = f.into();
            assert_eq!(written(&row), None, "{f}");
        }
    }

    #[test]
    fn stored_fields_over_several_lines_or_not_json_clean_in_their_own_place() {
        let model = CompiledModel::from_toml(include_str!("../../../examples/default-model.toml"))
            .expect("the example model compiles");
        let row = |id: &str, fields: &str| -> LeadRow {
            serde_json::from_value(serde_json::json!({
                "seq": 1, "id": id, "external_id": null, "email": null, "domain": null,
                "company": null, "source": null, "campaign": null, "country": null,
                "fields": fields, "stage": "new", "stage_reason": null, "owner": null,
                "score": null, "created_at": 1_700_000_000_000_i64, "updated_at": 0,
                "assigned_at": null, "first_response_at": null, "stage_changed_at": 0,
                "mql_at": null, "sql_at": null, "closed_at": null, "version": 1
            }))
            .expect("a lead row")
        };
        let leads = vec![
            row("L1", r#"{"company":"Acme","job_title":"CTO"}"#),
            row("L2", r#"{"company":"Broken"}{"job_title":"CTO"}"#),
            row("L3", r#"{"company":"Beta"}"#),
            row("L4", r#"{"company":"Gamma", "#),
            row("L5", "{\"company\":\n\"Delta\"}"),
            row("L6", "{}"),
        ];
        // Fields that are not JSON count as empty; fields over two lines
        // are read whole, and no lead takes another's place.
        let cleaned = clean_leads(&leads, &[], &model, &Mapping::default());
        let read: Vec<(String, Option<String>)> = cleaned
            .into_iter()
            .map(|r| {
                let lead = r.expect("every lead cleans");
                (
                    lead.id.to_string(),
                    lead.company.name.as_ref().map(|c| c.to_string()),
                )
            })
            .collect();
        assert_eq!(
            read,
            [
                ("L1".to_string(), Some("Acme".to_string())),
                ("L2".to_string(), None),
                ("L3".to_string(), Some("Beta".to_string())),
                ("L4".to_string(), None),
                ("L5".to_string(), Some("Delta".to_string())),
                ("L6".to_string(), None),
            ]
        );
    }
}
