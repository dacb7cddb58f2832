//! Follow-up by email: templates, nurture sequences and the outbox.
//!
//! A sequence's enrolments are run by [`sequence_pass`]: each due enrolment
//! runs its steps until the next wait, queueing emails and creating tasks.
//! [`mail_pass`] sends queued email over SMTP with retries (the queue is in
//! the database, so it survives restarts) and records every send as an
//! event on the lead. Replies, bounces, unsubscribes and booked meetings
//! arrive as events and stop the lead's enrolments ([`on_signals`]); a
//! stage change stops them at their next step. Nothing is sent to a person
//! whose consent does not allow it ([`leadq_core::privacy::may_contact`]).

pub mod api;
pub mod links;
pub mod mailer;
pub mod template;

use crate::error::{ApiError, ApiResult};
use crate::service::Service;
use crate::AppState;
use leadq_core::nurture::{Action, LeadFacts, Next, Sequence, SequenceDef, StopSignal};
use leadq_core::privacy::{may_contact, Channel, Purpose};
use leadq_core::sla::WorkingHours;
use leadq_core::Timestamp;
use leadq_store::{EmailRow, EnrolmentRow, EventRow, LeadRow, SequenceRow, TemplateRow};
use serde_json::{json, Value as Json};

pub use mailer::{MailConfig, Mailer};

/// Compiles a stored sequence against the stored templates.
pub fn compile(state: &AppState, def: SequenceDef) -> ApiResult<Sequence> {
    compile_at(state, def, "")
}

/// [`compile`], with error paths under `prefix` (where the definition
/// sits in a request body).
pub fn compile_at(state: &AppState, def: SequenceDef, prefix: &str) -> ApiResult<Sequence> {
    let templates: Vec<String> = state.store.templates()?.into_iter().map(|t| t.id).collect();
    Sequence::compile(def, &|id| templates.iter().any(|t| t == id)).map_err(|e| {
        let message = match &e {
            leadq_core::nurture::SequenceError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        ApiError::invalid(&format!("{prefix}{}", e.path()), message)
    })
}

fn load(state: &AppState, row: &SequenceRow) -> ApiResult<Sequence> {
    let def: SequenceDef = serde_json::from_str(&row.definition)
        .map_err(|e| ApiError::internal(format!("sequence {} is not readable: {e}", row.id)))?;
    compile(state, def)
}

/// The facts conditions read, for a lead within an enrolment.
pub fn facts(state: &AppState, lead: &LeadRow, enrolment: Option<&str>) -> ApiResult<LeadFacts> {
    let answers = state.store.answers_of(&lead.id)?;
    facts_with(state, lead, &answers, enrolment)
}

/// [`facts`] with the lead's framework answers already read.
fn facts_with(
    state: &AppState,
    lead: &LeadRow,
    answers: &[leadq_store::AnswerRow],
    enrolment: Option<&str>,
) -> ApiResult<LeadFacts> {
    let mut f = LeadFacts {
        stage: lead.stage.clone(),
        source: lead.source.clone(),
        campaign: lead.campaign.clone(),
        country: lead.country.clone(),
        owner: lead.owner.clone(),
        ..Default::default()
    };
    if let Some(s) = &lead.score {
        f.grade = Some(s.grade.clone());
        f.priority = Some(s.priority.clone());
        f.band = Some(s.band as f64);
        f.fit = Some(s.fit);
        f.engagement = Some(s.engagement);
        f.score = Some(s.score);
        f.mql = s.mql;
    }
    f.frameworks = crate::service::framework_statuses_of(answers);
    if let Some(e) = enrolment {
        for m in state.store.emails_of_enrolment(e)? {
            if m.sent_at.is_some() {
                f.emails_sent += 1;
            }
            if m.opened_at.is_some() {
                f.emails_opened += 1;
            }
            if m.clicked_at.is_some() {
                f.emails_clicked += 1;
            }
        }
    }
    Ok(f)
}

/// Enrols a lead by hand (or by rule); runs its first steps at once.
pub fn enrol(
    state: &AppState,
    sequence_id: &str,
    lead: &LeadRow,
    by: &str,
) -> ApiResult<EnrolmentRow> {
    let row = state
        .store
        .sequence(sequence_id)?
        .ok_or_else(|| ApiError::not_found(format!("sequence {sequence_id}")))?;
    if !row.active {
        return Err(ApiError::conflict(
            "sequence_inactive",
            format!("sequence {sequence_id} is paused"),
        ));
    }
    let now = state.clock.now_ms();
    let e = EnrolmentRow {
        id: crate::auth::new_id("enr"),
        sequence_id: row.id.clone(),
        lead_id: lead.id.clone(),
        status: "active".into(),
        step: 0,
        resumed: false,
        next_run_at: Some(now),
        stage_at_enrol: lead.stage.clone(),
        stop_reason: None,
        enrolled_by: by.to_string(),
        enrolled_at: now,
        updated_at: now,
    };
    if !state.store.enrol(e.clone())? {
        return Err(ApiError::conflict(
            "already_enrolled",
            format!(
                "lead {} has already been enrolled in sequence {sequence_id} (one enrolment per lead per sequence)",
                lead.id
            ),
        ));
    }
    let seq = load(state, &row)?;
    run_enrolment(state, &seq, e.clone())?;
    Ok(state.store.enrolment(&e.id)?.unwrap_or(e))
}

/// Enrols every lead that a sequence's `enrol_when` selects and that was
/// never enrolled in it. Returns how many were enrolled.
pub fn enrol_pass(state: &AppState) -> ApiResult<usize> {
    let mut sequences = Vec::new();
    for row in state.store.sequences()? {
        if !row.active {
            continue;
        }
        let seq = load(state, &row)?;
        if seq.enrol_when.is_some() {
            let enrolled: std::collections::HashSet<String> =
                state.store.enrolled_leads(&row.id)?.into_iter().collect();
            sequences.push((row, seq, enrolled));
        }
    }
    if sequences.is_empty() {
        return Ok(0);
    }
    let mut n = 0;
    let mut after = 0;
    loop {
        let page = state.store.scan_leads(after, 1000)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        // One read of the page's framework answers, not one per lead.
        let ids: Vec<String> = page.iter().map(|l| l.id.clone()).collect();
        let mut answers: std::collections::HashMap<String, Vec<leadq_store::AnswerRow>> =
            std::collections::HashMap::new();
        for a in state.store.answers_of_many(&ids)? {
            answers.entry(a.lead_id.clone()).or_default().push(a);
        }
        for lead in &page {
            if leadq_core::lifecycle::Stage::parse(&lead.stage).is_some_and(|s| s.is_closed()) {
                continue;
            }
            let mut lead_facts = None;
            for (row, seq, enrolled) in &mut sequences {
                if enrolled.contains(&lead.id) {
                    continue;
                }
                if lead_facts.is_none() {
                    let none = Vec::new();
                    let a = answers.get(&lead.id).unwrap_or(&none);
                    lead_facts = Some(facts_with(state, lead, a, None)?);
                }
                if seq.wants(lead_facts.as_ref().expect("set above")) {
                    match enrol(state, &row.id, lead, "system:nurture") {
                        Ok(_) => n += 1,
                        Err(e) if e.code == "already_enrolled" => {}
                        Err(e) => return Err(e),
                    }
                    enrolled.insert(lead.id.clone());
                }
            }
        }
    }
    Ok(n)
}

/// Runs every due enrolment. Returns how many ran.
pub fn sequence_pass(state: &AppState) -> ApiResult<usize> {
    let now = state.clock.now_ms();
    let mut ran = 0;
    let mut cache: std::collections::HashMap<String, Option<Sequence>> = Default::default();
    loop {
        let due = state.store.due_enrolments(now, 200)?;
        if due.is_empty() {
            break;
        }
        let count = due.len();
        for e in due {
            if !cache.contains_key(&e.sequence_id) {
                let seq = match state.store.sequence(&e.sequence_id)? {
                    Some(row) if row.active => Some(load(state, &row)?),
                    _ => None,
                };
                cache.insert(e.sequence_id.clone(), seq);
            }
            match cache.get(&e.sequence_id).and_then(|s| s.as_ref()) {
                Some(seq) => run_enrolment(state, seq, e)?,
                None => {
                    // Paused or deleted: park it until the sequence is back.
                    let mut e = e;
                    e.next_run_at = Some(now + 3_600_000);
                    e.updated_at = now;
                    save(state, e, Vec::new())?;
                }
            }
            ran += 1;
        }
        if count < 200 {
            break;
        }
    }
    Ok(ran)
}

fn save(state: &AppState, e: EnrolmentRow, emails: Vec<EmailRow>) -> ApiResult<()> {
    match state.store.advance_enrolment(e, emails) {
        // Stopped meanwhile (a reply arrived): nothing more to do.
        Err(leadq_store::StoreError::Conflict(_)) => Ok(()),
        other => Ok(other?),
    }
}

fn stop(state: &AppState, e: &EnrolmentRow, reason: &str) -> ApiResult<()> {
    state.store.stop_enrolments(
        &e.lead_id,
        Some(std::slice::from_ref(&e.sequence_id)),
        reason,
        state.clock.now_ms(),
    )?;
    Ok(())
}

/// The working hours waits and task due dates follow: the owner's, else
/// office hours in UTC.
fn hours_for(state: &AppState, lead: &LeadRow) -> WorkingHours {
    lead.owner
        .as_deref()
        .and_then(|o| state.store.rep(o).ok().flatten())
        .and_then(|r| WorkingHours::parse(&r.working_hours, &r.timezone).ok())
        .unwrap_or_else(|| WorkingHours::office("UTC").unwrap_or_else(|_| WorkingHours::always()))
}

fn run_enrolment(state: &AppState, seq: &Sequence, mut e: EnrolmentRow) -> ApiResult<()> {
    let now = state.clock.now_ms();
    let Some(lead) = state.store.lead(&e.lead_id)? else {
        return stop(state, &e, "lead deleted");
    };
    if lead.stage != e.stage_at_enrol && seq.stops_on(StopSignal::StageChange) {
        return stop(
            state,
            &e,
            &format!("stage_change: {} → {}", e.stage_at_enrol, lead.stage),
        );
    }
    let f = facts(state, &lead, Some(&e.id))?;
    let (actions, next) = seq.advance(e.step as usize, e.resumed, &f);
    let mut emails = Vec::new();
    for a in actions {
        match a {
            Action::SendEmail { step, template } => {
                match prepare_email(state, &lead, &template, Some((&e.id, step as i64)))? {
                    Ok(m) => emails.push(m),
                    Err(refusal) => {
                        save(state, e.clone(), emails)?;
                        return stop(state, &e, &refusal);
                    }
                }
            }
            Action::CreateTask {
                title,
                kind,
                due_business_minutes,
                step,
            } => {
                create_task(
                    state,
                    &lead,
                    &e.sequence_id,
                    &e.id,
                    step,
                    &title,
                    &kind,
                    due_business_minutes,
                )?;
            }
        }
    }
    match next {
        Next::Wait {
            step,
            business_days,
        } => {
            let due =
                hours_for(state, &lead).add_business_days(Timestamp(now / 1000), business_days);
            e.step = step as i64;
            e.resumed = true;
            e.next_run_at = Some(due.0 * 1000);
        }
        Next::Completed => {
            e.status = "completed".into();
            e.next_run_at = None;
            e.step = seq.steps.len() as i64;
        }
    }
    e.updated_at = now;
    save(state, e, emails)
}

#[allow(clippy::too_many_arguments)]
fn create_task(
    state: &AppState,
    lead: &LeadRow,
    sequence_id: &str,
    enrolment: &str,
    step: usize,
    title: &str,
    kind: &str,
    due_business_minutes: i64,
) -> ApiResult<()> {
    crate::tasks::create_task(
        state,
        crate::tasks::NewTask {
            lead_id: lead.id.clone(),
            kind: kind.to_string(),
            title: title.to_string(),
            notes: None,
            due_business_minutes: Some(due_business_minutes),
            due_at: None,
            origin: format!("sequence:{sequence_id}:{step}"),
            created_by: format!("system:sequence:{enrolment}"),
        },
    )?;
    Ok(())
}

/// Renders a template for a lead into a queued email, or says why the
/// person may not be emailed.
pub fn prepare_email(
    state: &AppState,
    lead: &LeadRow,
    template_id: &str,
    enrolment: Option<(&str, i64)>,
) -> ApiResult<Result<EmailRow, String>> {
    let t = state
        .store
        .template(template_id)?
        .ok_or_else(|| ApiError::not_found(format!("template {template_id}")))?;
    let Some(to) = lead.email.clone() else {
        return Ok(Err("no email address".into()));
    };
    if let Err(refusal) = consent_allows(state, lead, &t) {
        return Ok(Err(refusal));
    }
    let rep = lead
        .owner
        .as_deref()
        .and_then(|o| state.store.rep(o).ok().flatten());
    let sender = state
        .mailer()
        .map(|m| m.config.sender())
        .unwrap_or_else(|| (String::new(), String::new()));
    let ctx = template::context(lead, rep.as_ref(), (&sender.0, &sender.1));
    let (subject, body) = template::render(&t.subject, &t.body, &ctx).map_err(|e| {
        ApiError::invalid(
            "template",
            format!("template {template_id} did not render: {e}"),
        )
    })?;
    let now = state.clock.now_ms();
    Ok(Ok(EmailRow {
        id: crate::auth::new_id("em"),
        lead_id: lead.id.clone(),
        enrolment_id: enrolment.map(|(e, _)| e.to_string()),
        step: enrolment.map(|(_, s)| s),
        template_id: Some(t.id.clone()),
        to_addr: to,
        subject,
        body,
        purpose: t.purpose.clone(),
        status: "queued".into(),
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        message_id: None,
        created_at: now,
        sent_at: None,
        opened_at: None,
        clicked_at: None,
        replied_at: None,
        bounced_at: None,
    }))
}

fn consent_allows(state: &AppState, lead: &LeadRow, t: &TemplateRow) -> Result<(), String> {
    let rows = state
        .store
        .consents_of(&lead.id)
        .map_err(|e| e.to_string())?;
    let consent = crate::privacy::lead_consent(&lead.id, &rows);
    let purpose = if t.purpose == "transactional" {
        Purpose::Transactional
    } else {
        Purpose::Marketing
    };
    may_contact(&consent, Channel::Email, purpose).map_err(|r| format!("{}: {r}", r.as_str()))
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The text and HTML parts of an email as sent: links go through the
/// click redirect, the HTML part carries the open pixel, and marketing
/// email ends with the unsubscribe link.
pub fn compose(m: &EmailRow, links: &links::Links<'_>) -> (String, String) {
    let marketing = m.purpose != "transactional";
    let mut text = String::new();
    let mut html =
        String::from("<!doctype html><html><body><div style=\"font-family:sans-serif\">");
    let mut at = 0;
    for (a, b) in links::find_urls(&m.body) {
        let url = &m.body[a..b];
        let tracked = links.click(url);
        text.push_str(&m.body[at..a]);
        text.push_str(&tracked);
        html.push_str(&escape_html(&m.body[at..a]).replace('\n', "<br>\n"));
        html.push_str(&format!(
            "<a href=\"{}\">{}</a>",
            escape_html(&tracked),
            escape_html(url)
        ));
        at = b;
    }
    text.push_str(&m.body[at..]);
    html.push_str(&escape_html(&m.body[at..]).replace('\n', "<br>\n"));
    if marketing {
        let u = links.unsubscribe();
        text.push_str(&format!("\n\n--\nTo stop these emails: {u}\n"));
        html.push_str(&format!(
            "<p style=\"font-size:small;color:#666\">To stop these emails, <a href=\"{}\">unsubscribe</a>.</p>",
            escape_html(&u)
        ));
    }
    html.push_str(&format!(
        "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\"></div></body></html>",
        escape_html(&links.open_pixel())
    ));
    (text, html)
}

/// Sends due email. Returns how many were sent.
pub fn mail_pass(state: &AppState) -> ApiResult<usize> {
    let Some(mailer) = state.mailer() else {
        return Ok(0);
    };
    let secret = links::secret(state)?;
    let now = state.clock.now_ms();
    let mut sent = 0;
    for mut m in state.store.due_emails(now, 100)? {
        let domain = m.to_addr.rsplit('@').next().unwrap_or_default().to_string();
        if let Err(wait) = mailer.admit(&domain, now) {
            m.next_attempt_at = now + wait;
            state.store.update_email(&m)?;
            continue;
        }
        // Consent may have changed since the email was queued.
        let lead = state.store.lead(&m.lead_id)?;
        let template = match &m.template_id {
            Some(t) => state.store.template(t)?,
            None => None,
        };
        let refusal = match (&lead, &template) {
            (None, _) => Some("the lead no longer exists".to_string()),
            (Some(l), Some(t)) => consent_allows(state, l, t).err(),
            (Some(l), None) => {
                let rows = state.store.consents_of(&l.id)?;
                let consent = crate::privacy::lead_consent(&l.id, &rows);
                let purpose = if m.purpose == "transactional" {
                    Purpose::Transactional
                } else {
                    Purpose::Marketing
                };
                may_contact(&consent, Channel::Email, purpose)
                    .err()
                    .map(|r| format!("{}: {r}", r.as_str()))
            }
        };
        if let Some(why) = refusal {
            m.status = "suppressed".into();
            m.last_error = Some(why);
            state.store.update_email(&m)?;
            continue;
        }
        let message_id = format!("<{}@{}>", m.id, mailer.config.from_domain());
        let l = links::Links {
            base: &mailer.config.public_url,
            secret: &secret,
            email_id: &m.id,
        };
        let (text, html) = compose(&m, &l);
        let unsubscribe = (m.purpose != "transactional").then(|| l.unsubscribe());
        m.attempts += 1;
        match mailer.send(&mailer::Outgoing {
            message_id: &message_id,
            to: &m.to_addr,
            subject: &m.subject,
            text: &text,
            html: &html,
            unsubscribe: unsubscribe.as_deref(),
        }) {
            Ok(()) => {
                m.status = "sent".into();
                m.sent_at = Some(state.clock.now_ms());
                m.message_id = Some(message_id);
                m.last_error = None;
                state.store.update_email(&m)?;
                record(
                    state,
                    &m,
                    "email_sent",
                    json!({ "subject": m.subject, "template": m.template_id }),
                )?;
                sent += 1;
            }
            Err(err) => {
                m.last_error = Some(err.message.clone());
                if err.permanent || m.attempts >= mailer.config.max_attempts {
                    m.status = "failed".into();
                } else {
                    let backoff = mailer
                        .config
                        .backoff_ms
                        .saturating_mul(1 << (m.attempts - 1).min(20));
                    m.next_attempt_at = state.clock.now_ms() + backoff;
                }
                tracing::warn!(email = %m.id, attempts = m.attempts, permanent = err.permanent, error = %err.message, "sending an email failed");
                state.store.update_email(&m)?;
            }
        }
    }
    Ok(sent)
}

/// Records an event about an email on its lead.
fn record(state: &AppState, m: &EmailRow, kind: &str, mut props: Json) -> ApiResult<()> {
    if let Some(o) = props.as_object_mut() {
        o.insert("email_id".into(), json!(m.id));
    }
    let now = state.clock.now_ms();
    Service::new(state).record_events(
        vec![EventRow {
            seq: 0,
            lead_id: m.lead_id.clone(),
            kind: kind.to_string(),
            at: now,
            props: props.to_string(),
            // Opens and clicks count once per email; sends and replies too.
            idempotency_key: format!("{kind}:{}", m.id),
            received_at: now,
        }],
        false,
    )?;
    Ok(())
}

/// What an email's recipient did, from a signed link or an inbound
/// notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Open,
    Click,
    Reply,
    Bounce,
    Unsubscribe,
}

/// Records a signal on an email: the email's own record, an event on the
/// lead (which stops enrolments where the signal says so), and for an
/// unsubscribe a recorded opt-out of email marketing.
pub fn email_signal(
    state: &AppState,
    mut m: EmailRow,
    signal: Signal,
    props: Json,
) -> ApiResult<()> {
    let now = state.clock.now_ms();
    let (kind, slot) = match signal {
        Signal::Open => ("email_open", &mut m.opened_at),
        Signal::Click => ("email_click", &mut m.clicked_at),
        Signal::Reply => ("email_reply", &mut m.replied_at),
        Signal::Bounce => ("email_bounce", &mut m.bounced_at),
        Signal::Unsubscribe => ("email_unsubscribe", &mut None),
    };
    if slot.is_none() {
        *slot = Some(now);
    }
    if signal == Signal::Click && m.opened_at.is_none() {
        // A click proves an open the pixel may not have reported.
        m.opened_at = Some(now);
    }
    state.store.update_email(&m)?;
    if signal == Signal::Unsubscribe {
        let rows = state.store.consents_of(&m.lead_id)?;
        let current = crate::privacy::lead_consent(&m.lead_id, &rows);
        let email = current.get(Channel::Email);
        crate::privacy::record_consent(
            state,
            &m.lead_id,
            vec![crate::privacy::ConsentInput {
                channel: Channel::Email,
                lawful_basis: email.lawful_basis,
                opt_in: Some(false),
                do_not_contact: email.do_not_contact,
            }],
            "unsubscribe link",
            "system:unsubscribe",
        )?;
    }
    record(state, &m, kind, props)
}

/// Stops the lead's enrolments whose sequences stop on one of the
/// signals that `kinds` (event kinds just recorded) carry.
pub fn on_signals(state: &AppState, lead_id: &str, kinds: &[&str]) -> ApiResult<()> {
    let signals: Vec<StopSignal> = kinds
        .iter()
        .filter_map(|k| StopSignal::of_event(k))
        .collect();
    if signals.is_empty() {
        return Ok(());
    }
    let active: Vec<EnrolmentRow> = state
        .store
        .enrolments_of(lead_id)?
        .into_iter()
        .filter(|e| e.status == "active")
        .collect();
    for e in active {
        let Some(row) = state.store.sequence(&e.sequence_id)? else {
            continue;
        };
        let def: SequenceDef = match serde_json::from_str(&row.definition) {
            Ok(d) => d,
            Err(_) => continue,
        };
        if let Some(s) = signals.iter().find(|s| def.stop_on.contains(s)) {
            stop(state, &e, s.as_str())?;
        }
    }
    Ok(())
}

pub fn enrolment_view(e: &EnrolmentRow) -> Json {
    json!({
        "id": e.id,
        "sequence_id": e.sequence_id,
        "lead_id": e.lead_id,
        "status": e.status,
        "step": e.step,
        "next_run_at": e.next_run_at.map(crate::clock::rfc3339),
        "stop_reason": e.stop_reason,
        "enrolled_by": e.enrolled_by,
        "enrolled_at": crate::clock::rfc3339(e.enrolled_at),
    })
}

pub fn email_view(m: &EmailRow) -> Json {
    let t = |v: Option<i64>| v.map(crate::clock::rfc3339);
    json!({
        "id": m.id,
        "lead_id": m.lead_id,
        "enrolment_id": m.enrolment_id,
        "template_id": m.template_id,
        "to": m.to_addr,
        "subject": m.subject,
        "purpose": m.purpose,
        "status": m.status,
        "attempts": m.attempts,
        "last_error": m.last_error,
        "message_id": m.message_id,
        "created_at": crate::clock::rfc3339(m.created_at),
        "sent_at": t(m.sent_at),
        "opened_at": t(m.opened_at),
        "clicked_at": t(m.clicked_at),
        "replied_at": t(m.replied_at),
        "bounced_at": t(m.bounced_at),
    })
}
