//! Web UI tests: the lead page — facts, reasons, timeline, the framework
//! checklist and the actions, driven through a signed-in browser.

use crate::browser::*;
use crate::common::*;
use axum::http::{Method, StatusCode};
use serde_json::json;

/// A scored lead owned by `rep`; returns its id.
async fn owned_lead(ctx: &Ctx, email: &str, rep: &str) -> String {
    let lead = ctx.create_lead(good_lead(email)).await;
    let id = lead["id"].as_str().expect("an id").to_string();
    ctx.post(
        &format!("/api/v1/leads/{id}/assign"),
        &ctx.manager,
        json!({ "rep_id": rep }),
    )
    .await
    .expect(StatusCode::OK);
    id
}

/// The part of the page from the element with `id` to the end of the page.
fn from_id<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    &html[at..]
}

/// The criterion keys of the checklist, in page order.
fn criteria(html: &str) -> Vec<String> {
    html.split("data-criterion=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

/// The stages the page offers forms for (hidden `to` fields and the
/// "Move to" select's options).
fn offered(html: &str) -> Vec<String> {
    let mut out: Vec<String> = html
        .split("name=\"to\" value=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    if let Some(at) = html.find("<select name=\"to\">") {
        let select = &html[at..at + html[at..].find("</select>").unwrap()];
        out.extend(
            select
                .split("<option value=\"")
                .skip(1)
                .map(|s| s[..s.find('"').unwrap()].to_string()),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lead_page_shows_the_contact_facts_and_every_reason_of_the_score() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut doc = good_lead("ceo@acme.example");
    doc["first_name"] = json!("Grace");
    doc["last_name"] = json!("Hopper");
    doc["phone"] = json!("+1 415 555 0100");
    doc["campaign"] = json!("spring-launch");
    doc["opt_in"] = json!("yes");
    let lead = ctx.create_lead(doc).await;
    let id = lead["id"].as_str().unwrap();
    let score = ctx
        .get(&format!("/api/v1/leads/{id}/score"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    let reasons = score["score"]["reasons"].as_array().expect("reasons");
    assert!(
        reasons.len() >= 3,
        "a good lead fires several rules: {score}"
    );

    let mut b = ctx.browser("max2", "manager", None).await;
    let html = b.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(html.contains("<h1>Grace Hopper</h1>"), "{html}");
    for fact in [
        "ceo@acme.example",
        "Acme Corp",
        "+1 415 555 0100",
        "CEO",
        "spring-launch",
        "software",
    ] {
        assert!(html.contains(fact), "the page shows {fact}");
    }
    assert!(html.contains("<dt>Opt-in</dt><dd>yes</dd>"), "{html}");
    let table = from_id(&html, "reasons");
    let table = &table[..table.find("</table>").unwrap()];
    let rows = table.matches("<tr>").count() - 1;
    assert_eq!(rows, reasons.len(), "one row per reason: {table}");
    for r in reasons {
        let rule = r["rule"].as_str().unwrap();
        assert!(table.contains(rule), "reason {rule} is listed: {table}");
        let points = format!("{:+}", r["points"].as_f64().unwrap());
        assert!(table.contains(&points), "{rule} shows {points}: {table}");
    }
    let s = &score["score"];
    assert!(html.contains(&format!(
        "<dt>Grade</dt><dd>{}</dd>",
        s["grade"].as_str().unwrap()
    )));
    assert!(html.contains(&format!(
        "<dt>Priority</dt><dd>{}</dd>",
        s["priority"].as_str().unwrap()
    )));
    assert!(html.contains(&format!(
        "<dt>Model version</dt><dd>{}</dd>",
        s["model_version"]
    )));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rep_cannot_open_another_reps_lead_but_opens_their_own() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 10).await;
    ctx.rep("rep-2", 10).await;
    let mine = owned_lead(&ctx, "mine@acme.example", "rep-1").await;
    let theirs = owned_lead(&ctx, "theirs@acme.example", "rep-2").await;
    let mut rep = ctx.browser("rita", "rep", Some("rep-1")).await;
    assert!(rep
        .get(&format!("/ui/leads/{mine}"))
        .await
        .ok()
        .contains("mine@acme.example"));
    let other = rep.get(&format!("/ui/leads/{theirs}")).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(
        !other.html.contains("theirs@acme.example"),
        "nothing of the lead leaks"
    );
    assert_eq!(
        rep.get("/ui/leads/no-such-lead").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timeline_lists_a_transition_with_its_reason_newest_first() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 10).await;
    let id = owned_lead(&ctx, "ceo@acme.example", "rep-1").await;
    ctx.clock.advance(3_600_000);
    ctx.post(
        "/api/v1/events",
        &ctx.marketing,
        json!({ "lead_id": id, "type": "pricing_page_view", "properties": { "url": "/pricing" } }),
    )
    .await;
    ctx.clock.advance(3_600_000);
    ctx.transition(
        &id,
        &ctx.manager,
        "disqualified",
        Some("works for a competitor"),
    )
    .await;

    let mut b = ctx.browser("max2", "manager", None).await;
    let html = b.get(&format!("/ui/leads/{id}")).await.ok();
    let tl = from_id(&html, "timeline");
    let tl = &tl[..tl.find("</ol>").unwrap()];
    let first = &tl[..tl.find("</li>").unwrap()];
    assert!(first.contains("data-kind=\"stage\""), "newest first: {tl}");
    assert!(first.contains("new → disqualified"), "{first}");
    assert!(first.contains("works for a competitor"), "{first}");
    assert!(first.contains("manager:max"), "who moved it: {first}");
    assert!(first.contains("model version 1"), "{first}");
    let event = tl.find("pricing page view").expect("the event is listed");
    let assigned = tl.find("Assigned to Rep rep-1").expect("the assignment");
    assert!(
        tl.contains("assigned by hand by manager:max"),
        "with its explanation: {tl}"
    );
    let created = tl.find("Created as new").expect("the creation");
    assert!(
        event < assigned && assigned < created,
        "sorted newest first: {tl}"
    );
    assert!(tl.contains("data-kind=\"score\""), "score changes: {tl}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_framework_checklist_lists_spins_questions_in_order() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let lead = ctx.create_lead(good_lead("ceo@acme.example")).await;
    let id = lead["id"].as_str().unwrap();
    let mut b = ctx.browser("max2", "manager", None).await;
    let html = b.get(&format!("/ui/leads/{id}?framework=spin")).await.ok();
    assert_eq!(
        criteria(&html),
        ["situation", "problem", "implication", "need_payoff"]
    );
    let spin = leadq_core::framework::find("SPIN", &[]).unwrap();
    let mut last = 0;
    for c in &spin.criteria {
        for q in &c.questions {
            let at = html[last..]
                .find(&maud::html! { (q) }.into_string())
                .unwrap_or_else(|| panic!("question {q:?} after position {last}"));
            last += at;
        }
    }
    assert!(
        html.contains("<option value=\"spin\" selected>"),
        "SPIN is chosen"
    );
    assert!(html.contains("data-api=\"/api/v1/leads/"), "{html}");
    assert!(
        html.contains("/frameworks/spin\" data-method=\"PUT\""),
        "{html}"
    );
    assert!(html.contains("<label for=\"answer-situation\">Answer for Situation"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checklist_defaults_to_the_sql_framework_setting_and_offers_every_framework() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let lead = ctx.create_lead(good_lead("ceo@acme.example")).await;
    let id = lead["id"].as_str().unwrap();
    let mut b = ctx.browser("max2", "manager", None).await;
    let html = b.get(&format!("/ui/leads/{id}")).await.ok();
    assert_eq!(criteria(&html), ["budget", "authority", "need", "timeline"]);
    for key in ["bant", "meddic", "champ", "spin", "gpctba_c_i", "anum"] {
        assert_eq!(
            html.matches(&format!("<option value=\"{key}\"")).count(),
            1,
            "{key} offered once: {html}"
        );
    }
    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        json!({ "sql_framework": "MEDDIC" }),
    )
    .await
    .expect(StatusCode::OK);
    let html = b.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(
        html.contains("<option value=\"meddic\" selected>"),
        "{html}"
    );
    let meddic = leadq_core::framework::find("MEDDIC", &[]).unwrap();
    let keys: Vec<String> = meddic.criteria.iter().map(|c| c.key.clone()).collect();
    assert_eq!(criteria(&html), keys);
    assert!(html.contains("This framework gates the move to SQL."));
    let unknown = b.get(&format!("/ui/leads/{id}?framework=nope")).await.ok();
    assert!(
        unknown.contains("There is no framework “nope”"),
        "{unknown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn answering_bant_with_the_session_lets_a_rep_qualify_and_missing_answers_are_refused_by_name(
) {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 10).await;
    let id = owned_lead(&ctx, "ceo@acme.example", "rep-1").await;
    let mut rep = ctx.browser("rita", "rep", Some("rep-1")).await;
    let html = rep.get(&format!("/ui/leads/{id}")).await.ok();
    let moves = |to: &str| json!({ "to": to });
    let path = format!("/api/v1/leads/{id}/transitions");
    rep.api(Method::POST, &path, Some(moves("sal")))
        .await
        .expect(StatusCode::OK);
    assert!(offered(&html).contains(&"sal".to_string()), "{html}");

    let refused = rep.api(Method::POST, &path, Some(moves("sql"))).await;
    refused.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "framework_not_satisfied");
    let msg = refused.body["error"]["message"].as_str().unwrap();
    for c in ["budget", "authority", "need", "timeline"] {
        assert!(msg.contains(c), "the refusal names {c}: {msg}");
    }
    let html = rep.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(
        html.contains("still unknown: budget, authority, need, timeline"),
        "the page says what is missing next to the button: {html}"
    );

    // The checklist form's body, as app.js builds it.
    let answers = format!("/api/v1/leads/{id}/frameworks/bant");
    rep.api(
        Method::PUT,
        &answers,
        Some(
            json!({ "answers": { "budget": "confirmed", "authority": "decision_maker" },
                     "evidence": { "budget": "signed off by the CFO" } }),
        ),
    )
    .await
    .expect(StatusCode::OK);
    let refused = rep.api(Method::POST, &path, Some(moves("sql"))).await;
    let msg = refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("need, timeline") && !msg.contains("budget"),
        "only what is still missing: {msg}"
    );
    let html = rep.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(html.contains("Not yet qualified"), "{html}");
    assert!(html.contains("Still unknown: Need, Timeline."), "{html}");
    assert!(html.contains("value=\"signed off by the CFO\""), "{html}");
    assert!(
        html.contains("<option value=\"confirmed\" selected>"),
        "{html}"
    );
    // An answered criterion's field is sent even when emptied (that sets it
    // back to unknown); an unanswered one left empty is not sent at all.
    assert!(
        html.contains("name=\"answers.budget\" data-keep-empty"),
        "{html}"
    );
    assert!(
        html.contains("name=\"answers.need\">"),
        "need is unanswered: {html}"
    );
    // "— unknown —" chosen for the budget, as app.js sends it.
    let reset = rep
        .api(
            Method::PUT,
            &answers,
            Some(json!({ "answers": { "budget": "" } })),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        reset["unknown"],
        json!(["budget", "need", "timeline"]),
        "{reset}"
    );
    let html = rep.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(html.contains("Set back to unknown by "), "{html}");
    assert!(
        !html.contains("name=\"answers.budget\" data-keep-empty"),
        "{html}"
    );
    rep.api(
        Method::PUT,
        &answers,
        Some(json!({ "answers": { "budget": "confirmed" } })),
    )
    .await
    .expect(StatusCode::OK);

    rep.api(
        Method::PUT,
        &answers,
        Some(json!({ "answers": { "need": "critical", "timeline": "within_3_months" } })),
    )
    .await
    .expect(StatusCode::OK);
    let lead = rep
        .api(Method::POST, &path, Some(moves("sql")))
        .await
        .expect(StatusCode::OK);
    assert_eq!(lead["stage"], "sql");
    let html = rep.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(
        html.contains("<strong class=\"good\">Qualified</strong>"),
        "{html}"
    );
    assert!(html.contains("Stage <strong>sql</strong>"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_moves_the_lifecycle_allows_are_offered_and_disqualifying_needs_a_reason() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let lead = ctx.create_lead(good_lead("ceo@acme.example")).await;
    let id = lead["id"].as_str().unwrap().to_string();
    let mut b = ctx.browser("max2", "manager", None).await;
    let page = |html: &str| {
        let mut o = offered(html);
        o.sort();
        o
    };

    let html = b.get(&format!("/ui/leads/{id}")).await.ok();
    assert_eq!(
        page(&html),
        ["disqualified", "mql", "nurture", "sal", "working"],
        "from new"
    );
    assert!(!html.contains("Qualify (SQL)"));
    assert!(
        html.contains("name=\"reason\" required"),
        "disqualifying asks for a reason: {html}"
    );
    let refused = b
        .api(
            Method::POST,
            &format!("/api/v1/leads/{id}/transitions"),
            Some(json!({ "to": "disqualified" })),
        )
        .await;
    refused.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "reason_required");

    ctx.transition(&id, &ctx.manager, "sal", None).await;
    let html = b.get(&format!("/ui/leads/{id}")).await.ok();
    assert_eq!(
        page(&html),
        ["disqualified", "nurture", "recycled", "sql"],
        "from sal"
    );
    assert!(html.contains("Qualify (SQL)") && !html.contains("Accept (SAL)"));

    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        json!({ "sql_framework": "none" }),
    )
    .await
    .expect(StatusCode::OK);
    for to in ["sql", "opportunity", "won"] {
        ctx.transition(&id, &ctx.manager, to, None).await;
    }
    let html = b.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(page(&html).is_empty(), "won is final: {html}");
    assert!(html.contains("no further move is possible"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn managers_reassign_from_a_select_of_reps_and_reps_get_no_such_control() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 10).await;
    ctx.rep("rep-2", 10).await;
    let id = owned_lead(&ctx, "ceo@acme.example", "rep-1").await;
    let mut rep = ctx.browser("rita", "rep", Some("rep-1")).await;
    let html = rep.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(!html.contains("name=\"rep_id\""), "a rep cannot reassign");

    let mut m = ctx.browser("max2", "manager", None).await;
    let html = m.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(html.contains("<label>Assign to"), "{html}");
    assert!(html.contains("<option value=\"rep-1\" selected>"), "{html}");
    assert!(html.contains("<option value=\"rep-2\">"), "{html}");
    m.api(
        Method::POST,
        &format!("/api/v1/leads/{id}/assign"),
        Some(json!({ "rep_id": "rep-2" })),
    )
    .await
    .expect(StatusCode::OK);
    let html = m.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(html.contains("<option value=\"rep-2\" selected>"), "{html}");
    assert!(
        html.contains("Assigned to Rep rep-2 (rep-2)</strong> (was Rep rep-1 (rep-1))"),
        "{html}"
    );
    assert_eq!(
        rep.get(&format!("/ui/leads/{id}")).await.status,
        StatusCode::NOT_FOUND,
        "the former owner no longer sees it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_predictive_panel_shows_a_stored_probability_and_otherwise_says_none_is_published() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let plain = ctx.create_lead(good_lead("plain@acme.example")).await;
    let mut doc = good_lead("scored@acme.example");
    doc["probability"] = json!("0.7342");
    doc["factor_1"] = json!("employees");
    doc["factor_1_value"] = json!("1500");
    doc["factor_1_effect"] = json!("+0.412");
    let scored = ctx.create_lead(doc).await;
    let mut b = ctx.browser("mia2", "marketing", None).await;

    let html = b
        .get(&format!("/ui/leads/{}", plain["id"].as_str().unwrap()))
        .await
        .ok();
    assert!(html.contains("No predictive model is published"), "{html}");
    assert!(!html.contains("Probability of converting"));

    let html = b
        .get(&format!("/ui/leads/{}", scored["id"].as_str().unwrap()))
        .await
        .ok();
    assert!(!html.contains("No predictive model is published"), "{html}");
    assert!(
        html.contains("Probability of converting: <strong>73%</strong>"),
        "{html}"
    );
    assert!(html.contains("<td>employees</td><td>1500</td><td class=\"num\">+0.412</td>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_control_of_the_lead_page_has_a_label_and_tables_wrap() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 10).await;
    let id = owned_lead(&ctx, "ceo@acme.example", "rep-1").await;
    let mut b = ctx.browser("root2", "admin", None).await;
    let html = b.get(&format!("/ui/leads/{id}")).await.ok();
    // Every select, textarea and visible input sits inside a <label> or is
    // named by one through for=.
    for tag in ["<select", "<textarea", "<input"] {
        for (at, _) in html.match_indices(tag) {
            let end = at + html[at..].find('>').unwrap();
            let el = &html[at..end];
            if el.contains("type=\"hidden\"") {
                continue;
            }
            let before = &html[..at];
            let open = before.rfind("<label").unwrap_or(0);
            let inside = open > 0 && before[open..].find("</label>").is_none();
            let by_for = attr_after(el, "id=\"")
                .is_some_and(|i| html.contains(&format!("<label for=\"{i}\">")));
            assert!(inside || by_for, "unlabelled control: {el}");
        }
    }
    for (at, _) in html.match_indices("<table") {
        let before = &html[..at];
        assert!(
            before.ends_with("<div class=\"table-wrap\">"),
            "a table wraps: {}",
            &html[at..at + 60]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_that_does_not_qualify_is_named_next_to_the_qualify_button() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let lead = ctx.create_lead(good_lead("ceo@acme.example")).await;
    let id = lead["id"].as_str().unwrap().to_string();
    ctx.transition(&id, &ctx.manager, "sal", None).await;
    let mut b = ctx.browser("max2", "manager", None).await;
    b.get(&format!("/ui/leads/{id}")).await.ok();
    b.api(
        Method::PUT,
        &format!("/api/v1/leads/{id}/frameworks/bant"),
        Some(
            json!({ "answers": { "budget": "confirmed", "authority": "user",
                                  "need": "critical", "timeline": "within_3_months" } }),
        ),
    )
    .await
    .expect(StatusCode::OK);
    let refused = b
        .api(
            Method::POST,
            &format!("/api/v1/leads/{id}/transitions"),
            Some(json!({ "to": "sql" })),
        )
        .await;
    refused.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "framework_not_satisfied");
    assert_eq!(
        refused.body["error"]["message"],
        "SQL needs BANT (Budget, Authority, Need, Timeline) satisfied; answered but not qualifying: authority",
        "the refusal the qualify form shows names the answer that falls short"
    );
    assert_eq!(
        refused.body["error"]["details"]["not_met"],
        json!(["authority"])
    );
    let html = b.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(
        html.contains("answered but not qualifying: Authority (user)."),
        "{html}"
    );
    assert!(html.contains("Authority <span class=\"warn\">not satisfied</span>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_predictive_panel_shows_the_champion_with_its_factors_and_the_challenger_as_shadow() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut doc = good_lead("open@acme.example");
    doc["industry"] = json!("software");
    let id = ctx.create_lead(doc).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    seed_outcomes(&ctx, "o", 400, t0() - 86_400_000);
    train_predictive(&ctx, json!({})).await;
    let p = ctx
        .get(&format!("/api/v1/leads/{id}/prediction"), &ctx.marketing)
        .await
        .expect(StatusCode::OK);
    let mut b = ctx.browser("mia4", "marketing", None).await;

    let html = b.get(&format!("/ui/leads/{id}")).await.ok();
    assert!(!html.contains("No predictive model is published"), "{html}");
    let shown = format!(
        "Probability of converting: <strong>{:.0}%</strong>",
        p["probability"].as_f64().unwrap() * 100.0
    );
    assert!(html.contains(&shown), "{shown} in {html}");
    assert!(
        html.contains("<td>industry</td><td>software</td>"),
        "{html}"
    );
    assert!(!html.contains("shadow"), "no challenger yet: {html}");

    train_predictive(&ctx, json!({ "algorithm": "logistic" })).await;
    let p = ctx
        .get(&format!("/api/v1/leads/{id}/prediction"), &ctx.marketing)
        .await
        .expect(StatusCode::OK);
    let html = b.get(&format!("/ui/leads/{id}")).await.ok();
    let shadow = format!(
        "Challenger v2 (shadow, not used): {:.0}%",
        p["challenger_probability"].as_f64().unwrap() * 100.0
    );
    assert!(html.contains(&shadow), "{shadow} in {html}");
    assert!(html.contains("(model v1)"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lead_page_lists_sequences_and_emails_and_enrols_through_the_session() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 10).await;
    let mut doc = good_lead("nina@acme.example");
    doc["opt_in"] = json!("yes");
    let id = ctx.create_lead(doc).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ctx.post(
        "/api/v1/templates",
        &ctx.marketing,
        json!({ "id": "hello", "name": "Hello", "subject": "Hello {{ lead.company }}", "body": "Hi" }),
    )
    .await
    .expect(StatusCode::CREATED);
    ctx.post(
        "/api/v1/sequences",
        &ctx.marketing,
        json!({ "id": "welcome", "definition": { "name": "Welcome series", "steps": [{"type": "email", "template": "hello"}, {"type": "wait", "business_days": 2}] } }),
    )
    .await
    .expect(StatusCode::CREATED);

    let mut manager = ctx.browser("mona", "manager", None).await;
    let page = manager.get(&format!("/ui/leads/{id}")).await.ok();
    let section = from_id(&page, "nurture-h");
    assert!(section.contains("Not in any sequence."), "{section}");
    assert!(
        from_id(&page, "email-consent").contains("opted in"),
        "the recorded statement, not the submitted field"
    );
    assert!(from_id(&page, "email-consent").contains("<strong>allowed</strong>"));
    assert!(section.contains("<option value=\"welcome\">Welcome series</option>"));

    let r = manager
        .api(
            Method::POST,
            &format!("/api/v1/leads/{id}/enrolments"),
            Some(json!({ "sequence_id": "welcome" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let page = manager.get(&format!("/ui/leads/{id}")).await.ok();
    let enrolments = from_id(&page, "enrolments");
    assert!(enrolments.contains("Welcome series") && enrolments.contains("active"));
    let emails = from_id(&page, "emails");
    assert!(
        emails.contains("Hello Acme Corp") && emails.contains("queued"),
        "{emails}"
    );
    assert!(
        !from_id(&page, "nurture-h").contains("<option value=\"welcome\">"),
        "a lead is not offered a sequence it is already in"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lead_page_lists_its_tasks_marks_the_overdue_one_and_completes_it_through_the_session()
{
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 10).await;
    let id = owned_lead(&ctx, "tia@acme.example", "rep-1").await;
    let t = ctx
        .post(
            &format!("/api/v1/leads/{id}/tasks"),
            &ctx.manager,
            json!({ "kind": "call", "title": "Call Tia", "due_at": rfc(t0() + 3_600_000) }),
        )
        .await
        .expect(StatusCode::CREATED);
    let task = t["id"].as_str().unwrap().to_string();
    ctx.clock.advance(2 * 3_600_000);
    let mut rep = ctx.browser("rita", "rep", Some("rep-1")).await;
    let page = rep.get(&format!("/ui/leads/{id}")).await.ok();
    let tasks = from_id(&page, "tasks");
    assert!(tasks.contains("call: Call Tia"), "{tasks}");
    assert!(tasks.contains("overdue"));
    assert!(tasks.contains(&format!("/api/v1/tasks/{task}/complete")));
    let r = rep
        .api(
            Method::POST,
            &format!("/api/v1/tasks/{task}/complete"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let page = rep.get(&format!("/ui/leads/{id}")).await.ok();
    let tasks = from_id(&page, "tasks");
    assert!(tasks.contains("data-status=\"done\""));
    assert!(
        !tasks.contains(&format!("/api/v1/tasks/{task}/complete")),
        "no button on a done task"
    );
}
