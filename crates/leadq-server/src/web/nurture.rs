//! The lead page's email section: the sequences the lead is in (or was),
//! the emails sent to it and what became of them, and a form to enrol it
//! in a sequence by hand.

use super::{encode, when};
use crate::error::ApiResult;
use crate::AppState;
use leadq_store::{EmailRow, EnrolmentRow, SequenceRow};
use maud::{html, Markup};

pub struct NurtureData {
    /// The recorded email consent and whether it allows marketing email.
    consent: leadq_core::privacy::ChannelConsent,
    marketing: Result<(), leadq_core::privacy::Refusal>,
    enrolments: Vec<EnrolmentRow>,
    emails: Vec<EmailRow>,
    sequences: Vec<SequenceRow>,
}

pub fn load(state: &AppState, lead_id: &str) -> ApiResult<NurtureData> {
    use leadq_core::privacy::{may_contact, Channel, Purpose};
    let rows = state.store.consents_of(lead_id)?;
    let consent = crate::privacy::lead_consent(lead_id, &rows);
    Ok(NurtureData {
        marketing: may_contact(&consent, Channel::Email, Purpose::Marketing),
        consent: *consent.get(Channel::Email),
        enrolments: state.store.enrolments_of(lead_id)?,
        emails: state.store.emails_of(lead_id)?,
        sequences: state.store.sequences()?,
    })
}

fn email_state(m: &EmailRow) -> String {
    let mut parts = vec![m.status.clone()];
    for (label, at) in [
        ("opened", m.opened_at),
        ("clicked", m.clicked_at),
        ("replied", m.replied_at),
        ("bounced", m.bounced_at),
    ] {
        if at.is_some() {
            parts.push(label.to_string());
        }
    }
    parts.join(", ")
}

pub fn section(d: &NurtureData, lead_id: &str) -> Markup {
    let name = |id: &str| {
        d.sequences
            .iter()
            .find(|q| q.id == id)
            .map_or_else(|| id.to_string(), |q| q.name.clone())
    };
    let open: Vec<&SequenceRow> = d
        .sequences
        .iter()
        .filter(|q| q.active && !d.enrolments.iter().any(|e| e.sequence_id == q.id))
        .collect();
    let c = &d.consent;
    html! {
        p #email-consent {
            "Email consent: "
            @match c.opt_in {
                Some(true) => "opted in",
                Some(false) => "opted out",
                None => "never asked",
            }
            @if let Some(b) = c.lawful_basis { " · basis " (b.as_str()) }
            @if c.do_not_contact { " · " strong { "do not contact" } }
            " — marketing email "
            @match d.marketing {
                Ok(()) => strong { "allowed" },
                Err(r) => { strong { "not allowed" } " (" (r) ")" },
            }
        }
        @if d.enrolments.is_empty() {
            p.muted { "Not in any sequence." }
        } @else {
            table #enrolments {
                thead { tr { th { "Sequence" } th { "State" } th { "Next step" } th { "Enrolled" } } }
                tbody {
                    @for e in &d.enrolments {
                        tr {
                            td { (name(&e.sequence_id)) }
                            td { (e.status) @if let Some(r) = &e.stop_reason { " — " span.reason { (r) } } }
                            td { @if let Some(t) = e.next_run_at { (when(t)) } @else { "—" } }
                            td { (when(e.enrolled_at)) " by " (e.enrolled_by) }
                        }
                    }
                }
            }
        }
        @if !d.emails.is_empty() {
            table #emails {
                thead { tr { th { "Subject" } th { "To" } th { "State" } th { "Sent" } } }
                tbody {
                    @for m in &d.emails {
                        tr {
                            td { (m.subject) }
                            td { (m.to_addr) }
                            td { (email_state(m)) @if let Some(e) = &m.last_error { br; span.muted { (e) } } }
                            td { @if let Some(t) = m.sent_at { (when(t)) } @else { "—" } }
                        }
                    }
                }
            }
        }
        @if !open.is_empty() {
            form.inline data-api={"/api/v1/leads/" (encode(lead_id)) "/enrolments"} data-method="POST" data-then="reload"
                aria-label="Enrol in a sequence" {
                label { "Sequence "
                    select name="sequence_id" {
                        @for q in &open { option value=(q.id) { (q.name) } }
                    }
                }
                button type="submit" { "Enrol" }
                p role="alert" {}
            }
        }
    }
}
