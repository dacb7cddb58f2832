//! Engagement events and the compact per-lead view the scorer reads.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of engagement signal leadq knows by name. Any other snake_case
/// name is accepted as a custom kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    PageView,
    PricingPageView,
    EmailOpen,
    EmailClick,
    EmailReply,
    EmailBounce,
    EmailUnsubscribe,
    FormSubmit,
    ContentDownload,
    WebinarRegistered,
    WebinarAttended,
    DemoRequest,
    TrialSignup,
    MeetingBooked,
    Custom(String),
}

impl EventKind {
    pub const KNOWN: &'static [&'static str] = &[
        "page_view",
        "pricing_page_view",
        "email_open",
        "email_click",
        "email_reply",
        "email_bounce",
        "email_unsubscribe",
        "form_submit",
        "content_download",
        "webinar_registered",
        "webinar_attended",
        "demo_request",
        "trial_signup",
        "meeting_booked",
    ];

    /// Parses a kind name, folding case, spaces and dashes to snake_case.
    /// Returns `None` for an empty or non-identifier name.
    pub fn parse(raw: &str) -> Option<EventKind> {
        let folded: String = raw
            .trim()
            .chars()
            .map(|c| {
                if c == ' ' || c == '-' || c == '.' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        if folded.is_empty()
            || !folded
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return None;
        }
        Some(match folded.as_str() {
            "page_view" | "pageview" => EventKind::PageView,
            "pricing_page_view" => EventKind::PricingPageView,
            "email_open" => EventKind::EmailOpen,
            "email_click" => EventKind::EmailClick,
            "email_reply" => EventKind::EmailReply,
            "email_bounce" => EventKind::EmailBounce,
            "email_unsubscribe" => EventKind::EmailUnsubscribe,
            "form_submit" => EventKind::FormSubmit,
            "content_download" => EventKind::ContentDownload,
            "webinar_registered" => EventKind::WebinarRegistered,
            "webinar_attended" => EventKind::WebinarAttended,
            "demo_request" => EventKind::DemoRequest,
            "trial_signup" => EventKind::TrialSignup,
            "meeting_booked" => EventKind::MeetingBooked,
            _ => EventKind::Custom(folded),
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            EventKind::Custom(s) => s,
            known => {
                let i = match known {
                    EventKind::PageView => 0,
                    EventKind::PricingPageView => 1,
                    EventKind::EmailOpen => 2,
                    EventKind::EmailClick => 3,
                    EventKind::EmailReply => 4,
                    EventKind::EmailBounce => 5,
                    EventKind::EmailUnsubscribe => 6,
                    EventKind::FormSubmit => 7,
                    EventKind::ContentDownload => 8,
                    EventKind::WebinarRegistered => 9,
                    EventKind::WebinarAttended => 10,
                    EventKind::DemoRequest => 11,
                    EventKind::TrialSignup => 12,
                    EventKind::MeetingBooked => 13,
                    EventKind::Custom(_) => unreachable!(),
                };
                Self::KNOWN[i]
            }
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The events of one lead in the columnar form the scorer reads: parallel
/// slices, one entry per event. `kinds` holds the model's index of the event
/// kind (see [`crate::model::CompiledModel::event_kind_index`]); `props`
/// holds, per event, one value per property the model reads
/// ([`crate::model::CompiledModel::event_properties`]), flattened.
/// Events need not be sorted and must already be de-duplicated.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventsView<'a> {
    pub kinds: &'a [u16],
    pub at: &'a [Timestamp],
    pub props: &'a [Option<compact_str::CompactString>],
    pub props_per_event: usize,
}

impl<'a> EventsView<'a> {
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    pub fn props_of(&self, i: usize) -> &'a [Option<compact_str::CompactString>] {
        let w = self.props_per_event;
        &self.props[i * w..(i + 1) * w]
    }
}

/// An owned list of events in the same layout, handy for building a view.
#[derive(Debug, Clone, Default)]
pub struct EventColumns {
    pub kinds: Vec<u16>,
    pub at: Vec<Timestamp>,
    pub props: Vec<Option<compact_str::CompactString>>,
    pub props_per_event: usize,
}

impl EventColumns {
    pub fn new(props_per_event: usize) -> Self {
        EventColumns {
            props_per_event,
            ..Default::default()
        }
    }

    pub fn push(
        &mut self,
        kind: u16,
        at: Timestamp,
        props: impl IntoIterator<Item = Option<compact_str::CompactString>>,
    ) {
        self.kinds.push(kind);
        self.at.push(at);
        let before = self.props.len();
        self.props.extend(props);
        debug_assert_eq!(self.props.len() - before, self.props_per_event);
    }

    pub fn view(&self) -> EventsView<'_> {
        EventsView {
            kinds: &self.kinds,
            at: &self.at,
            props: &self.props,
            props_per_event: self.props_per_event,
        }
    }
}
