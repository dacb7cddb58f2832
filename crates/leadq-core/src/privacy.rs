//! Consent: per channel, the lawful basis for processing, the opt-in state
//! and do-not-contact; whether a person may be contacted on a channel for a
//! purpose; which engagement signals count as tracked behaviour.
//!
//! Everything that sends a message to a lead asks [`may_contact`] first, so
//! the rule lives in one place and is tested on its own.

use crate::event::EventKind;
use crate::lead::Consent;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A way of reaching a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Phone,
    Sms,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Phone, Channel::Sms];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Phone => "phone",
            Channel::Sms => "sms",
        }
    }

    pub fn parse(raw: &str) -> Option<Channel> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(raw.trim()))
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message is sent. Marketing needs the person's consent (or a
/// legitimate interest they have not objected to); a transactional message
/// answers something the person asked for or has a contract about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Marketing,
    Transactional,
}

impl Purpose {
    pub const ALL: [Purpose; 2] = [Purpose::Marketing, Purpose::Transactional];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Marketing => "marketing",
            Purpose::Transactional => "transactional",
        }
    }
}

/// The lawful bases for processing personal data (GDPR article 6(1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LawfulBasis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterests,
    PublicTask,
    LegitimateInterest,
}

impl LawfulBasis {
    pub const ALL: [LawfulBasis; 6] = [
        LawfulBasis::Consent,
        LawfulBasis::Contract,
        LawfulBasis::LegalObligation,
        LawfulBasis::VitalInterests,
        LawfulBasis::PublicTask,
        LawfulBasis::LegitimateInterest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LawfulBasis::Consent => "consent",
            LawfulBasis::Contract => "contract",
            LawfulBasis::LegalObligation => "legal_obligation",
            LawfulBasis::VitalInterests => "vital_interests",
            LawfulBasis::PublicTask => "public_task",
            LawfulBasis::LegitimateInterest => "legitimate_interest",
        }
    }

    /// Parses a basis, folding case, spaces and dashes; also reads the
    /// wording CRMs export ("Legitimate interest – prospect/lead",
    /// "Performance of a contract", "Freely given consent from contact").
    pub fn parse(raw: &str) -> Option<LawfulBasis> {
        let folded: String = raw
            .trim()
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if let Some(b) = LawfulBasis::ALL.into_iter().find(|b| b.as_str() == folded) {
            return Some(b);
        }
        let has = |w: &str| folded.contains(w);
        if has("legitimate") {
            Some(LawfulBasis::LegitimateInterest)
        } else if has("contract") {
            Some(LawfulBasis::Contract)
        } else if has("legal_obligation") || has("legal_requirement") {
            Some(LawfulBasis::LegalObligation)
        } else if has("vital") {
            Some(LawfulBasis::VitalInterests)
        } else if has("public") {
            Some(LawfulBasis::PublicTask)
        } else if has("consent") {
            Some(LawfulBasis::Consent)
        } else {
            None
        }
    }
}

impl fmt::Display for LawfulBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is recorded for one person on one channel. The default (nothing
/// recorded) permits no marketing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConsent {
    pub lawful_basis: Option<LawfulBasis>,
    /// `Some(true)`: opted in; `Some(false)`: opted out or withdrew;
    /// `None`: never asked.
    pub opt_in: Option<bool>,
    /// The person must not be contacted on this channel at all.
    pub do_not_contact: bool,
}

impl ChannelConsent {
    /// Nothing is known.
    pub fn is_empty(&self) -> bool {
        *self == ChannelConsent::default()
    }
}

/// Consent of one person on every channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadConsent {
    pub email: ChannelConsent,
    pub phone: ChannelConsent,
    pub sms: ChannelConsent,
}

impl LeadConsent {
    pub fn get(&self, channel: Channel) -> &ChannelConsent {
        match channel {
            Channel::Email => &self.email,
            Channel::Phone => &self.phone,
            Channel::Sms => &self.sms,
        }
    }

    pub fn get_mut(&mut self, channel: Channel) -> &mut ChannelConsent {
        match channel {
            Channel::Email => &mut self.email,
            Channel::Phone => &mut self.phone,
            Channel::Sms => &mut self.sms,
        }
    }

    /// What a lead's own consent fields state, per channel. The opt-in
    /// columns CRMs and forms export are email marketing opt-ins, so
    /// `opt_in` is the email channel's; the lawful basis is the person's,
    /// so every channel gets it; do-not-contact means any channel.
    pub fn from_lead_fields(c: &Consent) -> LeadConsent {
        let basis = c.lawful_basis.as_deref().and_then(LawfulBasis::parse);
        let mut out = LeadConsent::default();
        for ch in Channel::ALL {
            let rec = out.get_mut(ch);
            rec.lawful_basis = basis;
            rec.do_not_contact = c.do_not_contact;
            if ch == Channel::Email {
                rec.opt_in = c.opt_in;
            }
        }
        out
    }
}

/// Why [`may_contact`] said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Do-not-contact is set on the channel.
    DoNotContact,
    /// The person opted out of (or withdrew consent to) marketing.
    OptedOut,
    /// Marketing without an opt-in, and no legitimate interest recorded.
    NoConsent,
    /// Nothing (neither an opt-in nor a lawful basis) allows contact.
    NoLawfulBasis,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::DoNotContact => "do_not_contact",
            Refusal::OptedOut => "opted_out",
            Refusal::NoConsent => "no_consent",
            Refusal::NoLawfulBasis => "no_lawful_basis",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::DoNotContact => "the person is marked do-not-contact on this channel",
            Refusal::OptedOut => "the person opted out of marketing on this channel",
            Refusal::NoConsent => {
                "marketing needs an opt-in or a recorded legitimate interest on this channel"
            }
            Refusal::NoLawfulBasis => "no opt-in and no lawful basis is recorded for this channel",
        })
    }
}

/// Whether `consent` allows contacting the person on `channel` for `purpose`.
///
/// - do-not-contact refuses everything, transactional messages included;
/// - marketing: an opt-out (`opt_in = false`) refuses even under a
///   legitimate interest, since a person may always object to direct
///   marketing; an opt-in allows; without either, only a recorded
///   legitimate interest allows (the "soft opt-in"); a `consent` basis with
///   no recorded opt-in does not;
/// - transactional: any recorded lawful basis, or an opt-in, allows; an
///   opt-out of marketing does not stop it.
pub fn may_contact(
    consent: &LeadConsent,
    channel: Channel,
    purpose: Purpose,
) -> Result<(), Refusal> {
    let c = consent.get(channel);
    if c.do_not_contact {
        return Err(Refusal::DoNotContact);
    }
    match purpose {
        Purpose::Marketing => match (c.opt_in, c.lawful_basis) {
            (Some(false), _) => Err(Refusal::OptedOut),
            (Some(true), _) => Ok(()),
            (None, Some(LawfulBasis::LegitimateInterest)) => Ok(()),
            (None, Some(_)) => Err(Refusal::NoConsent),
            (None, None) => Err(Refusal::NoLawfulBasis),
        },
        Purpose::Transactional => match (c.opt_in, c.lawful_basis) {
            (_, Some(_)) | (Some(true), None) => Ok(()),
            (_, None) => Err(Refusal::NoLawfulBasis),
        },
    }
}

/// Event kinds that are observed rather than done by the person on
/// purpose: visits to pages and the opening and clicking of emails, which
/// are known only through cookies, pixels and tracked links. Replies, form
/// submissions, downloads, registrations, demo requests, sign-ups and
/// meetings are things the person chose to do and tell us.
pub const TRACKED_KINDS: &[&str] = &[
    "page_view",
    "pricing_page_view",
    "email_open",
    "email_click",
];

/// Whether events of `kind` are tracked behaviour (see [`TRACKED_KINDS`]).
pub fn is_tracked_kind(kind: &str) -> bool {
    matches!(
        EventKind::parse(kind),
        Some(
            EventKind::PageView
                | EventKind::PricingPageView
                | EventKind::EmailOpen
                | EventKind::EmailClick
        )
    )
}

/// Whether the person agreed to their behaviour being tracked: an email
/// opt-in (the consent forms collect with their tracking notice) without
/// do-not-contact on email.
pub fn tracking_consented(consent: &LeadConsent) -> bool {
    consent.email.opt_in == Some(true) && !consent.email.do_not_contact
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_channel_consent() -> Vec<ChannelConsent> {
        let mut out = Vec::new();
        for basis in std::iter::once(None).chain(LawfulBasis::ALL.into_iter().map(Some)) {
            for opt_in in [None, Some(false), Some(true)] {
                for do_not_contact in [false, true] {
                    out.push(ChannelConsent {
                        lawful_basis: basis,
                        opt_in,
                        do_not_contact,
                    });
                }
            }
        }
        out
    }

    /// The rule written out independently, case by case, as a table.
    fn expected(c: &ChannelConsent, purpose: Purpose) -> Result<(), Refusal> {
        if c.do_not_contact {
            return Err(Refusal::DoNotContact);
        }
        if purpose == Purpose::Marketing {
            if c.opt_in == Some(false) {
                return Err(Refusal::OptedOut);
            }
            if c.opt_in == Some(true) {
                return Ok(());
            }
            return match c.lawful_basis {
                Some(LawfulBasis::LegitimateInterest) => Ok(()),
                Some(_) => Err(Refusal::NoConsent),
                None => Err(Refusal::NoLawfulBasis),
            };
        }
        if c.lawful_basis.is_some() || c.opt_in == Some(true) {
            Ok(())
        } else {
            Err(Refusal::NoLawfulBasis)
        }
    }

    #[test]
    fn every_combination_of_basis_opt_in_do_not_contact_channel_and_purpose_follows_the_rule() {
        let mut checked = 0;
        for c in every_channel_consent() {
            for channel in Channel::ALL {
                for purpose in Purpose::ALL {
                    let mut lead = LeadConsent::default();
                    *lead.get_mut(channel) = c;
                    assert_eq!(
                        may_contact(&lead, channel, purpose),
                        expected(&c, purpose),
                        "{c:?} on {channel} for {purpose:?}"
                    );
                    // Another channel's record never decides this one.
                    for other in Channel::ALL.into_iter().filter(|o| *o != channel) {
                        assert_eq!(
                            may_contact(&lead, other, purpose),
                            Err(Refusal::NoLawfulBasis),
                            "{c:?} on {channel} leaked to {other}"
                        );
                    }
                    checked += 1;
                }
            }
        }
        // 7 bases (none + 6) × 3 opt-in states × 2 do-not-contact × 3 channels × 2 purposes.
        assert_eq!(checked, 7 * 3 * 2 * 3 * 2);
    }

    #[test]
    fn do_not_contact_refuses_marketing_and_transactional_even_with_an_opt_in() {
        let lead = LeadConsent {
            email: ChannelConsent {
                lawful_basis: Some(LawfulBasis::Contract),
                opt_in: Some(true),
                do_not_contact: true,
            },
            ..Default::default()
        };
        for purpose in Purpose::ALL {
            assert_eq!(
                may_contact(&lead, Channel::Email, purpose),
                Err(Refusal::DoNotContact)
            );
        }
    }

    #[test]
    fn marketing_email_needs_an_opt_in_or_a_legitimate_interest() {
        let mut lead = LeadConsent::default();
        assert_eq!(
            may_contact(&lead, Channel::Email, Purpose::Marketing),
            Err(Refusal::NoLawfulBasis)
        );
        lead.email.lawful_basis = Some(LawfulBasis::Consent);
        assert_eq!(
            may_contact(&lead, Channel::Email, Purpose::Marketing),
            Err(Refusal::NoConsent)
        );
        lead.email.opt_in = Some(true);
        assert_eq!(
            may_contact(&lead, Channel::Email, Purpose::Marketing),
            Ok(())
        );
        lead.email = ChannelConsent {
            lawful_basis: Some(LawfulBasis::LegitimateInterest),
            ..Default::default()
        };
        assert_eq!(
            may_contact(&lead, Channel::Email, Purpose::Marketing),
            Ok(())
        );
    }

    #[test]
    fn an_opt_out_stops_marketing_under_a_legitimate_interest_but_not_transactional_mail() {
        let lead = LeadConsent {
            email: ChannelConsent {
                lawful_basis: Some(LawfulBasis::LegitimateInterest),
                opt_in: Some(false),
                do_not_contact: false,
            },
            ..Default::default()
        };
        assert_eq!(
            may_contact(&lead, Channel::Email, Purpose::Marketing),
            Err(Refusal::OptedOut)
        );
        assert_eq!(
            may_contact(&lead, Channel::Email, Purpose::Transactional),
            Ok(())
        );
    }

    #[test]
    fn lead_fields_fill_email_opt_in_and_every_channels_basis_and_do_not_contact() {
        let c = Consent {
            opt_in: Some(true),
            lawful_basis: Some("Legitimate interest – prospect/lead".into()),
            do_not_contact: false,
        };
        let lead = LeadConsent::from_lead_fields(&c);
        assert_eq!(lead.email.opt_in, Some(true));
        assert_eq!(lead.phone.opt_in, None);
        assert_eq!(lead.sms.opt_in, None);
        for ch in Channel::ALL {
            assert_eq!(
                lead.get(ch).lawful_basis,
                Some(LawfulBasis::LegitimateInterest)
            );
            assert!(!lead.get(ch).do_not_contact);
        }
        let dnc = LeadConsent::from_lead_fields(&Consent {
            do_not_contact: true,
            ..Default::default()
        });
        for ch in Channel::ALL {
            assert!(dnc.get(ch).do_not_contact, "{ch}");
        }
    }

    #[test]
    fn lawful_bases_parse_from_their_names_and_crm_wording() {
        for b in LawfulBasis::ALL {
            assert_eq!(LawfulBasis::parse(b.as_str()), Some(b));
            assert_eq!(LawfulBasis::parse(&b.as_str().to_uppercase()), Some(b));
        }
        assert_eq!(
            LawfulBasis::parse("Performance of a contract"),
            Some(LawfulBasis::Contract)
        );
        assert_eq!(
            LawfulBasis::parse("Freely given consent from contact"),
            Some(LawfulBasis::Consent)
        );
        assert_eq!(
            LawfulBasis::parse("legitimate-interest"),
            Some(LawfulBasis::LegitimateInterest)
        );
        assert_eq!(LawfulBasis::parse("because"), None);
        assert_eq!(LawfulBasis::parse(""), None);
    }

    #[test]
    fn page_views_and_email_opens_and_clicks_are_tracked_and_replies_and_forms_are_not() {
        for k in TRACKED_KINDS {
            assert!(is_tracked_kind(k), "{k}");
        }
        assert!(is_tracked_kind("Page View"));
        assert!(is_tracked_kind("pageview"));
        for k in [
            "email_reply",
            "form_submit",
            "content_download",
            "demo_request",
            "meeting_booked",
            "trial_signup",
            "webinar_attended",
            "custom_thing",
        ] {
            assert!(!is_tracked_kind(k), "{k}");
        }
    }

    #[test]
    fn tracking_is_consented_only_by_an_email_opt_in_without_do_not_contact() {
        let mut lead = LeadConsent::default();
        assert!(!tracking_consented(&lead));
        lead.email.lawful_basis = Some(LawfulBasis::LegitimateInterest);
        assert!(!tracking_consented(&lead));
        lead.phone.opt_in = Some(true);
        assert!(!tracking_consented(&lead));
        lead.email.opt_in = Some(true);
        assert!(tracking_consented(&lead));
        lead.email.do_not_contact = true;
        assert!(!tracking_consented(&lead));
        lead.email.do_not_contact = false;
        lead.email.opt_in = Some(false);
        assert!(!tracking_consented(&lead));
    }

    #[test]
    fn channels_parse_by_name_and_nothing_else() {
        for ch in Channel::ALL {
            assert_eq!(Channel::parse(ch.as_str()), Some(ch));
        }
        assert_eq!(Channel::parse(" SMS "), Some(Channel::Sms));
        assert_eq!(Channel::parse("fax"), None);
    }
}
