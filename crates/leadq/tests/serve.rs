//! `leadq serve` as a real child process: durability under `kill -9`,
//! graceful shutdown, and the admin commands.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn leadq() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("leadq"))
}

fn admin_token(data: &Path) -> String {
    let out = leadq()
        .args([
            "admin",
            "create-token",
            "--role",
            "admin",
            "--name",
            "test",
            "--data-dir",
        ])
        .arg(data)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert!(token.starts_with("lq_"), "token on stdout: {token}");
    token
}

/// Starts the server on a free port; returns it with its base URL.
fn start(data: &Path) -> (Child, String) {
    let mut child = leadq()
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("LEADQ_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let Some(stderr) = child.stderr.take() else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("stderr is piped");
    };
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        let line = match lines.next() {
            Some(Ok(line)) if Instant::now() < deadline => line,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not report its address");
            }
        };
        if let Some(rest) = line.strip_prefix("leadq listening on ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (child, url)
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[test]
fn every_acknowledged_write_survives_kill_9_of_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = admin_token(dir.path());
    let (mut child, url) = start(dir.path());
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let acked_events: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (acked, acked_events, stop, url, token) = (
            acked.clone(),
            acked_events.clone(),
            stop.clone(),
            url.clone(),
            token.clone(),
        );
        writers.push(std::thread::spawn(move || {
            let c = client();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("w{w}-{i}");
                let lead = serde_json::json!({ "id": id, "email": format!("{id}@example.com"), "company": "Acme" });
                match c.post(format!("{url}/api/v1/leads")).bearer_auth(&token).json(&lead).send() {
                    Ok(r) if r.status().is_success() => acked.lock().expect("lock").push(id.clone()),
                    _ => {}
                }
                let ev = serde_json::json!({ "lead_id": id, "type": "page_view", "idempotency_key": format!("ev-{id}") });
                match c.post(format!("{url}/api/v1/events")).bearer_auth(&token).json(&ev).send() {
                    Ok(r) if r.status().is_success() => acked_events.lock().expect("lock").push(id.clone()),
                    _ => {}
                }
                i += 1;
            }
        }));
    }
    // Let the writers get well going, then pull the plug mid-stream.
    let t = Instant::now();
    while acked.lock().expect("lock").len() < 200 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    let acked = acked.lock().expect("lock").clone();
    let acked_events = acked_events.lock().expect("lock").clone();
    assert!(
        acked.len() >= 200,
        "writers made progress before the kill: {}",
        acked.len()
    );

    let (mut child, url) = start(dir.path());
    let c = client();
    for id in &acked {
        let r = c
            .get(format!("{url}/api/v1/leads/{id}"))
            .bearer_auth(&token)
            .send()
            .expect("get");
        assert_eq!(
            r.status(),
            200,
            "acknowledged lead {id} is missing after kill -9"
        );
    }
    for id in &acked_events {
        let r: serde_json::Value = c
            .get(format!("{url}/api/v1/leads/{id}/events"))
            .bearer_auth(&token)
            .send()
            .expect("get")
            .json()
            .expect("json");
        assert_eq!(
            r["events"].as_array().map(Vec::len),
            Some(1),
            "acknowledged event of {id} is missing or doubled"
        );
    }
    child.kill().expect("stop");
    let _ = child.wait();
}

#[test]
fn sigterm_stops_the_server_gracefully_and_its_data_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = admin_token(dir.path());
    let (mut child, url) = start(dir.path());
    let r = client()
        .post(format!("{url}/api/v1/leads"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "email": "ada@example.com" }))
        .send()
        .expect("post");
    assert_eq!(r.status(), 201);
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "graceful stop exits 0, got {exit:?}");
    let out = leadq()
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
}

#[test]
fn a_token_for_an_unknown_rep_is_refused_with_exit_code_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = leadq()
        .args([
            "admin",
            "create-token",
            "--role",
            "rep",
            "--name",
            "x",
            "--rep-id",
            "nobody",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));
    let out = leadq()
        .args([
            "admin",
            "create-token",
            "--role",
            "king",
            "--name",
            "x",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "a bad role is a usage error");
}

fn stop(child: &mut Child) {
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn privacy(command: &str, email: &str, data: &Path) -> std::process::Output {
    leadq()
        .args(["privacy", command, "--email", email, "--data-dir"])
        .arg(data)
        .output()
        .expect("runs")
}

fn json_stdout(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn privacy_export_prints_a_person_and_privacy_erase_removes_them_from_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = admin_token(dir.path());
    let (mut child, url) = start(dir.path());
    for email in ["ada@example.com", "bob@example.com"] {
        let r = client()
            .post(format!("{url}/api/v1/leads"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "email": email, "phone": "+44 20 7946 0018" }))
            .send()
            .expect("post");
        assert_eq!(r.status(), 201);
        let r = client()
            .post(format!("{url}/api/v1/events"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "email": email, "type": "form_submit" }))
            .send()
            .expect("post");
        assert_eq!(r.status(), 202);
    }
    stop(&mut child);

    let export = json_stdout(&privacy("export", "ADA@example.com", dir.path()));
    assert_eq!(export["email"], "ada@example.com");
    assert_eq!(export["leads"].as_array().unwrap().len(), 1, "{export}");
    assert_eq!(export["leads"][0]["lead"]["email"], "ada@example.com");
    assert_eq!(
        export["leads"][0]["lead"]["fields"]["phone"],
        "+44 20 7946 0018"
    );
    assert_eq!(export["leads"][0]["events"][0]["type"], "form_submit");
    let file = dir.path().join("ada.json");
    let out = leadq()
        .args([
            "privacy",
            "export",
            "--email",
            "ada@example.com",
            "--output",
        ])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(out.status.success());
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("written")).expect("JSON");
    assert_eq!(written["leads"], export["leads"]);

    let audit = json_stdout(&privacy("erase", "ada@example.com", dir.path()));
    assert_eq!(audit["removed"]["leads"], 1, "{audit}");
    assert_eq!(audit["removed"]["events"], 1);
    assert_eq!(audit["reason"], "request");
    assert!(audit["actor"].as_str().unwrap().starts_with("cli:"));
    assert!(!audit.to_string().contains("ada@"));

    let after = json_stdout(&privacy("export", "ada@example.com", dir.path()));
    assert_eq!(after["leads"], serde_json::json!([]));
    let other = json_stdout(&privacy("export", "bob@example.com", dir.path()));
    assert_eq!(other["leads"].as_array().unwrap().len(), 1);

    let bad = privacy("erase", "not-an-address", dir.path());
    assert_eq!(bad.status.code(), Some(2), "a usage mistake");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("email"));
}

fn tasks(args: &[&str], data: &Path) -> std::process::Output {
    leadq()
        .arg("tasks")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("runs")
}

#[test]
fn tasks_are_added_listed_snoozed_and_completed_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = admin_token(dir.path());
    let (mut child, url) = start(dir.path());
    let r = client()
        .post(format!("{url}/api/v1/leads"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "email": "tess@example.com" }))
        .send()
        .expect("post");
    assert_eq!(r.status(), 201);
    let lead: serde_json::Value = r.json().expect("JSON");
    let lead = lead["id"].as_str().unwrap().to_string();
    stop(&mut child);

    let added = tasks(
        &[
            "add",
            "--lead",
            &lead,
            "--title",
            "Call Tess",
            "--kind",
            "call",
            "--due-hours",
            "2",
        ],
        dir.path(),
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let listed = json_stdout(&tasks(&["list", "--json"], dir.path()));
    let list = listed["tasks"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{listed}");
    assert_eq!(list[0]["title"], "Call Tess");
    assert_eq!(list[0]["lead_id"], lead.as_str());
    let id = list[0]["id"].as_str().unwrap().to_string();
    let due = list[0]["due_at"].as_str().unwrap().to_string();

    assert!(tasks(&["snooze", &id, "--hours", "4"], dir.path())
        .status
        .success());
    let listed = json_stdout(&tasks(&["list", "--json"], dir.path()));
    assert!(listed["tasks"][0]["due_at"].as_str().unwrap() > due.as_str());
    assert_eq!(listed["tasks"][0]["snoozed"], 1);

    assert!(tasks(&["complete", &id], dir.path()).status.success());
    let again = tasks(&["complete", &id], dir.path());
    assert_eq!(
        again.status.code(),
        Some(2),
        "completing twice is a usage mistake"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already done"));
    let listed = json_stdout(&tasks(&["list", "--json"], dir.path()));
    assert_eq!(listed["tasks"], serde_json::json!([]));
    let bad = tasks(
        &["add", "--lead", &lead, "--title", "x", "--kind", "fax"],
        dir.path(),
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_rescore_cut_short_by_a_stop_is_failed_and_run_again_when_the_server_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = admin_token(dir.path());
    let (mut child, url) = start(dir.path());
    let c = client();
    let publish = |source: &str| -> serde_json::Value {
        let m: serde_json::Value = c
            .post(format!("{url}/api/v1/models"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "name": "model", "source": source }))
            .send()
            .expect("create")
            .json()
            .expect("json");
        c.post(format!("{url}/api/v1/models/{}/publish", m["id"]))
            .bearer_auth(&token)
            .send()
            .expect("publish")
            .json()
            .expect("json")
    };
    let job_of = |url: &str, id: &str| -> serde_json::Value {
        c.get(format!("{url}/api/v1/jobs/{id}"))
            .bearer_auth(&token)
            .send()
            .expect("job")
            .json()
            .expect("json")
    };
    let model = include_str!("../../../examples/default-model.toml");
    let first = publish(model);
    let first_job = first["job"]["id"].as_str().expect("a job").to_string();
    let t = Instant::now();
    while job_of(&url, &first_job)["status"] != "done" {
        assert!(t.elapsed() < Duration::from_secs(30), "first re-score ends");
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..30 {
        let lead = serde_json::json!({ "id": format!("r-{i}"), "email": format!("r{i}@acme-{i}.com"), "employees": 1500, "industry": "software" });
        let r = c
            .post(format!("{url}/api/v1/leads"))
            .bearer_auth(&token)
            .json(&lead)
            .send()
            .expect("post");
        assert!(r.status().is_success(), "lead {i}: {}", r.status());
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // What a server killed in the middle of a re-score leaves in its store:
    // the new version published, its job `running`, the leads still on v1.
    let store = leadq_store::open(None, dir.path()).expect("the store opens");
    let now = 1_795_000_000_000;
    let revised = model.replacen("points = 20\n", "points = 25\n", 1);
    let draft = store
        .create_model("v2", &revised, "test", now)
        .expect("draft");
    let v2 = store
        .publish_model(draft.id, now)
        .expect("publish")
        .version
        .expect("a version");
    let orphan = leadq_store::JobRow {
        id: "job-cut-short".into(),
        kind: "rescore".into(),
        status: "running".into(),
        total: 30,
        done: 12,
        result: None,
        error: None,
        created_at: now,
        finished_at: None,
    };
    store.put_job(orphan).expect("job");
    drop(store);

    let (mut child, url) = start(dir.path());
    let cut = job_of(&url, "job-cut-short");
    assert_eq!(cut["status"], "failed", "{cut}");
    assert!(
        cut["error"].as_str().unwrap_or("").contains("interrupted"),
        "{cut}"
    );
    let t = Instant::now();
    loop {
        let lead: serde_json::Value = c
            .get(format!("{url}/api/v1/leads/r-29"))
            .bearer_auth(&token)
            .send()
            .expect("get")
            .json()
            .expect("json");
        if lead["score"]["model_version"] == v2 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the leads reach v2 again: {lead}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(&mut child);
}
