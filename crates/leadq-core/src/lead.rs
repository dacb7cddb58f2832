//! The lead: a person and their company, as the scoring engine sees it.

use crate::contact::{CountryCode, Domain, Email, PhoneNumber};
use crate::time::Timestamp;
use crate::value::{FieldType, Value, ValueRef};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// How an email address relates to a company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// An address on a company's own domain.
    Business,
    /// A free webmail provider (gmail.com, outlook.com, ...).
    Free,
    /// A throw-away inbox (mailinator.com, ...).
    Disposable,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub email: Option<Email>,
    pub email_kind: Option<EmailKind>,
    pub first_name: Option<CompactString>,
    pub last_name: Option<CompactString>,
    pub phone: Option<PhoneNumber>,
    pub title: Option<CompactString>,
    /// Derived from the title: `c_level`, `vp`, `director`, `manager`,
    /// `senior`, `individual`, `intern`.
    pub seniority: Option<CompactString>,
    /// Derived from the title: `engineering`, `sales`, `marketing`, ...
    pub department: Option<CompactString>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Company {
    pub name: Option<CompactString>,
    pub domain: Option<Domain>,
    pub industry: Option<CompactString>,
    pub employees: Option<f64>,
    pub revenue: Option<f64>,
    pub country: Option<CountryCode>,
    /// `NA`, `LATAM`, `EMEA` or `APAC`, derived from the country when absent.
    pub region: Option<CompactString>,
    pub city: Option<CompactString>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub channel: Option<CompactString>,
    pub campaign: Option<CompactString>,
    pub utm_source: Option<CompactString>,
    pub utm_medium: Option<CompactString>,
    pub utm_campaign: Option<CompactString>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    pub opt_in: Option<bool>,
    pub lawful_basis: Option<CompactString>,
    pub do_not_contact: bool,
}

/// One lead. `custom` holds the typed custom fields a scoring model declares,
/// in the order of [`crate::model::CompiledModel::custom_fields`]; `answers`
/// holds qualification-framework answers in the order of
/// [`crate::model::CompiledModel::answer_slots`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub id: CompactString,
    pub contact: Contact,
    pub company: Company,
    pub source: Source,
    pub consent: Consent,
    pub owner: Option<CompactString>,
    pub stage: Option<CompactString>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub custom: Vec<Value>,
    pub answers: Vec<Value>,
}

macro_rules! lead_fields {
    (|$l:ident, $now:ident| $( $variant:ident => $name:literal, $ty:ident, $get:expr; )*) => {
        /// The built-in lead fields a rule can name, with their types.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum LeadField { $($variant),* }

        impl LeadField {
            pub const ALL: &'static [LeadField] = &[$(LeadField::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(LeadField::$variant => $name),* }
            }

            pub fn field_type(self) -> FieldType {
                match self { $(LeadField::$variant => FieldType::$ty),* }
            }

            /// Reads the field of `lead` as of `now` (only `age_days` uses it).
            #[inline]
            pub fn get<'a>(self, $l: &'a Lead, $now: Timestamp) -> ValueRef<'a> {
                let _ = $now;
                match self { $(LeadField::$variant => $get),* }
            }
        }
    };
}

lead_fields! {
    |l, now|
    Id => "lead_id", String, ValueRef::Str(&l.id);
    Email => "email", String, ValueRef::from_opt_str(l.contact.email.as_ref().map(|e| e.as_str()));
    EmailDomain => "email_domain", String, ValueRef::from_opt_str(l.contact.email.as_ref().map(|e| e.domain()));
    EmailFree => "email_free", Bool, ValueRef::from_opt_bool(l.contact.email_kind.map(|k| k == EmailKind::Free));
    EmailDisposable => "email_disposable", Bool, ValueRef::from_opt_bool(l.contact.email_kind.map(|k| k == EmailKind::Disposable));
    BusinessEmail => "business_email", Bool, ValueRef::Bool(l.contact.email_kind == Some(EmailKind::Business));
    FirstName => "first_name", String, ValueRef::from_opt_str(l.contact.first_name.as_deref());
    LastName => "last_name", String, ValueRef::from_opt_str(l.contact.last_name.as_deref());
    Phone => "phone", String, ValueRef::from_opt_str(l.contact.phone.as_ref().map(|p| p.as_str()));
    Title => "title", String, ValueRef::from_opt_str(l.contact.title.as_deref());
    Seniority => "seniority", String, ValueRef::from_opt_str(l.contact.seniority.as_deref());
    Department => "department", String, ValueRef::from_opt_str(l.contact.department.as_deref());
    Company => "company", String, ValueRef::from_opt_str(l.company.name.as_deref());
    Domain => "domain", String, ValueRef::from_opt_str(l.company.domain.as_ref().map(|d| d.as_str()));
    Industry => "industry", String, ValueRef::from_opt_str(l.company.industry.as_deref());
    Employees => "employees", Number, ValueRef::from_opt_num(l.company.employees);
    Revenue => "revenue", Number, ValueRef::from_opt_num(l.company.revenue);
    Country => "country", String, ValueRef::from_opt_str(l.company.country.as_ref().map(|c| c.as_str()));
    Region => "region", String, ValueRef::from_opt_str(l.company.region.as_deref());
    City => "city", String, ValueRef::from_opt_str(l.company.city.as_deref());
    Source => "source", String, ValueRef::from_opt_str(l.source.channel.as_deref());
    Campaign => "campaign", String, ValueRef::from_opt_str(l.source.campaign.as_deref());
    UtmSource => "utm_source", String, ValueRef::from_opt_str(l.source.utm_source.as_deref());
    UtmMedium => "utm_medium", String, ValueRef::from_opt_str(l.source.utm_medium.as_deref());
    UtmCampaign => "utm_campaign", String, ValueRef::from_opt_str(l.source.utm_campaign.as_deref());
    OptIn => "opt_in", Bool, ValueRef::from_opt_bool(l.consent.opt_in);
    DoNotContact => "do_not_contact", Bool, ValueRef::Bool(l.consent.do_not_contact);
    LawfulBasis => "lawful_basis", String, ValueRef::from_opt_str(l.consent.lawful_basis.as_deref());
    Owner => "owner", String, ValueRef::from_opt_str(l.owner.as_deref());
    Stage => "stage", String, ValueRef::from_opt_str(l.stage.as_deref());
    AgeDays => "age_days", Number, ValueRef::from_opt_num(l.created_at.map(|c| c.days_until(now)));
}

impl LeadField {
    pub fn by_name(name: &str) -> Option<LeadField> {
        LeadField::ALL.iter().copied().find(|f| f.name() == name)
    }
}

impl Lead {
    /// Whether the lead has any way to be reached.
    pub fn is_contactable(&self) -> bool {
        self.contact.email.is_some() || self.contact.phone.is_some()
    }

    pub fn full_name(&self) -> Option<String> {
        match (&self.contact.first_name, &self.contact.last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(f), None) => Some(f.to_string()),
            (None, Some(l)) => Some(l.to_string()),
            (None, None) => None,
        }
    }
}
