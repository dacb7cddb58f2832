//! Web UI tests: the dashboard's numbers, charts and tables.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::json;

const WON: &[&str] = &["mql", "sal", "sql", "opportunity", "won"];
const LOST: &[&str] = &["mql", "sal", "sql", "opportunity", "lost"];

async fn walk(ctx: &Ctx, id: &str, path: &[&str]) {
    for to in path {
        let reason = (*to == "lost").then_some("chose a competitor");
        ctx.transition(id, &ctx.manager, to, reason).await;
    }
}

/// A poor-fit lead (never an MQL by itself) from `source`; returns its id.
async fn lead_from(ctx: &Ctx, email: &str, source: &str) -> String {
    let mut doc = poor_lead(email);
    doc["source"] = json!(source);
    ctx.create_lead(doc).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn no_framework_needed(ctx: &Ctx) {
    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        json!({ "sql_framework": "none" }),
    )
    .await
    .expect(StatusCode::OK);
}

/// The text of the `<td>` cells of the table row headed `row` in the table `id`.
fn row_cells(html: &str, table_id: &str, row: &str) -> Vec<String> {
    let table = &html[html
        .find(&format!("id=\"{table_id}\""))
        .unwrap_or_else(|| panic!("table {table_id} in the page"))..];
    let table = &table[..table.find("</table>").unwrap()];
    let start = table
        .find(&format!("<th scope=\"row\">{row}</th>"))
        .unwrap_or_else(|| panic!("row {row} in {table_id}: {table}"));
    let tr = &table[start..];
    let tr = &tr[..tr.find("</tr>").unwrap()];
    tr.split("<td class=\"num\">")
        .skip(1)
        .map(|c| c[..c.find("</td>").unwrap()].to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn leads_with_known_outcomes_show_their_conversion_rate_and_funnel_counts() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    no_framework_needed(&ctx).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(lead_from(&ctx, &format!("p{i}@gmail.com"), "web").await);
    }
    walk(&ctx, &ids[0], WON).await;
    walk(&ctx, &ids[1], WON).await;
    walk(&ctx, &ids[2], LOST).await;
    walk(&ctx, &ids[3], &["mql"]).await;

    let mut mgr = ctx.browser("maxine", "manager", None).await;
    let html = mgr.get("/ui/dashboard").await.ok();
    // 2 won of 5 leads.
    assert!(
        html.contains("data-metric=\"conversion\">40.0%<"),
        "conversion tile: {html}"
    );
    assert!(html.contains("2 won of 5 leads"));
    // 4 reached MQL (of 5), 3 SQL, 2 won.
    assert_eq!(row_cells(&html, "funnel", "Leads"), ["5", "100.0%"]);
    assert_eq!(row_cells(&html, "funnel", "MQL"), ["4", "80.0%"]);
    assert_eq!(row_cells(&html, "funnel", "SQL"), ["3", "60.0%"]);
    assert_eq!(row_cells(&html, "funnel", "Won"), ["2", "40.0%"]);
    assert!(html.contains("data-metric=\"qualification\">80.0%<"));
    // Where they are now: two won, one lost, one MQL, one new.
    assert_eq!(row_cells(&html, "stages", "won"), ["2"]);
    assert_eq!(row_cells(&html, "stages", "lost"), ["1"]);
    assert_eq!(row_cells(&html, "stages", "new"), ["1"]);
    // The funnel chart draws the leads column at full height with its value.
    assert!(html.contains("aria-label=\"Funnel: leads reaching each stage\""));
    assert!(!html.contains("NaN"), "no NaN anywhere");
    // The per-week table has this week's row with the same numbers.
    assert_eq!(
        row_cells(&html, "periods", "2026-11-02")[..3],
        ["5", "2", "40.0%"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_marketing_user_sees_the_numbers_of_each_source() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    no_framework_needed(&ctx).await;
    let mut web = Vec::new();
    for i in 0..4 {
        web.push(lead_from(&ctx, &format!("w{i}@gmail.com"), "web").await);
    }
    let partner = [
        lead_from(&ctx, "a@gmail.com", "Partner & <Co>").await,
        lead_from(&ctx, "b@gmail.com", "Partner & <Co>").await,
    ];
    walk(&ctx, &web[0], WON).await;
    walk(&ctx, &partner[0], WON).await;
    walk(&ctx, &partner[1], LOST).await;
    ctx.put(
        "/api/v1/spend",
        &ctx.marketing,
        json!({ "spend": [{ "source": "web", "period_start": "2026-11-02", "amount": 300.0 }] }),
    )
    .await
    .expect(StatusCode::OK);

    let mut mia = ctx.browser("mia2", "marketing", None).await;
    let html = mia.get("/ui/dashboard?weeks=4").await.ok();
    let web_row = row_cells(&html, "by-source", "web");
    // Leads, won, conversion, MQL, MQL/lead, SQL/MQL, response, AUC, spend, cost per MQL.
    assert_eq!(web_row[..6], ["4", "1", "25.0%", "1", "25.0%", "100.0%"]);
    assert_eq!(web_row[8..10], ["300.00", "300.00"]);
    // Sources are stored in lower case.
    let partner_row = row_cells(&html, "by-source", "partner &amp; &lt;co&gt;");
    assert_eq!(partner_row[..4], ["2", "1", "50.0%", "2"]);
    // The chart writes each source's rate with its parts, escaped.
    assert!(html.contains(">50.0% (1 of 2)</text>"), "{html}");
    assert!(html.contains(">25.0% (1 of 4)</text>"));
    assert!(!html.contains("<co>"), "source names are escaped");
    // One won and one lost scored lead: the score's accuracy is known.
    assert!(!html.contains("data-metric=\"accuracy\">—<"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_period_says_no_data_and_a_bad_range_is_explained() {
    let ctx = Ctx::new();
    let mut mgr = ctx.browser("max3", "manager", None).await;
    let html = mgr.get("/ui/dashboard").await.ok();
    assert!(html.contains("No data for this period"));
    assert!(html.contains("data-metric=\"conversion\">—<"));
    assert!(!html.contains("NaN") && !html.contains("inf<"));
    let html = mgr
        .get("/ui/dashboard?from=2026-12-01&to=2026-11-01")
        .await
        .ok();
    assert!(
        html.contains("must be after"),
        "the reversed range is explained"
    );
    let html = mgr.get("/ui/dashboard?weeks=lots").await.ok();
    assert!(html.contains("is not a number of weeks"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sla_breach_is_counted_and_listed_with_a_link_to_its_lead() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 10).await;
    ctx.put(
        "/api/v1/sla/policies/new-1h",
        &ctx.manager,
        json!({ "stage": "new", "minutes": 60, "action": "escalate" }),
    )
    .await
    .expect(StatusCode::OK);
    let id = lead_from(&ctx, "slow@gmail.com", "web").await;
    ctx.post(
        &format!("/api/v1/leads/{id}/assign"),
        &ctx.manager,
        json!({ "rep_id": "rep-1" }),
    )
    .await
    .expect(StatusCode::OK);
    ctx.clock.advance(3 * 3_600_000);
    let state = ctx.state.clone();
    let found = tokio::task::spawn_blocking(move || leadq_server::workers::sla_pass(&state))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.len(), 1, "one breach detected");

    let mut mgr = ctx.browser("max4", "manager", None).await;
    let html = mgr.get("/ui/dashboard").await.ok();
    assert!(html.contains("1 breach detected in the period."), "{html}");
    assert!(html.contains(&format!("<a href=\"/ui/leads/{id}\">{id}</a>")));
    assert!(html.contains("aria-label=\"SLA breaches per week\""));
}
