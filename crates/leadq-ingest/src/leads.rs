//! Turning one raw record into a typed, cleaned [`Lead`], or a reject that
//! names the row, the column and the reason.

use crate::mapping::{ColumnPlan, InputField, Mapping, Target};
use crate::normalize::{self, fold};
use crate::reader::RawRow;
use crate::refdata::RefData;
use crate::time::parse_timestamp;
use compact_str::CompactString;
use leadq_core::framework::Framework;
use leadq_core::{CompiledModel, CountryCode, Domain, Email, FieldType, Lead, Value};
use serde::Serialize;
use std::fmt;

/// A record that was not accepted, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reject {
    /// `leads` or `events`.
    pub file: &'static str,
    /// 1-based data record number.
    pub row: usize,
    /// 1-based line of the file where the record starts.
    pub line: u64,
    /// The input column at fault, when one is.
    pub column: Option<String>,
    pub value: Option<String>,
    pub reason: String,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} row {} (line {})", self.file, self.row, self.line)?;
        if let Some(c) = &self.column {
            write!(f, ", column '{c}'")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Seniority and department derived from a job title.
type TitleFacets = (Option<&'static str>, Option<&'static str>);

thread_local! {
    // Job titles repeat a lot across a file; deriving seniority and
    // department once per distinct title saves most of the work.
    static TITLE_FACETS: std::cell::RefCell<rustc_hash::FxHashMap<String, TitleFacets>> = Default::default();
}

fn title_facets(title: &str) -> TitleFacets {
    TITLE_FACETS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(hit) = cache.get(title) {
            return *hit;
        }
        if cache.len() > 100_000 {
            cache.clear();
        }
        let facets = (normalize::seniority(title), normalize::department(title));
        cache.insert(title.to_string(), facets);
        facets
    })
}

fn clean_text(raw: &str) -> CompactString {
    if !raw.contains("  ") && !raw.contains(['\t', '\n', '\r']) {
        return CompactString::new(raw.trim());
    }
    raw.split_whitespace().collect::<Vec<_>>().join(" ").into()
}

/// Cleans `raw` into a lead for `model` following `plan`.
pub fn build_lead(
    raw: &RawRow,
    headers: &[String],
    plan: &ColumnPlan,
    mapping: &Mapping,
    model: &CompiledModel,
) -> Result<Lead, Reject> {
    let refdata = RefData::get();
    let mut lead = Lead {
        custom: vec![Value::Null; model.custom_fields.len()],
        answers: vec![Value::Null; model.answer_count()],
        ..Lead::default()
    };
    let slots = model.answer_slots();
    let mut full_name: Option<CompactString> = None;
    let mut lead_id: Option<CompactString> = None;
    let reject = |col: usize, value: &str, reason: String| Reject {
        file: "leads",
        row: raw.row,
        line: raw.line,
        column: Some(headers[col].clone()),
        value: Some(value.to_string()),
        reason,
    };
    let categorical = |v: &str| {
        if mapping.fold && !normalize::is_folded(v) {
            fold(v)
        } else {
            v.trim().to_string()
        }
    };
    for (col, target) in plan.targets.iter().enumerate() {
        if *target == Target::PassThrough {
            continue;
        }
        let Some(v) = raw.fields.get(col) else {
            continue;
        };
        if mapping.is_missing(v) {
            continue;
        }
        let v = v.trim();
        match target {
            Target::PassThrough => {}
            Target::Custom(i) => {
                if !lead.custom[*i].is_null() {
                    continue;
                }
                let (name, ty) = &model.custom_fields[*i];
                lead.custom[*i] = match ty {
                    FieldType::String => Value::Str(categorical(v).into()),
                    FieldType::Number => {
                        Value::Num(normalize::parse_number(v).ok_or_else(|| {
                            reject(col, v, format!("custom.{name}: '{v}' is not a number"))
                        })?)
                    }
                    FieldType::Bool => Value::Bool(normalize::parse_bool(v).ok_or_else(|| {
                        reject(
                            col,
                            v,
                            format!("custom.{name}: '{v}' is not yes/no or true/false"),
                        )
                    })?),
                };
            }
            Target::Answer(i) => {
                let (fi, ci) = slots[*i];
                let f = &model.frameworks[fi];
                let c = &f.criteria[ci];
                let off = model.answer_offsets[fi] + ci;
                lead.answers[off] = Framework::parse_answer(c, v)
                    .map_err(|e| reject(col, v, format!("{}.{}: {e}", f.column_prefix(), c.key)))?;
            }
            Target::Field(field) => {
                use InputField as F;
                macro_rules! set_once {
                    ($slot:expr, $val:expr) => {
                        if $slot.is_none() {
                            $slot = Some($val.into());
                        }
                    };
                }
                match field {
                    F::LeadId => set_once!(lead_id, v.to_string()),
                    F::Email => {
                        if lead.contact.email.is_none() {
                            lead.contact.email =
                                Some(Email::parse(v).map_err(|e| reject(col, v, e.to_string()))?);
                        }
                    }
                    F::FirstName => set_once!(lead.contact.first_name, clean_text(v)),
                    F::LastName => set_once!(lead.contact.last_name, clean_text(v)),
                    F::FullName => set_once!(full_name, clean_text(v)),
                    F::Phone => {
                        if lead.contact.phone.is_none() {
                            lead.contact.phone = Some(
                                normalize::parse_phone(v, mapping.default_region)
                                    .map_err(|e| reject(col, v, e))?,
                            );
                        }
                    }
                    F::Title => set_once!(lead.contact.title, clean_text(v)),
                    F::Company => set_once!(lead.company.name, clean_text(v)),
                    F::Domain => {
                        if lead.company.domain.is_none() {
                            lead.company.domain =
                                Some(Domain::parse(v).map_err(|e| reject(col, v, e.to_string()))?);
                        }
                    }
                    F::Industry => set_once!(lead.company.industry, categorical(v)),
                    F::Employees | F::Revenue => {
                        let n = normalize::parse_number(v)
                            .filter(|n| *n >= 0.0)
                            .ok_or_else(|| {
                                reject(
                                    col,
                                    v,
                                    format!("{}: '{v}' is not a non-negative number", field.name()),
                                )
                            })?;
                        if *field == F::Employees {
                            set_once!(lead.company.employees, n);
                        } else {
                            set_once!(lead.company.revenue, n);
                        }
                    }
                    F::Country => {
                        // An unknown country name is left empty rather than
                        // rejected: exports carry values like "Asia/Pacific".
                        if lead.company.country.is_none() {
                            lead.company.country = refdata.country(v).or_else(|| {
                                CountryCode::parse(v)
                                    .ok()
                                    .filter(|c| refdata.region(*c).is_some())
                            });
                        }
                    }
                    F::Region => set_once!(lead.company.region, v.trim().to_ascii_uppercase()),
                    F::City => set_once!(lead.company.city, categorical(v)),
                    F::Source => set_once!(lead.source.channel, categorical(v)),
                    F::Campaign => set_once!(lead.source.campaign, categorical(v)),
                    F::UtmSource => set_once!(lead.source.utm_source, categorical(v)),
                    F::UtmMedium => set_once!(lead.source.utm_medium, categorical(v)),
                    F::UtmCampaign => set_once!(lead.source.utm_campaign, categorical(v)),
                    F::OptIn | F::DoNotContact => {
                        let b = normalize::parse_bool(v).ok_or_else(|| {
                            reject(
                                col,
                                v,
                                format!("{}: '{v}' is not yes/no or true/false", field.name()),
                            )
                        })?;
                        if *field == F::OptIn {
                            set_once!(lead.consent.opt_in, b);
                        } else {
                            lead.consent.do_not_contact |= b;
                        }
                    }
                    F::LawfulBasis => set_once!(lead.consent.lawful_basis, categorical(v)),
                    F::Owner => set_once!(lead.owner, clean_text(v)),
                    F::Stage => set_once!(lead.stage, categorical(v)),
                    F::CreatedAt | F::UpdatedAt => {
                        let t = parse_timestamp(v).ok_or_else(|| reject(col, v, format!("{}: '{v}' is not a date or timestamp (use ISO 8601, e.g. 2026-03-01T12:00:00Z)", field.name())))?;
                        if *field == F::CreatedAt {
                            set_once!(lead.created_at, t);
                        } else {
                            set_once!(lead.updated_at, t);
                        }
                    }
                }
            }
        }
    }
    if let Some(name) = full_name {
        if lead.contact.first_name.is_none() && lead.contact.last_name.is_none() {
            match name.rsplit_once(' ') {
                Some((first, last)) => {
                    lead.contact.first_name = Some(first.into());
                    lead.contact.last_name = Some(last.into());
                }
                None => lead.contact.first_name = Some(name),
            }
        }
    }
    if let Some(email) = &lead.contact.email {
        let kind = normalize::email_kind(email);
        lead.contact.email_kind = Some(kind);
        if kind == leadq_core::lead::EmailKind::Business && lead.company.domain.is_none() {
            lead.company.domain = Domain::parse(email.domain()).ok();
        }
    }
    if lead.company.region.is_none() {
        lead.company.region = lead
            .company
            .country
            .and_then(|c| refdata.region(c))
            .map(CompactString::const_new);
    }
    if let Some(t) = &lead.contact.title {
        let (s, d) = title_facets(t);
        lead.contact.seniority = s.map(CompactString::const_new);
        lead.contact.department = d.map(CompactString::const_new);
    }
    lead.id = match lead_id
        .or_else(|| {
            lead.contact
                .email
                .as_ref()
                .map(|e| CompactString::new(e.as_str()))
        })
        .or_else(|| {
            lead.contact
                .phone
                .as_ref()
                .map(|p| CompactString::new(p.as_str()))
        }) {
        Some(id) => id,
        None => {
            return Err(Reject {
                file: "leads",
                row: raw.row,
                line: raw.line,
                column: None,
                value: None,
                reason: "a lead needs a lead id, an email or a phone; this row has none".into(),
            })
        }
    };
    Ok(lead)
}
