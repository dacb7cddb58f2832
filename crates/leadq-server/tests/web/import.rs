//! Web UI tests: the import page, the import preview and imports started
//! with a browser session.

use crate::browser::*;
use crate::common::*;
use axum::http::{Method, StatusCode};
use serde_json::Value;

/// Five records: row 3 has a bad email, row 4 repeats row 1; the last
/// column is not a lead field.
const FILE: &str = "\
email,first_name,last_name,company,employees,industry,title,country,Favourite Colour
ada@acme.io,Ada,Lovelace,Acme,1500,software,CEO,US,blue
bob@globex.com,Bob,Marley,Globex,300,fintech,VP Sales,GB,red
not-an-email,Carl,Nash,Initech,50,software,Manager,US,green
ada@acme.io,Ada,Lovelace,Acme,1500,software,CEO,US,blue
dan@umbrella.com,Dan,Ode,Umbrella,20,healthcare,Director,DE,
";

/// Sends a file as app.js does for `data-body="file:file"`: the raw body,
/// the session cookie and the CSRF header.
async fn upload(b: &mut Browser<'_>, path: &str, body: &str) -> Resp {
    let csrf = b.csrf.clone();
    let page = b
        .request(
            Method::POST,
            path,
            &[("content-type", "text/csv"), ("x-csrf-token", &csrf)],
            body.to_string(),
        )
        .await;
    Resp {
        status: page.status,
        body: serde_json::from_str(&page.html).unwrap_or(Value::String(page.html)),
    }
}

fn column<'a>(preview: &'a Value, name: &str) -> &'a Value {
    preview["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .find(|c| c["column"] == name)
        .unwrap_or_else(|| panic!("no column {name}: {preview}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_import_page_offers_every_preset_a_mapping_and_both_actions_with_labels() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut b = ctx.browser("mia2", "marketing", None).await;
    let html = b.get("/ui/import").await.ok();
    for preset in ["hubspot", "salesforce", "generic"] {
        assert!(
            html.contains(&format!("<option value=\"{preset}\">")),
            "{preset}: {html}"
        );
    }
    assert!(
        html.contains("data-api=\"/api/v1/imports/preview\""),
        "{html}"
    );
    assert!(html.contains("data-api=\"/api/v1/imports\""), "{html}");
    assert!(html.contains("data-body=\"file:file\""), "{html}");
    assert!(
        html.contains("data-query=\"format,preset,mapping\""),
        "{html}"
    );
    assert!(html.contains("role=\"alert\""), "{html}");
    for label in ["Lead file", "Format", "Column preset", "Mapping (TOML"] {
        assert!(html.contains(&format!("<label>{label}")), "{label}: {html}");
    }
    assert!(
        !html.contains("No scoring model is published"),
        "a model is published"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_import_preview_names_the_row_and_column_of_a_bad_email_and_maps_columns() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut b = ctx.browser("mia2", "marketing", None).await;
    let p = upload(&mut b, "/api/v1/imports/preview", FILE)
        .await
        .expect(StatusCode::OK);
    assert_eq!(p["format"], "csv", "{p}");
    assert_eq!(p["delimiter"], ",", "{p}");
    assert_eq!(p["headers"].as_array().unwrap().len(), 9, "{p}");
    assert_eq!(column(&p, "email")["maps_to"], "email");
    assert_eq!(column(&p, "employees")["maps_to"], "employees");
    assert_eq!(column(&p, "Favourite Colour")["kind"], "unmapped");
    assert!(column(&p, "Favourite Colour")["maps_to"].is_null());

    let rejects = p["rejects"].as_array().expect("rejects");
    assert_eq!(rejects.len(), 1, "{p}");
    assert_eq!(rejects[0]["row"], 3, "{p}");
    assert_eq!(rejects[0]["line"], 4, "{p}");
    assert_eq!(rejects[0]["column"], "email", "{p}");
    assert_eq!(rejects[0]["value"], "not-an-email", "{p}");
    assert!(!rejects[0]["reason"].as_str().unwrap().is_empty(), "{p}");

    let c = &p["counts"];
    assert_eq!(
        (c["records"].as_u64(), c["accepted"].as_u64()),
        (Some(5), Some(4)),
        "{p}"
    );
    assert_eq!(c["rejected"], 1, "{p}");
    assert_eq!(c["duplicates"], 1, "row 4 repeats row 1: {p}");

    let rows = p["rows"].as_array().expect("cleaned rows");
    assert_eq!(rows.len(), 4, "{p}");
    assert_eq!(rows[0]["row"], 1);
    assert_eq!(rows[0]["lead"]["email"], "ada@acme.io", "{p}");
    assert_eq!(rows[0]["lead"]["company.employees"], 1500.0, "{p}");
    assert_eq!(
        rows[0]["lead"]["seniority"], "c_level",
        "cleaning derives facts: {p}"
    );

    assert!(
        ctx.all_leads(&ctx.admin, "").await.is_empty(),
        "a preview writes nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pasted_mapping_maps_a_renamed_column_and_a_bad_mapping_is_refused_with_its_reason() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut b = ctx.browser("mia2", "marketing", None).await;
    let file = "E-mail;Org\nx@acme.io;Acme\n";
    let mapping = "[columns]\n\"Org\" = \"company\"\n\"E-mail\" = \"email\"\n";
    let p = upload(
        &mut b,
        &format!("/api/v1/imports/preview?mapping={}", enc(mapping)),
        file,
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(p["delimiter"], ";", "{p}");
    assert_eq!(column(&p, "Org")["maps_to"], "company", "{p}");
    assert_eq!(p["rows"][0]["lead"]["company.name"], "Acme", "{p}");

    let bad = upload(
        &mut b,
        &format!(
            "/api/v1/imports/preview?mapping={}",
            enc("[columns]\n\"Org\" = \"employer_name\"\n")
        ),
        file,
    )
    .await;
    bad.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        bad.body.to_string().contains("employer_name"),
        "the refusal names the unknown target: {}",
        bad.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn previewing_before_a_model_is_published_says_one_is_needed() {
    let ctx = Ctx::new();
    let mut b = ctx.browser("mia2", "marketing", None).await;
    let html = b.get("/ui/import").await.ok();
    assert!(html.contains("No scoring model is published"), "{html}");
    let r = upload(&mut b, "/api/v1/imports/preview", FILE).await;
    r.expect_error(StatusCode::CONFLICT, "no_model");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_session_cannot_preview_or_start_an_import() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut b = ctx.browser("max2", "manager", None).await;
    for path in ["/api/v1/imports/preview", "/api/v1/imports"] {
        let r = upload(&mut b, path, FILE).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_started_with_the_session_completes_and_its_rejects_csv_lists_the_bad_row() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut b = ctx.browser("mia2", "marketing", None).await;
    let job = upload(&mut b, "/api/v1/imports?format=csv", FILE)
        .await
        .expect(StatusCode::ACCEPTED);
    let id = job["id"].as_str().expect("a job id").to_string();
    let done = ctx.wait_job(&id).await;
    assert_eq!(done["result"]["created"], 3, "{done}");
    assert_eq!(done["result"]["rejected"], 1, "{done}");

    // The page's link is a plain GET with the session cookie.
    let csv = b.get(&format!("/api/v1/jobs/{id}/rejects")).await.ok();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("row,line,column,value,reason"), "{csv}");
    let bad = lines.next().expect("the bad row");
    assert!(bad.starts_with("3,4,email,not-an-email,"), "{csv}");
    assert_eq!(lines.next(), None, "only the bad row: {csv}");

    // Reopening the page with the job shows its outcome and the report.
    let html = b.get(&format!("/ui/import?job={id}")).await.ok();
    assert!(html.contains(&format!("data-job=\"{id}\"")), "{html}");
    assert!(html.contains("3 accepted"), "{html}");
    assert!(html.contains("1 rejected"), "{html}");
    assert!(
        html.contains(&format!("href=\"/api/v1/jobs/{id}/rejects\"")),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_job_on_the_import_page_shows_the_empty_form() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut b = ctx.browser("mia2", "marketing", None).await;
    let html = b.get("/ui/import?job=job_nope").await.ok();
    assert!(!html.contains("data-job="), "{html}");
    assert!(html.contains("id=\"import-form\""), "{html}");
}
