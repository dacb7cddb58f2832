//! Column mapping: which input column feeds which lead field. A mapping
//! file (TOML) names columns explicitly; a preset knows the headers of a
//! CRM's export; everything else is matched by header name and synonyms.

use crate::IngestError;
use leadq_core::CompiledModel;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Built-in lead fields an input column can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputField {
    LeadId,
    Email,
    FirstName,
    LastName,
    FullName,
    Phone,
    Title,
    Company,
    Domain,
    Industry,
    Employees,
    Revenue,
    Country,
    Region,
    City,
    Source,
    Campaign,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    OptIn,
    DoNotContact,
    LawfulBasis,
    Owner,
    Stage,
    CreatedAt,
    UpdatedAt,
}

/// `(field, canonical name, synonyms as folded header keys)`.
const FIELDS: &[(InputField, &str, &[&str])] = &[
    (
        InputField::LeadId,
        "lead_id",
        &[
            "id",
            "leadid",
            "recordid",
            "prospectid",
            "contactid",
            "externalid",
        ],
    ),
    (
        InputField::Email,
        "email",
        &[
            "emailaddress",
            "workemail",
            "businessemail",
            "mail",
            "emailid",
        ],
    ),
    (
        InputField::FirstName,
        "first_name",
        &["firstname", "first", "givenname", "fname", "forename"],
    ),
    (
        InputField::LastName,
        "last_name",
        &["lastname", "last", "surname", "familyname", "lname"],
    ),
    (
        InputField::FullName,
        "full_name",
        &["name", "fullname", "contactname", "leadname"],
    ),
    (
        InputField::Phone,
        "phone",
        &[
            "phonenumber",
            "mobile",
            "mobilephone",
            "mobilephonenumber",
            "telephone",
            "tel",
            "workphone",
            "directphone",
        ],
    ),
    (
        InputField::Title,
        "title",
        &["jobtitle", "position", "role", "designation"],
    ),
    (
        InputField::Company,
        "company",
        &[
            "companyname",
            "organization",
            "organisation",
            "account",
            "accountname",
            "employer",
        ],
    ),
    (
        InputField::Domain,
        "domain",
        &[
            "website",
            "websiteurl",
            "companydomain",
            "companywebsite",
            "url",
            "web",
        ],
    ),
    (InputField::Industry, "industry", &["sector", "vertical"]),
    (
        InputField::Employees,
        "employees",
        &[
            "numberofemployees",
            "noofemployees",
            "employeecount",
            "companysize",
            "headcount",
            "employeesize",
        ],
    ),
    (
        InputField::Revenue,
        "revenue",
        &["annualrevenue", "companyrevenue"],
    ),
    (
        InputField::Country,
        "country",
        &["countryregion", "nation", "countrycode"],
    ),
    (InputField::Region, "region", &["salesregion", "georegion"]),
    (InputField::City, "city", &["town"]),
    (
        InputField::Source,
        "source",
        &["leadsource", "originalsource", "channel", "sourcechannel"],
    ),
    (
        InputField::Campaign,
        "campaign",
        &["campaignname", "sourcecampaign"],
    ),
    (InputField::UtmSource, "utm_source", &[]),
    (InputField::UtmMedium, "utm_medium", &[]),
    (InputField::UtmCampaign, "utm_campaign", &[]),
    (
        InputField::OptIn,
        "opt_in",
        &["marketingoptin", "emailoptin", "consent", "subscribed"],
    ),
    (
        InputField::DoNotContact,
        "do_not_contact",
        &["dnc", "donotcall", "emailoptout"],
    ),
    (
        InputField::LawfulBasis,
        "lawful_basis",
        &["legalbasis", "legalbasisforprocessingcontactsdata"],
    ),
    (
        InputField::Owner,
        "owner",
        &["leadowner", "contactowner", "assignedto", "salesrep"],
    ),
    (
        InputField::Stage,
        "stage",
        &["lifecyclestage", "leadstatus", "status"],
    ),
    (
        InputField::CreatedAt,
        "created_at",
        &[
            "createdate",
            "createddate",
            "datecreated",
            "created",
            "createdon",
        ],
    ),
    (
        InputField::UpdatedAt,
        "updated_at",
        &[
            "lastmodifieddate",
            "lastmodified",
            "modified",
            "updated",
            "modifiedon",
        ],
    ),
];

/// The header key of each of [`FIELDS`]' canonical names, in its order.
static FIELD_KEYS: LazyLock<Vec<String>> =
    LazyLock::new(|| FIELDS.iter().map(|(_, n, _)| header_key(n)).collect());

impl InputField {
    pub fn name(self) -> &'static str {
        FIELDS
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or("?", |(_, n, _)| n)
    }

    pub fn by_name(name: &str) -> Option<InputField> {
        FIELDS
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(f, _, _)| *f)
    }

    pub fn all_names() -> impl Iterator<Item = &'static str> {
        FIELDS.iter().map(|(_, n, _)| *n)
    }
}

/// What one input column feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Field(InputField),
    /// Index into the model's custom fields.
    Custom(usize),
    /// Index into the lead's answers (model answer slot).
    Answer(usize),
    /// Kept for output only.
    PassThrough,
}

const PRESETS: &[(&str, &[(&str, &str)])] = &[
    (
        "hubspot",
        &[
            ("Record ID", "lead_id"),
            ("Email", "email"),
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Phone Number", "phone"),
            ("Mobile Phone Number", "phone"),
            ("Job Title", "title"),
            ("Company Name", "company"),
            ("Website URL", "domain"),
            ("Company Domain Name", "domain"),
            ("Industry", "industry"),
            ("Number of Employees", "employees"),
            ("Annual Revenue", "revenue"),
            ("Country/Region", "country"),
            ("City", "city"),
            ("Original Source", "source"),
            ("Original Source Drill-Down 1", "campaign"),
            ("Lifecycle Stage", "stage"),
            ("Contact owner", "owner"),
            ("Create Date", "created_at"),
            ("Last Modified Date", "updated_at"),
            ("Legal basis for processing contact's data", "lawful_basis"),
            ("Unsubscribed from all email", "do_not_contact"),
        ],
    ),
    (
        "salesforce",
        &[
            ("Lead ID", "lead_id"),
            ("Email", "email"),
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Phone", "phone"),
            ("Mobile", "phone"),
            ("Title", "title"),
            ("Company", "company"),
            ("Website", "domain"),
            ("Industry", "industry"),
            ("No. of Employees", "employees"),
            ("Annual Revenue", "revenue"),
            ("Country", "country"),
            ("City", "city"),
            ("Lead Source", "source"),
            ("Lead Status", "stage"),
            ("Lead Owner", "owner"),
            ("Created Date", "created_at"),
            ("Last Modified Date", "updated_at"),
            ("Email Opt Out", "do_not_contact"),
        ],
    ),
    ("generic", &[]),
];

/// The names of the shipped presets.
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}

/// A mapping file as written (TOML).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    preset: Option<String>,
    default_region: Option<String>,
    missing: Option<Vec<String>>,
    fold: Option<bool>,
    #[serde(default)]
    source_priority: Vec<String>,
    fuzzy_threshold: Option<f64>,
    fuzzy: Option<bool>,
    #[serde(default)]
    columns: BTreeMap<String, String>,
}

/// How to read a file's columns and clean its values.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub preset: &'static str,
    pub columns: Vec<(String, String)>,
    /// Region used for phone numbers written without a country code.
    pub default_region: crate::normalize::Region,
    /// Values meaning "no value", folded (e.g. `select`, `n/a`).
    pub missing: Vec<String>,
    /// Fold case and whitespace of categorical values.
    pub fold: bool,
    /// Sources in order of trust, for merging duplicates.
    pub source_priority: Vec<String>,
    /// Name similarity (Jaro-Winkler) above which two leads of one company
    /// are taken for the same person.
    pub fuzzy_threshold: f64,
    /// Whether to look for fuzzy duplicates at all.
    pub fuzzy: bool,
    /// Byte length of the longest entry of `missing`.
    pub(crate) longest_missing: usize,
}

pub const DEFAULT_MISSING: &[&str] = &[
    "", "n/a", "na", "#n/a", "null", "nil", "-", "--", "select", "(blank)",
];

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            preset: "generic",
            columns: Vec::new(),
            default_region: crate::normalize::Region::US,
            missing: DEFAULT_MISSING.iter().map(|s| s.to_string()).collect(),
            fold: true,
            source_priority: Vec::new(),
            fuzzy_threshold: 0.93,
            fuzzy: true,
            longest_missing: DEFAULT_MISSING.iter().map(|m| m.len()).max().unwrap_or(0),
        }
    }
}

/// A header folded to letters and digits: `"Number of Employees"` →
/// `numberofemployees`.
pub fn header_key(h: &str) -> String {
    h.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect()
}

/// A header as a snake_case field name: `"Total Time Spent on Website"` →
/// `total_time_spent_on_website`.
pub fn snake_case(h: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in h.trim().chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        } else {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_end_matches('_').to_string()
}

impl Mapping {
    pub fn preset(name: &str) -> Result<Mapping, IngestError> {
        let (n, _) = PRESETS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                IngestError::Mapping(format!(
                    "unknown preset '{name}' (known: {})",
                    preset_names().join(", ")
                ))
            })?;
        Ok(Mapping {
            preset: n,
            ..Mapping::default()
        })
    }

    /// Parses a mapping file.
    pub fn from_toml(text: &str) -> Result<Mapping, IngestError> {
        let f: MappingFile =
            toml::from_str(text).map_err(|e| IngestError::Mapping(e.to_string()))?;
        let mut m = match &f.preset {
            Some(p) => Mapping::preset(p)?,
            None => Mapping::default(),
        };
        if let Some(r) = &f.default_region {
            m.default_region = crate::normalize::phone_region(r).ok_or_else(|| {
                IngestError::Mapping(format!(
                    "default_region '{r}' is not a two-letter region code"
                ))
            })?;
        }
        if let Some(ms) = f.missing {
            m.missing = ms.iter().map(|s| crate::normalize::fold(s)).collect();
            m.longest_missing = m.missing.iter().map(|s| s.len()).max().unwrap_or(0);
        }
        if let Some(fold) = f.fold {
            m.fold = fold;
        }
        if let Some(t) = f.fuzzy_threshold {
            if !(0.5..=1.0).contains(&t) {
                return Err(IngestError::Mapping(format!(
                    "fuzzy_threshold must be between 0.5 and 1, got {t}"
                )));
            }
            m.fuzzy_threshold = t;
        }
        if let Some(fz) = f.fuzzy {
            m.fuzzy = fz;
        }
        m.source_priority = f
            .source_priority
            .iter()
            .map(|s| crate::normalize::fold(s))
            .collect();
        for (col, target) in f.columns {
            let t = target.trim();
            let known = t == "ignore" || InputField::by_name(t).is_some() || t.contains('.');
            if !known {
                return Err(IngestError::Mapping(format!("column '{col}': unknown target '{t}' (use a field such as email or employees, custom.<name>, <framework>.<criterion>, or ignore)")));
            }
            m.columns.push((col, t.to_string()));
        }
        Ok(m)
    }

    pub fn is_missing(&self, raw: &str) -> bool {
        let t = raw.trim();
        if t.is_empty() {
            return true;
        }
        // Most values are longer than any placeholder: no comparison needed.
        if t.len() > self.longest_missing + 8 {
            return false;
        }
        if self.missing.iter().any(|m| m.eq_ignore_ascii_case(t)) {
            return true;
        }
        // "Not  Provided" with odd spacing or case beyond ASCII: fold once.
        if t.contains("  ") || !t.is_ascii() {
            let folded = crate::normalize::fold(t);
            return self.missing.contains(&folded);
        }
        false
    }

    /// Decides the target of every input column for `model`.
    pub fn plan(
        &self,
        headers: &[String],
        model: &CompiledModel,
    ) -> Result<ColumnPlan, IngestError> {
        let preset = PRESETS
            .iter()
            .find(|(n, _)| *n == self.preset)
            .map_or(&[][..], |(_, p)| *p);
        let mut warnings = Vec::new();
        for (col, _) in &self.columns {
            if !headers
                .iter()
                .any(|h| h == col || h.eq_ignore_ascii_case(col))
            {
                warnings.push(format!(
                    "the mapping names column '{col}', which is not in the file"
                ));
            }
        }
        let answer_keys: Vec<String> = model
            .answer_slots()
            .into_iter()
            .map(|(fi, ci)| {
                let f = &model.frameworks[fi];
                format!("{}.{}", f.column_prefix(), f.criteria[ci].key)
            })
            .collect();
        let resolve_target = |t: &str| -> Option<Target> {
            if t == "ignore" {
                return Some(Target::PassThrough);
            }
            if let Some(f) = InputField::by_name(t) {
                return Some(Target::Field(f));
            }
            if let Some(name) = t.strip_prefix("custom.") {
                return Some(
                    model
                        .custom_fields
                        .iter()
                        .position(|(n, _)| n == name)
                        .map_or(Target::PassThrough, Target::Custom),
                );
            }
            answer_keys
                .iter()
                .position(|k| k.eq_ignore_ascii_case(t))
                .map(Target::Answer)
        };
        // Every lead posted to the API is planned on its own, so the keys
        // compared with each header are folded once, not per header.
        let custom_keys: Vec<String> = model
            .custom_fields
            .iter()
            .map(|(n, _)| header_key(n))
            .collect();
        let mut targets = Vec::with_capacity(headers.len());
        for h in headers {
            let explicit = self
                .columns
                .iter()
                .find(|(c, _)| c == h)
                .or_else(|| self.columns.iter().find(|(c, _)| c.eq_ignore_ascii_case(h)));
            let target = if let Some((_, t)) = explicit {
                match resolve_target(t) {
                    Some(Target::PassThrough) if t.starts_with("custom.") => {
                        warnings.push(format!("column '{h}' maps to {t}, which the model does not declare in [fields]; it only passes through"));
                        Target::PassThrough
                    }
                    Some(t) => t,
                    None => return Err(IngestError::Mapping(format!("column '{h}': '{t}' is not a field, custom.<name> or an answer of this model's frameworks"))),
                }
            } else if let Some((_, t)) = preset.iter().find(|(c, _)| c.eq_ignore_ascii_case(h)) {
                resolve_target(t).unwrap_or(Target::PassThrough)
            } else if let Some(t) = answer_keys
                .iter()
                .position(|k| k.eq_ignore_ascii_case(h.trim()))
            {
                Target::Answer(t)
            } else {
                let key = header_key(h);
                let custom = (!model.custom_fields.is_empty())
                    .then(|| {
                        let snake = snake_case(h);
                        model
                            .custom_fields
                            .iter()
                            .zip(&custom_keys)
                            .position(|((n, _), k)| *n == snake || *k == key)
                    })
                    .flatten();
                if let Some(i) = custom {
                    Target::Custom(i)
                } else if let Some(((f, _, _), _)) = FIELDS
                    .iter()
                    .zip(FIELD_KEYS.iter())
                    .find(|((_, _, syn), k)| **k == key || syn.contains(&key.as_str()))
                {
                    Target::Field(*f)
                } else {
                    Target::PassThrough
                }
            };
            targets.push(target);
        }
        for (i, (name, _)) in model.custom_fields.iter().enumerate() {
            if !targets.contains(&Target::Custom(i)) {
                warnings.push(format!("custom field '{name}' of the model matches no column; it is missing for every lead (map it with \"<column>\" = \"custom.{name}\")"));
            }
        }
        let has_identity = targets.iter().any(|t| {
            matches!(
                t,
                Target::Field(InputField::LeadId | InputField::Email | InputField::Phone)
            )
        });
        if !has_identity {
            return Err(IngestError::Mapping(format!(
                "no column gives a lead id, an email or a phone (columns: {}); map one with --mapping",
                headers.join(", ")
            )));
        }
        Ok(ColumnPlan { targets, warnings })
    }
}

/// The decided target of every input column, plus anything worth telling
/// the user about the mapping.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    pub targets: Vec<Target>,
    pub warnings: Vec<String>,
}

impl ColumnPlan {
    /// A readable line per mapped column, for `--verbose` and the docs.
    pub fn describe(&self, headers: &[String], model: &CompiledModel) -> Vec<String> {
        let slots = model.answer_slots();
        headers
            .iter()
            .zip(&self.targets)
            .filter_map(|(h, t)| {
                let to = match t {
                    Target::Field(f) => f.name().to_string(),
                    Target::Custom(i) => format!("custom.{}", model.custom_fields[*i].0),
                    Target::Answer(i) => {
                        let (fi, ci) = slots[*i];
                        format!(
                            "{}.{}",
                            model.frameworks[fi].column_prefix(),
                            model.frameworks[fi].criteria[ci].key
                        )
                    }
                    Target::PassThrough => return None,
                };
                Some(format!("{h} -> {to}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> CompiledModel {
        CompiledModel::from_toml(
            r#"
name = "t"
frameworks = ["BANT"]
[fields]
total_visits = "number"
[grades]
A = 3
B = 2
C = 1
[bands]
1 = 3
2 = 2
3 = 1
[mql]
when = "fit > 0"
"#,
        )
        .unwrap()
    }

    #[test]
    fn headers_match_fields_by_name_and_synonym() {
        let headers: Vec<String> = [
            "Email Address",
            "First Name",
            "Company Name",
            "No. of Employees",
            "TotalVisits",
            "BANT.Budget",
            "Notes",
        ]
        .map(String::from)
        .into();
        let plan = Mapping::default().plan(&headers, &model()).unwrap();
        assert_eq!(plan.targets[0], Target::Field(InputField::Email));
        assert_eq!(plan.targets[1], Target::Field(InputField::FirstName));
        assert_eq!(plan.targets[2], Target::Field(InputField::Company));
        assert_eq!(plan.targets[3], Target::Field(InputField::Employees));
        assert_eq!(plan.targets[4], Target::Custom(0));
        assert_eq!(plan.targets[5], Target::Answer(0));
        assert_eq!(plan.targets[6], Target::PassThrough);
    }

    #[test]
    fn a_mapping_file_overrides_header_matching() {
        let m = Mapping::from_toml("default_region = \"GB\"\nmissing = [\"Select\", \"\"]\n[columns]\n\"Prospect ID\" = \"lead_id\"\n\"Visits\" = \"custom.total_visits\"\n\"Email\" = \"ignore\"\n").unwrap();
        let headers: Vec<String> = ["Prospect ID", "Visits", "Email"].map(String::from).into();
        let plan = m.plan(&headers, &model()).unwrap();
        assert_eq!(
            plan.targets,
            vec![
                Target::Field(InputField::LeadId),
                Target::Custom(0),
                Target::PassThrough
            ]
        );
        assert!(m.is_missing(" select "));
        assert!(
            !m.is_missing("n/a"),
            "the file's own list replaces the defaults"
        );
    }

    #[test]
    fn mapping_a_column_to_an_undeclared_custom_field_is_warned_about() {
        let m =
            Mapping::from_toml("[columns]\n\"Id\" = \"lead_id\"\n\"Visits\" = \"custom.visits\"\n")
                .unwrap();
        let headers: Vec<String> = ["Id", "Visits"].map(String::from).into();
        let plan = m.plan(&headers, &model()).unwrap();
        assert_eq!(plan.targets[1], Target::PassThrough);
        assert!(
            plan.warnings
                .iter()
                .any(|w| w.contains("custom.visits") && w.contains("does not declare")),
            "{:?}",
            plan.warnings
        );
    }

    #[test]
    fn a_file_without_any_identity_column_is_refused() {
        let headers: Vec<String> = ["foo", "bar"].map(String::from).into();
        let err = Mapping::default()
            .plan(&headers, &model())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no column gives a lead id"), "{err}");
    }

    #[test]
    fn presets_know_crm_headers_and_unknown_presets_are_named() {
        let m = Mapping::preset("salesforce").unwrap();
        let headers: Vec<String> = ["Lead ID", "No. of Employees", "Lead Source"]
            .map(String::from)
            .into();
        let plan = m.plan(&headers, &model()).unwrap();
        assert_eq!(plan.targets[2], Target::Field(InputField::Source));
        let err = Mapping::preset("pipedrive").unwrap_err().to_string();
        assert!(err.contains("hubspot"), "{err}");
    }

    #[test]
    fn a_mapping_with_an_unknown_target_is_refused() {
        let err = Mapping::from_toml("[columns]\n\"A\" = \"emial\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown target 'emial'"), "{err}");
    }

    #[test]
    fn headers_become_snake_case_names() {
        assert_eq!(
            snake_case("Total Time Spent on Website"),
            "total_time_spent_on_website"
        );
        assert_eq!(snake_case("TotalVisits"), "total_visits");
        assert_eq!(snake_case("Do Not Email"), "do_not_email");
        assert_eq!(
            snake_case("A free copy of Mastering The Interview"),
            "a_free_copy_of_mastering_the_interview"
        );
    }
}
