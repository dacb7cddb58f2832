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

/// The id of an absent property value in [`EventsView::props`].
pub const NO_VALUE: u32 = u32::MAX;

/// The events of one lead in the columnar form the scorer reads: parallel
/// slices, one entry per event. `kinds` holds the model's index of the event
/// kind (see [`crate::model::CompiledModel::event_kind_index`]); `props`
/// holds, per event, one value id per property the model reads
/// ([`crate::model::CompiledModel::event_properties`]), flattened. An id
/// indexes `values` ([`NO_VALUE`]: the event has no such property).
/// Property values repeat a lot (a site has far fewer pages than visits),
/// so each distinct value is kept once and an event holds four bytes per
/// property.
/// Events need not be sorted and must already be de-duplicated.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventsView<'a> {
    pub kinds: &'a [u16],
    pub at: &'a [Timestamp],
    pub props: &'a [u32],
    pub values: &'a [compact_str::CompactString],
    pub props_per_event: usize,
}

impl<'a> EventsView<'a> {
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The value ids of event `i`'s properties.
    pub fn prop_ids(&self, i: usize) -> &'a [u32] {
        let w = self.props_per_event;
        &self.props[i * w..(i + 1) * w]
    }

    /// Property `p` of event `i`, when the event has it.
    pub fn prop(&self, i: usize, p: usize) -> Option<&'a str> {
        self.value(*self.prop_ids(i).get(p)?)
    }

    /// The text of a value id.
    pub fn value(&self, id: u32) -> Option<&'a str> {
        self.values.get(id as usize).map(|v| v.as_str())
    }
}

/// An owned list of events in the same layout, handy for building a view.
#[derive(Debug, Clone, Default)]
pub struct EventColumns {
    pub kinds: Vec<u16>,
    pub at: Vec<Timestamp>,
    pub props: Vec<u32>,
    pub values: Vec<compact_str::CompactString>,
    pub props_per_event: usize,
    ids: std::collections::HashMap<compact_str::CompactString, u32>,
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
        for p in props {
            let id = match p {
                None => NO_VALUE,
                Some(v) => match self.ids.get(&v) {
                    Some(&id) => id,
                    None => {
                        let id = self.values.len() as u32;
                        self.values.push(v.clone());
                        self.ids.insert(v, id);
                        id
                    }
                },
            };
            self.props.push(id);
        }
        debug_assert_eq!(self.props.len() - before, self.props_per_event);
    }

    pub fn view(&self) -> EventsView<'_> {
        EventsView {
            kinds: &self.kinds,
            at: &self.at,
            props: &self.props,
            values: &self.values,
            props_per_event: self.props_per_event,
        }
    }
}

#[cfg(test)]
mod columns_tests {
    use super::*;
    use compact_str::CompactString;

    #[test]
    fn a_repeated_property_value_is_kept_once_and_every_event_reads_it_back() {
        let mut cols = EventColumns::new(2);
        let v = |s: &str| Some(CompactString::new(s));
        cols.push(0, Timestamp(1), [v("/pricing"), v("ads")]);
        cols.push(1, Timestamp(2), [v("/docs"), None]);
        cols.push(0, Timestamp(3), [v("/pricing"), v("ads")]);
        assert_eq!(cols.values.len(), 3, "{:?}", cols.values);
        let view = cols.view();
        assert_eq!(view.prop(0, 0), Some("/pricing"));
        assert_eq!(view.prop(0, 1), Some("ads"));
        assert_eq!(view.prop(1, 0), Some("/docs"));
        assert_eq!(view.prop(1, 1), None);
        assert_eq!(view.prop(2, 0), Some("/pricing"));
        assert_eq!(view.prop_ids(0), view.prop_ids(2));
        assert_eq!(view.prop(2, 5), None, "a property the model does not read");
    }
}
