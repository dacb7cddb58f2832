//! Consent per channel, scoring that respects it, the export and erasure of
//! a person, and retention.

use crate::common::*;
use axum::http::{Method, StatusCode};
use leadq_server::auth::Role;
use leadq_store::JobRow;
use serde_json::{json, Value};
use std::time::Duration;

const DAY: i64 = 86_400_000;

async fn consent(ctx: &Ctx, id: &str) -> Value {
    ctx.get(&format!("/api/v1/leads/{id}/consent"), &ctx.marketing)
        .await
        .expect(StatusCode::OK)
}

fn field_path(r: &Resp) -> String {
    r.body["error"]["details"]["fields"][0]["path"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Whether a refusal names `field`: as its path, or (for an unknown field,
/// refused before it has a path) in its message.
fn names_field(r: &Resp, field: &str) -> bool {
    field_path(r) == field
        || r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("`{field}`")))
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_comes_from_the_lead_fields_on_ingest_and_by_hand_and_keeps_its_history() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut doc = good_lead("cora@acme-corp.com");
    doc["opt_in"] = json!("yes");
    doc["lawful_basis"] = json!("consent");
    let id = ctx.create_lead(doc.clone()).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let c = consent(&ctx, &id).await;
    assert_eq!(c["channels"]["email"]["opt_in"], true, "{c}");
    assert_eq!(c["channels"]["email"]["lawful_basis"], "consent");
    assert_eq!(c["channels"]["email"]["source"], "ingest");
    assert_eq!(c["channels"]["email"]["recorded_at"], rfc(t0()));
    assert_eq!(
        c["channels"]["email"]["may_contact"]["marketing"]["allowed"],
        true
    );
    // The opt-in column is an email opt-in: the phone has the basis only.
    assert_eq!(c["channels"]["phone"]["opt_in"], Value::Null);
    assert_eq!(
        c["channels"]["phone"]["may_contact"]["marketing"]["reason"],
        "no_consent"
    );
    assert_eq!(c["tracking_consented"], true);
    assert_eq!(c["history"].as_array().unwrap().len(), 3, "{c}");

    // A rep hears "no more marketing mail" on a call.
    ctx.clock.advance(DAY);
    let c = ctx
        .put(
            &format!("/api/v1/leads/{id}/consent"),
            &ctx.manager,
            json!({ "email": { "lawful_basis": "consent", "opt_in": false }, "source": "phone call" }),
        )
        .await
        .expect(StatusCode::OK);
    let email = &c["channels"]["email"];
    assert_eq!(email["opt_in"], false, "{c}");
    assert_eq!(email["source"], "phone call");
    assert_eq!(email["recorded_by"], "manager:max");
    assert_eq!(email["recorded_at"], rfc(t0() + DAY));
    assert_eq!(email["may_contact"]["marketing"]["allowed"], false);
    assert_eq!(email["may_contact"]["marketing"]["reason"], "opted_out");
    assert_eq!(email["may_contact"]["transactional"]["allowed"], true);
    assert_eq!(c["tracking_consented"], false);

    // Re-sending the same lead does not undo what was recorded by hand.
    ctx.clock.advance(DAY);
    ctx.post("/api/v1/leads", &ctx.marketing, doc.clone())
        .await
        .expect(StatusCode::OK);
    let c = consent(&ctx, &id).await;
    assert_eq!(c["channels"]["email"]["opt_in"], false, "{c}");
    assert_eq!(c["history"].as_array().unwrap().len(), 4);

    // A real change in the source system is recorded: do-not-contact on
    // every channel stops transactional mail too.
    doc["do_not_contact"] = json!("yes");
    ctx.post("/api/v1/leads", &ctx.marketing, doc)
        .await
        .expect(StatusCode::OK);
    let c = consent(&ctx, &id).await;
    for ch in ["email", "phone", "sms"] {
        assert_eq!(c["channels"][ch]["do_not_contact"], true, "{ch}: {c}");
        for purpose in ["marketing", "transactional"] {
            assert_eq!(
                c["channels"][ch]["may_contact"][purpose]["reason"],
                "do_not_contact"
            );
        }
    }
    let history = c["history"].as_array().unwrap();
    assert_eq!(history.len(), 7);
    assert_eq!(history[3]["source"], "phone call", "oldest first: {c}");
    assert_eq!(history[6]["recorded_at"], rfc(t0() + 2 * DAY));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_consent_statements_are_refused_naming_the_field() {
    let ctx = Ctx::new();
    let id = ctx.create_lead(good_lead("bad@acme-corp.com")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("/api/v1/leads/{id}/consent");
    for (body, path) in [
        (
            json!({ "email": { "lawful_basis": "because" }, "source": "form" }),
            "email.lawful_basis",
        ),
        (
            json!({ "fax": { "opt_in": true }, "source": "form" }),
            "fax",
        ),
        (
            json!({ "email": { "opt_in": "maybe" }, "source": "form" }),
            "email.opt_in",
        ),
        (json!({ "email": { "opt_in": true } }), "source"),
        (
            json!({ "email": { "opt_in": true }, "source": " " }),
            "source",
        ),
        (
            json!({ "email": { "opt_in": true }, "source": "ingest" }),
            "source",
        ),
        (json!({ "source": "form" }), "email"),
    ] {
        let r = ctx.put(&url, &ctx.marketing, body.clone()).await;
        r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            names_field(&r, path),
            "{body} should name {path}: {}",
            r.body
        );
    }
    assert_eq!(
        consent(&ctx, &id).await["history"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing refused was recorded"
    );
    ctx.put(
        "/api/v1/leads/nope/consent",
        &ctx.marketing,
        json!({ "email": { "opt_in": true }, "source": "form" }),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_privacy_routes_need_a_token_and_the_admin_role() {
    let ctx = Ctx::new();
    for (m, url, body) in [
        (Method::GET, "/api/v1/privacy/export?email=a@b.example", ""),
        (
            Method::POST,
            "/api/v1/privacy/erase",
            r#"{"email":"a@b.example"}"#,
        ),
        (Method::GET, "/api/v1/privacy/erasures", ""),
    ] {
        ctx.raw(m.clone(), url, None, body.to_string())
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
        for token in [&ctx.marketing, &ctx.manager] {
            ctx.raw(m.clone(), url, Some(token), body.to_string())
                .await
                .expect_error(StatusCode::FORBIDDEN, "forbidden");
        }
        let r = ctx
            .raw(m.clone(), url, Some(&ctx.admin), body.to_string())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{m} {url}: {}", r.body);
    }
    ctx.rep("rep_p", 5).await;
    let rep = ctx.token("pia", Role::Rep, Some("rep_p"));
    ctx.get("/api/v1/privacy/export?email=a@b.example", &rep)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let r = ctx.get("/api/v1/privacy/export", &ctx.admin).await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(field_path(&r), "email");
    let r = ctx
        .post(
            "/api/v1/privacy/erase",
            &ctx.admin,
            json!({ "email": "not an address" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(field_path(&r), "email");
}

async fn engagement(ctx: &Ctx, id: &str) -> f64 {
    ctx.lead(id).await["score"]["engagement"].as_f64().unwrap()
}

async fn page_view(ctx: &Ctx, id: &str, key: &str) {
    ctx.post(
        "/api/v1/events",
        &ctx.marketing,
        json!({ "lead_id": id, "type": "page_view", "properties": { "url": "/pricing" }, "idempotency_key": key }),
    )
    .await
    .expect(StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_tracking_requiring_consent_a_non_consenting_leads_score_ignores_page_views_while_a_consenting_ones_moves(
) {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    // Created before the setting: its page view counts for now.
    let early = ctx.create_lead(good_lead("early@acme-corp.com")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    page_view(&ctx, &early, "early-1").await;
    assert_eq!(engagement(&ctx, &early).await, 8.0);

    let s = ctx
        .put(
            "/api/v1/settings",
            &ctx.admin,
            json!({ "tracking_requires_consent": true }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(s["tracking_requires_consent"], true);
    assert!(s["tracked_event_types"]
        .as_array()
        .unwrap()
        .contains(&json!("email_open")));
    // Turning it on re-scores the stored leads in the background.
    let mut moved = false;
    for _ in 0..250 {
        if engagement(&ctx, &early).await == 0.0 {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(moved, "the stored score was re-computed under the setting");

    let mut yes = good_lead("yes@acme-corp.com");
    yes["opt_in"] = json!("yes");
    let yes = ctx.create_lead(yes).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let no = ctx.create_lead(good_lead("no@acme-corp.com")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    page_view(&ctx, &yes, "yes-1").await;
    page_view(&ctx, &no, "no-1").await;
    assert_eq!(engagement(&ctx, &yes).await, 8.0, "consented: counted");
    assert_eq!(engagement(&ctx, &no).await, 0.0, "not consented: ignored");

    // What the person did on purpose still counts.
    ctx.post(
        "/api/v1/events",
        &ctx.marketing,
        json!({ "lead_id": no, "type": "demo_request", "idempotency_key": "no-2" }),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    assert_eq!(engagement(&ctx, &no).await, 30.0);
    // The ledger replays to the same score: the replay leaves the same
    // events out.
    let r = ctx
        .get(
            &format!("/api/v1/leads/{no}/score-at?at={}", enc(&rfc(t0()))),
            &ctx.admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["matches"], true, "{r}");

    // Consent given later: the page view counts from then on.
    ctx.put(
        &format!("/api/v1/leads/{no}/consent"),
        &ctx.marketing,
        json!({ "email": { "lawful_basis": "consent", "opt_in": true }, "source": "preference centre" }),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(engagement(&ctx, &no).await, 38.0);
}

/// Every byte of the SQLite database, its WAL and its shared-memory file.
fn database_bytes(ctx: &Ctx) -> Vec<(String, Vec<u8>)> {
    ["leadq.db", "leadq.db-wal", "leadq.db-shm"]
        .iter()
        .filter_map(|name| {
            std::fs::read(ctx.data_dir().join(name))
                .ok()
                .map(|b| (name.to_string(), b))
        })
        .collect()
}

fn hits(files: &[(String, Vec<u8>)], needle: &str) -> Vec<String> {
    let n = needle.as_bytes();
    files
        .iter()
        .filter(|(_, bytes)| bytes.windows(n.len()).any(|w| w == n))
        .map(|(name, _)| name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn erasing_a_person_leaves_no_byte_of_their_email_or_phone_in_the_database_files() {
    let ctx = Ctx::new();
    // The byte scan reads the SQLite files; on PostgreSQL the rest runs.
    let scan = !ctx.on_postgres();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.post(
        "/api/v1/webhooks",
        &ctx.admin,
        json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    let (email, phone) = ("erin.erased@example-co.com", "+49 30 9018207");
    let (kept_email, kept_phone) = ("kept.person@example-co.com", "+49 30 5551117");
    let mut ids = Vec::new();
    for (e, p) in [(email, phone), (kept_email, kept_phone)] {
        let mut doc = good_lead(e);
        doc["phone"] = json!(p);
        doc["opt_in"] = json!("yes");
        let id = ctx.create_lead(doc).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        ctx.post(
            "/api/v1/events",
            &ctx.marketing,
            json!({ "lead_id": id, "type": "form_submit", "properties": { "email": e, "phone": p } }),
        )
        .await
        .expect(StatusCode::ACCEPTED);
        ctx.put(
            &format!("/api/v1/leads/{id}/frameworks/BANT"),
            &ctx.manager,
            json!({ "answers": { "budget": "confirmed" }, "evidence": { "budget": format!("confirmed by {e} on {p}") } }),
        )
        .await
        .expect(StatusCode::OK);
        ctx.put(
            &format!("/api/v1/leads/{id}/consent"),
            &ctx.marketing,
            json!({ "phone": { "lawful_basis": "consent", "opt_in": true }, "source": format!("call to {p}") }),
        )
        .await
        .expect(StatusCode::OK);
        ctx.transition(&id, &ctx.manager, "working", None).await;
        ids.push(id);
    }
    let state = ctx.state.clone();
    let job = JobRow {
            id: "job_import_1".into(),
            kind: "import".into(),
            status: "done".into(),
            total: 3,
            done: 3,
            result: Some(
                json!({ "rejected": 2, "rejects": [
                    { "row": 2, "column": "email", "value": email, "reason": "a duplicate of row 9" },
                    { "row": 3, "column": "email", "value": kept_email, "reason": "a duplicate of row 8" },
                ] })
                .to_string(),
            ),
            error: None,
            created_at: t0(),
            finished_at: Some(t0()),
    };
    tokio::task::spawn_blocking(move || state.store.put_job(job).unwrap())
        .await
        .unwrap();

    // A nurture email to each (queued, with the address in its text).
    ctx.post(
        "/api/v1/templates",
        &ctx.marketing,
        json!({ "id": "hello", "name": "Hello", "subject": "Hi", "body": "We have {{ lead.email }} and {{ lead.phone }} on file." }),
    )
    .await
    .expect(StatusCode::CREATED);
    ctx.post(
        "/api/v1/sequences",
        &ctx.marketing,
        json!({ "id": "hello", "definition": { "name": "Hello", "steps": [{"type": "email", "template": "hello"}] } }),
    )
    .await
    .expect(StatusCode::CREATED);
    for (id, (e, p)) in ids.iter().zip([(email, phone), (kept_email, kept_phone)]) {
        ctx.post(
            &format!("/api/v1/leads/{id}/tasks"),
            &ctx.manager,
            json!({ "title": format!("Call {p}"), "notes": format!("asked to be reached at {e}") }),
        )
        .await
        .expect(StatusCode::CREATED);
        ctx.post(
            "/api/v1/sequences/hello/enrolments",
            &ctx.marketing,
            json!({ "lead_id": id }),
        )
        .await
        .expect(StatusCode::CREATED);
    }

    // The export shows all of it first.
    let export = ctx
        .get(
            &format!("/api/v1/privacy/export?email={}", enc(email)),
            &ctx.admin,
        )
        .await
        .expect(StatusCode::OK);
    let person = &export["leads"][0];
    assert_eq!(person["lead"]["id"], ids[0].as_str(), "{export}");
    assert_eq!(person["lead"]["fields"]["phone"], phone);
    assert_eq!(person["events"][0]["properties"]["email"], email);
    assert!(!person["score_ledger"].as_array().unwrap().is_empty());
    let stages = person["stage_changes"].as_array().unwrap();
    assert_eq!(stages[0]["to_stage"], "new", "{export}");
    assert_eq!(stages.last().unwrap()["to_stage"], "working");
    assert_eq!(
        person["framework_answers"][0]["evidence"],
        format!("confirmed by {email} on {phone}")
    );
    assert!(person["consent"]["history"].as_array().unwrap().len() >= 2);
    assert_eq!(person["emails"][0]["to_addr"], email, "{export}");
    assert!(person["emails"][0]["body"]
        .as_str()
        .unwrap()
        .contains(phone));
    assert_eq!(person["sequence_enrolments"][0]["sequence_id"], "hello");
    assert_eq!(person["tasks"][0]["title"], format!("Call {phone}"));
    assert!(!export["webhook_deliveries"].as_array().unwrap().is_empty());
    assert_eq!(
        export["import_rejects"][0]["rejects"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(export["import_rejects"][0]["rejects"][0]["value"], email);
    let text = export.to_string();
    assert!(!text.contains(kept_email), "nobody else is exported");

    if scan {
        let before = database_bytes(&ctx);
        assert!(
            !hits(&before, email).is_empty(),
            "the scan finds what is there"
        );
    }

    let audit = ctx
        .post(
            "/api/v1/privacy/erase",
            &ctx.admin,
            json!({ "email": email }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(audit["reason"], "request");
    assert_eq!(audit["actor"], "admin:root");
    assert_eq!(audit["source"], "web");
    assert_eq!(audit["removed"]["leads"], 1, "{audit}");
    assert_eq!(audit["removed"]["events"], 1);
    assert_eq!(audit["removed"]["answers"], 1);
    assert_eq!(audit["removed"]["import_rejects"], 1);
    assert_eq!(audit["removed"]["emails"], 1);
    assert_eq!(audit["removed"]["enrolments"], 1);
    assert_eq!(audit["removed"]["tasks"], 1);
    assert!(audit["removed"]["deliveries"].as_u64().unwrap() >= 2);
    assert!(!audit.to_string().contains(&ids[0]));

    if scan {
        ctx.state.store.checkpoint().unwrap();
        let after = database_bytes(&ctx);
        assert!(after.iter().any(|(n, _)| n == "leadq.db"));
        for needle in [email, phone, "+49309018207", ids[0].as_str()] {
            assert_eq!(
                hits(&after, needle),
                Vec::<String>::new(),
                "{needle} is still stored"
            );
        }
        for needle in [kept_email, kept_phone, ids[1].as_str()] {
            assert!(
                !hits(&after, needle).is_empty(),
                "{needle} should still be stored"
            );
        }
    }

    // Gone from the API too; the other person is untouched.
    ctx.get(&format!("/api/v1/leads/{}", ids[0]), &ctx.admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.lead(&ids[1]).await;
    let again = ctx
        .get(
            &format!("/api/v1/privacy/export?email={}", enc(email)),
            &ctx.admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(again["leads"], json!([]));
    assert_eq!(again["webhook_deliveries"], json!([]));
    assert_eq!(again["import_rejects"], json!([]));

    let erasures = ctx
        .get("/api/v1/privacy/erasures", &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(erasures["total"], 1);
    assert_eq!(erasures["by_source"]["web"], 1);
    assert_eq!(erasures["by_reason"]["request"], 1);
    assert!(!erasures.to_string().contains(email));
}

/// One retention pass, off the async threads (the PostgreSQL client is
/// synchronous).
async fn retention(ctx: &Ctx) -> usize {
    let state = ctx.state.clone();
    tokio::task::spawn_blocking(move || leadq_server::privacy::retention_pass(&state))
        .await
        .expect("the pass runs")
        .expect("the pass succeeds")
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_erases_leads_inactive_for_the_set_months_and_keeps_the_active_ones() {
    let ctx = Ctx::new();
    let r = ctx
        .put(
            "/api/v1/settings",
            &ctx.admin,
            json!({ "retention_months": 1201 }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(field_path(&r), "retention_months");
    let s = ctx
        .put(
            "/api/v1/settings",
            &ctx.admin,
            json!({ "retention_months": 6 }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(s["retention_months"], 6);

    let create = |email: &'static str| {
        let ctx = &ctx;
        async move {
            ctx.create_lead(good_lead(email)).await["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let idle = create("idle@acme-corp.com").await;
    let evented = create("evented@acme-corp.com").await;
    let moved = create("moved@acme-corp.com").await;
    let edited = create("edited@acme-corp.com").await;

    // Five months on, three of them show signs of life.
    ctx.clock.advance(5 * 30 * DAY);
    ctx.post(
        "/api/v1/events",
        &ctx.marketing,
        json!({ "lead_id": evented, "type": "email_reply" }),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    ctx.transition(&moved, &ctx.manager, "working", None).await;
    ctx.patch(
        &format!("/api/v1/leads/{edited}"),
        &ctx.marketing,
        json!({ "company": "Acme Corporation" }),
    )
    .await
    .expect(StatusCode::OK);

    // An anonymous website visitor seen once, at the start.
    let state = ctx.state.clone();
    let at = t0();
    tokio::task::spawn_blocking(move || {
        state
            .store
            .record_visit(leadq_store::Visit {
                visitor_id: "v-anonymous".into(),
                consent: None,
                at,
                events: vec![leadq_store::VisitorEventRow {
                    seq: 0,
                    visitor_id: String::new(),
                    id: "e1".into(),
                    kind: "page_view".into(),
                    url: Some("/pricing".into()),
                    props: r#"{"url":"/pricing"}"#.into(),
                    occurred_at: at,
                    received_at: at,
                }],
            })
            .unwrap()
    })
    .await
    .unwrap();
    let visitor_exists = |ctx: &Ctx| {
        let state = ctx.state.clone();
        std::thread::spawn(move || state.store.visitor("v-anonymous").unwrap().is_some())
            .join()
            .unwrap()
    };

    // Just under six months since creation: nothing is due yet.
    ctx.clock.set(ms("2027-05-02T09:00:00Z"));
    assert_eq!(retention(&ctx).await, 0);
    ctx.lead(&idle).await;
    assert!(visitor_exists(&ctx));

    ctx.clock.set(ms("2027-05-02T11:00:00Z"));
    assert_eq!(retention(&ctx).await, 1);
    assert!(
        !visitor_exists(&ctx),
        "anonymous tracking data is kept no longer either"
    );
    ctx.get(&format!("/api/v1/leads/{idle}"), &ctx.admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    for id in [&evented, &moved, &edited] {
        ctx.lead(id).await;
    }
    let erasures = ctx
        .get("/api/v1/privacy/erasures", &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(erasures["by_reason"]["retention"], 1, "{erasures}");
    assert_eq!(erasures["erasures"][0]["actor"], "system:retention");

    // Off means off, however old the leads get.
    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        json!({ "retention_months": 0 }),
    )
    .await
    .expect(StatusCode::OK);
    ctx.clock.advance(3 * 365 * DAY);
    assert_eq!(retention(&ctx).await, 0);
    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        json!({ "retention_months": 6 }),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(retention(&ctx).await, 3);
    let state = ctx.state.clone();
    let left = tokio::task::spawn_blocking(move || state.store.count_leads().unwrap())
        .await
        .unwrap();
    assert_eq!(left, 0);
}
