//! Imports: a CSV body becomes a job whose result counts created, rejected
//! and merged rows; rejects are downloadable; re-importing is idempotent.

use crate::common::{Ctx, DEFAULT_MODEL};
use axum::http::{Method, StatusCode};
use serde_json::Value;

/// Five records: a duplicate of row 1 (row 4) and an invalid email (row 3).
const FILE: &str = "\
email,first_name,last_name,company,employees,industry,title,country
ada@acme.io,Ada,Lovelace,Acme,1500,software,CEO,US
bob@globex.com,Bob,Marley,Globex,300,fintech,VP Sales,GB
not-an-email,Carl,Nash,Initech,50,software,Manager,US
ada@acme.io,Ada,Lovelace,Acme,1500,software,CEO,US
dan@umbrella.com,Dan,Ode,Umbrella,20,healthcare,Director,DE
";

async fn import(ctx: &Ctx, body: &str) -> Value {
    let job = ctx
        .raw(
            Method::POST,
            "/api/v1/imports?format=csv",
            &ctx.marketing,
            "text/csv",
            body.to_string(),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(job["kind"], "import", "{job}");
    let id = job["id"].as_str().expect("a job id").to_string();
    let done = ctx.wait_job(&id).await;
    assert_eq!(done["id"], id.as_str());
    done
}

#[tokio::test(flavor = "multi_thread")]
async fn an_imported_csv_creates_scored_leads_and_reports_rejects_and_merges() {
    let ctx = Ctx::new();
    let model = ctx.publish(DEFAULT_MODEL).await;
    let version = model["version"].as_i64().expect("a version");

    let job = import(&ctx, FILE).await;
    let r = &job["result"];
    assert_eq!(r["records"], 5, "{job}");
    assert_eq!(r["created"], 3, "{job}");
    assert_eq!(r["updated"], 0, "{job}");
    assert_eq!(r["rejected"], 1, "{job}");
    assert_eq!(r["merged"], 1, "{job}");
    assert_eq!(job["total"], 3, "the job counts the leads it wrote: {job}");
    assert_eq!(job["done"], 3, "{job}");
    assert_eq!(job["progress"], 1.0, "{job}");
    assert!(job["finished_at"].is_string(), "{job}");

    let rejects = ctx
        .get(
            &format!("/api/v1/jobs/{}/rejects", job["id"].as_str().unwrap()),
            &ctx.marketing,
        )
        .await
        .expect(StatusCode::OK);
    let csv = rejects.as_str().expect("the rejects are CSV text");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("row,line,column,value,reason"), "{csv}");
    let row: Vec<&str> = lines.next().expect("one reject").splitn(5, ',').collect();
    assert_eq!(row[0], "3", "the third record is named: {csv}");
    assert_eq!(row[1], "4", "on the fourth line of the file: {csv}");
    assert_eq!(row[2], "email", "the column at fault: {csv}");
    assert_eq!(row[3], "not-an-email", "{csv}");
    assert!(!row[4].is_empty(), "with a reason: {csv}");
    assert_eq!(lines.next(), None, "only one row was rejected: {csv}");

    let leads = ctx.all_leads().await;
    let mut emails: Vec<&str> = leads.iter().filter_map(|l| l["email"].as_str()).collect();
    emails.sort();
    assert_eq!(
        emails,
        ["ada@acme.io", "bob@globex.com", "dan@umbrella.com"],
        "the duplicate is merged, the invalid row left out"
    );
    for l in &leads {
        assert_eq!(l["score"]["model_version"], version, "scored: {l}");
        assert!(l["score"]["grade"].is_string(), "{l}");
    }
    let ada = leads.iter().find(|l| l["email"] == "ada@acme.io").unwrap();
    assert_eq!(ada["score"]["grade"], "A", "an enterprise CEO fits: {ada}");
    assert_eq!(ada["company"], "Acme", "{ada}");

    let again = import(&ctx, FILE).await;
    let r = &again["result"];
    assert_eq!(r["created"], 0, "nothing new the second time: {again}");
    assert_eq!(r["updated"], 3, "{again}");
    assert_eq!(r["rejected"], 1, "{again}");
    assert_eq!(r["merged"], 1, "{again}");
    let after = ctx.all_leads().await;
    assert_eq!(after.len(), 3, "no lead was duplicated");
    let mut ids: Vec<&str> = leads.iter().map(|l| l["id"].as_str().unwrap()).collect();
    let mut ids_after: Vec<&str> = after.iter().map(|l| l["id"].as_str().unwrap()).collect();
    ids.sort();
    ids_after.sort();
    assert_eq!(ids, ids_after, "the same leads were updated");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_without_a_published_model_is_refused() {
    let ctx = Ctx::new();
    let r = ctx
        .raw(
            Method::POST,
            "/api/v1/imports",
            &ctx.marketing,
            "text/csv",
            FILE.to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "no_model", "{}", r.body);
    assert!(ctx.all_leads().await.is_empty());
}
