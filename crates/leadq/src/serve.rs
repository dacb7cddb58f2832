//! `leadq serve`, `leadq migrate` and `leadq admin`: the service commands.

use crate::cli::{
    AdminArgs, AdminCommand, PrivacyArgs, PrivacyCommand, ServeArgs, StoreArgs, TasksArgs,
    TasksCommand, UsageError,
};
use anyhow::{Context, Result};
use leadq_server::auth::Role;
use leadq_server::clock::SystemClock;
use leadq_server::{AppState, ServerConfig};
use leadq_store::Store;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

/// `leadq.toml`: the same settings as the flags and `LEADQ_*` variables,
/// which win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    bind: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    /// Largest request body in megabytes.
    body_limit_mb: Option<usize>,
    sla_interval_seconds: Option<u64>,
    webhook_max_attempts: Option<i64>,
    /// Retrain the predictive model when the newest is this many days old
    /// (0 = never).
    retrain_days: Option<u64>,
    /// SMTP server URL (the password is better given in LEADQ_SMTP_URL).
    smtp_url: Option<String>,
    smtp_ca_file: Option<PathBuf>,
    mail_from: Option<String>,
    public_url: Option<String>,
    /// Nurture emails per minute to one recipient domain.
    mail_per_domain_per_minute: Option<u32>,
}

fn config_file(args: &StoreArgs) -> Result<ConfigFile> {
    let (path, required) = match &args.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from("leadq.toml"), false),
    };
    if !path.exists() {
        if required {
            return Err(
                UsageError(format!("config file {} does not exist", path.display())).into(),
            );
        }
        return Ok(ConfigFile::default());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("{} is not a valid leadq configuration", path.display()))
}

struct Resolved {
    database_url: Option<String>,
    data_dir: PathBuf,
    file: ConfigFile,
}

fn resolve(args: &StoreArgs) -> Result<Resolved> {
    let file = config_file(args)?;
    let database_url = args.database_url.clone().or_else(|| {
        if args.data_dir.is_some() {
            None
        } else {
            file.database_url.clone()
        }
    });
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("leadq-data"));
    Ok(Resolved {
        database_url,
        data_dir,
        file,
    })
}

fn open(r: &Resolved) -> Result<(Arc<dyn Store>, Vec<String>)> {
    leadq_store::open_migrated(r.database_url.as_deref(), &r.data_dir).with_context(|| {
        match &r.database_url {
            Some(url) => format!("cannot open the database {}", leadq_store::redact_url(url)),
            None => format!("cannot open the database in {}", r.data_dir.display()),
        }
    })
}

fn describe(r: &Resolved) -> String {
    match &r.database_url {
        Some(url) => format!("PostgreSQL {}", leadq_store::redact_url(url)),
        None => format!("SQLite {}", r.data_dir.join("leadq.db").display()),
    }
}

pub fn migrate(args: StoreArgs) -> Result<()> {
    let r = resolve(&args)?;
    let (_, applied) = open(&r)?;
    if applied.is_empty() {
        println!("{}: up to date", describe(&r));
    } else {
        println!("{}: applied {}", describe(&r), applied.join(", "));
    }
    Ok(())
}

/// `leadq privacy export|erase`: the same use cases as the API, on the
/// store `leadq serve` would open.
/// `leadq tasks …`: the same store flags as `leadq admin`.
pub fn tasks(args: TasksArgs) -> Result<()> {
    let api_error = |e: leadq_server::error::ApiError| match e.status.as_u16() {
        400 | 404 | 409 | 422 => anyhow::Error::new(UsageError(e.message)),
        _ => anyhow::anyhow!(e.message),
    };
    let state_of = |store: &StoreArgs| -> Result<AppState> {
        let r = resolve(store)?;
        let (store, _) = open(&r)?;
        Ok(AppState::new(
            store,
            Arc::new(SystemClock),
            ServerConfig::default(),
        )?)
    };
    let actor = format!("cli:{}", whoami());
    let print = |t: &leadq_store::TaskRow| {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            t.id,
            leadq_server::clock::rfc3339(t.due_at),
            t.status,
            t.owner.as_deref().unwrap_or("-"),
            t.kind,
            t.lead_id,
            t.title
        )
    };
    let open_task = |state: &AppState, id: &str| -> Result<leadq_store::TaskRow> {
        let t = state
            .store
            .task(id)?
            .ok_or_else(|| UsageError(format!("no task {id}")))?;
        if t.status != "open" {
            return Err(UsageError(format!("task {id} is already {}", t.status)).into());
        }
        Ok(t)
    };
    match args.command {
        TasksCommand::List {
            store,
            owner,
            overdue,
            json,
        } => {
            let state = state_of(&store)?;
            let now = jiff::Timestamp::now().as_millisecond();
            let rows = state.store.list_tasks(&leadq_store::TaskFilter {
                owner,
                status: Some("open".into()),
                due_before: overdue.then_some(now),
                limit: 10_000,
                ..Default::default()
            })?;
            if json {
                let list: Vec<serde_json::Value> =
                    rows.iter().map(leadq_server::tasks::task_view).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "tasks": list }))?
                );
            } else {
                println!("id\tdue\tstatus\towner\tkind\tlead\ttitle");
                rows.iter().for_each(print);
            }
            Ok(())
        }
        TasksCommand::Add {
            store,
            lead,
            title,
            kind,
            due_hours,
        } => {
            if !(due_hours.is_finite() && due_hours >= 0.0) {
                return Err(UsageError("--due-hours must be 0 or more".into()).into());
            }
            let state = state_of(&store)?;
            let t = leadq_server::tasks::create_task(
                &state,
                leadq_server::tasks::NewTask {
                    lead_id: lead,
                    kind,
                    title,
                    notes: None,
                    due_business_minutes: Some((due_hours * 60.0).round() as i64),
                    due_at: None,
                    origin: format!("manual:{actor}"),
                    created_by: actor.clone(),
                },
            )
            .map_err(api_error)?;
            print(&t);
            Ok(())
        }
        TasksCommand::Complete { store, id } => {
            let state = state_of(&store)?;
            let mut t = open_task(&state, &id)?;
            t.status = "done".into();
            t.completed_at = Some(jiff::Timestamp::now().as_millisecond());
            t.completed_by = Some(actor);
            state.store.update_task(&t)?;
            print(&t);
            Ok(())
        }
        TasksCommand::Snooze {
            store,
            id,
            until,
            hours,
        } => {
            let state = state_of(&store)?;
            let mut t = open_task(&state, &id)?;
            let now = jiff::Timestamp::now().as_millisecond();
            let due = match (until, hours) {
                (Some(u), _) => u
                    .parse::<jiff::Timestamp>()
                    .map_err(|e| UsageError(format!("--until is not an RFC 3339 instant: {e}")))?
                    .as_millisecond(),
                (None, Some(h)) if h.is_finite() && h > 0.0 => leadq_server::tasks::due_after(
                    &state,
                    t.owner.as_deref(),
                    now,
                    (h * 60.0).round() as i64,
                ),
                _ => return Err(UsageError("give --until or --hours (more than 0)".into()).into()),
            };
            if due <= now {
                return Err(UsageError("the new due time must be in the future".into()).into());
            }
            t.due_at = due;
            t.snoozed += 1;
            t.overdue_notified_at = None;
            state.store.update_task(&t)?;
            print(&t);
            Ok(())
        }
    }
}

pub fn privacy(args: PrivacyArgs) -> Result<()> {
    let api_error = |e: leadq_server::error::ApiError| match e.status.as_u16() {
        400 | 422 => anyhow::Error::new(UsageError(e.message)),
        _ => anyhow::anyhow!(e.message),
    };
    match args.command {
        PrivacyCommand::Export {
            store,
            email,
            output,
        } => {
            let r = resolve(&store)?;
            let (store, _) = open(&r)?;
            let state = AppState::new(store, Arc::new(SystemClock), ServerConfig::default())?;
            let doc = leadq_server::privacy::export_person(&state, &email).map_err(api_error)?;
            let text = serde_json::to_string_pretty(&doc)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, text + "\n")
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "exported {} lead(s) about {email} to {}",
                        doc["leads"].as_array().map_or(0, Vec::len),
                        path.display()
                    );
                }
                None => println!("{text}"),
            }
            Ok(())
        }
        PrivacyCommand::Erase { store, email } => {
            let r = resolve(&store)?;
            let (store, _) = open(&r)?;
            let state = AppState::new(store, Arc::new(SystemClock), ServerConfig::default())?;
            let actor = format!("cli:{}", whoami());
            let audit =
                leadq_server::privacy::erase_person(&state, &email, &actor).map_err(api_error)?;
            println!("{}", serde_json::to_string_pretty(&audit)?);
            Ok(())
        }
    }
}

/// The operating-system user running the command, for the audit entry.
fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn admin(args: AdminArgs) -> Result<()> {
    match args.command {
        AdminCommand::CreateToken {
            store,
            role,
            name,
            rep_id,
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                UsageError(format!(
                    "--role '{role}' is not admin, marketing, manager or rep"
                ))
            })?;
            if role == Role::Rep && rep_id.is_none() {
                return Err(UsageError("a rep token needs --rep-id".into()).into());
            }
            let r = resolve(&store)?;
            let (store, _) = open(&r)?;
            let state = AppState::new(store, Arc::new(SystemClock), ServerConfig::default())?;
            let (_, token) =
                leadq_server::api::issue_token(&state, &name, role, rep_id.as_deref(), None)
                    .map_err(|e| anyhow::anyhow!(e.message))?;
            println!("{token}");
            eprintln!(
                "token '{name}' with role {} created; it is shown only now",
                role.as_str()
            );
            Ok(())
        }
        AdminCommand::SetPassword { store, name } => {
            let hash = read_password()?;
            let r = resolve(&store)?;
            let (store, _) = open(&r)?;
            if !store.set_password(&name, Some(hash))? {
                return Err(UsageError(format!("there is no user named '{name}'")).into());
            }
            eprintln!("password of '{name}' set");
            Ok(())
        }
        AdminCommand::CreateUser {
            store,
            name,
            role,
            rep_id,
            password_stdin,
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                UsageError(format!(
                    "--role '{role}' is not admin, marketing, manager or rep"
                ))
            })?;
            if role == Role::Rep && rep_id.is_none() {
                return Err(UsageError("a rep user needs --rep-id".into()).into());
            }
            let password_hash = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let r = resolve(&store)?;
            let (store, _) = open(&r)?;
            let state = AppState::new(store, Arc::new(SystemClock), ServerConfig::default())?;
            let now = jiff::Timestamp::now().as_millisecond();
            let id = leadq_server::auth::new_id("usr");
            state
                .store
                .create_user(leadq_store::UserRow {
                    id: id.clone(),
                    name: name.clone(),
                    role: role.as_str().into(),
                    password_hash,
                    rep_id: rep_id.clone(),
                    created_at: now,
                })
                .map_err(|e| match e {
                    leadq_store::StoreError::Conflict(_) => {
                        anyhow::anyhow!("a user named '{name}' already exists")
                    }
                    other => other.into(),
                })?;
            let (_, token) =
                leadq_server::api::issue_token(&state, &name, role, rep_id.as_deref(), Some(&id))
                    .map_err(|e| anyhow::anyhow!(e.message))?;
            println!("{token}");
            eprintln!(
                "user '{name}' ({}) created with a token; the token is shown only now",
                role.as_str()
            );
            Ok(())
        }
    }
}

/// The first line of stdin as a password, checked and hashed.
fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    leadq_server::api::password_hash_of(password).map_err(|e| UsageError(e.message).into())
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LEADQ_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let r = resolve(&args.store)?;
    let bind = args
        .bind
        .clone()
        .or_else(|| r.file.bind.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let mut config = ServerConfig::default();
    if let Some(mb) = r.file.body_limit_mb {
        config.body_limit = mb * 1024 * 1024;
    }
    if let Some(s) = r.file.sla_interval_seconds {
        config.sla_interval = std::time::Duration::from_secs(s.max(1));
    }
    if let Some(n) = r.file.webhook_max_attempts {
        config.webhook_max_attempts = n.max(1);
    }
    config.retrain_days = match std::env::var("LEADQ_RETRAIN_DAYS") {
        Ok(v) => v.trim().parse().map_err(|_| {
            UsageError(format!(
                "LEADQ_RETRAIN_DAYS must be a whole number of days, not '{v}'"
            ))
        })?,
        Err(_) => r.file.retrain_days.unwrap_or(0),
    };
    if let Some(url) = args.smtp_url.clone().or_else(|| r.file.smtp_url.clone()) {
        let from = args
            .mail_from
            .clone()
            .or_else(|| r.file.mail_from.clone())
            .ok_or_else(|| {
                UsageError("an SMTP server needs a sender: --mail-from or LEADQ_MAIL_FROM".into())
            })?;
        let public_url = args
            .public_url
            .clone()
            .or_else(|| r.file.public_url.clone())
            .unwrap_or_else(|| format!("http://{bind}"));
        let mut mail = leadq_server::nurture::MailConfig::from_url(&url, &from, &public_url)
            .map_err(|e| UsageError(format!("SMTP settings: {e}")))?;
        if let Some(ca) = args
            .smtp_ca_file
            .clone()
            .or_else(|| r.file.smtp_ca_file.clone())
        {
            let pem = std::fs::read(&ca)
                .with_context(|| format!("cannot read the SMTP CA file {}", ca.display()))?;
            mail = mail
                .with_ca_pem(pem)
                .map_err(|e| UsageError(format!("{}: {e}", ca.display())))?;
        }
        if let Some(n) = r.file.mail_per_domain_per_minute {
            mail.per_domain_per_minute = n.max(1);
        }
        config.mail = Some(mail);
    }
    let (store, applied) = open(&r)?;
    if !applied.is_empty() {
        eprintln!("{}: applied {}", describe(&r), applied.join(", "));
    }
    let state = AppState::new(store, Arc::new(SystemClock), config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&bind)
            .await
            .map_err(|e| UsageError(format!("cannot listen on {bind}: {e}")))?;
        let addr = listener.local_addr()?;
        if args.demo {
            let s = state.clone();
            let n = args.demo_leads;
            let (token, password) = tokio::task::spawn_blocking(move || seed_demo(&s, n)).await??;
            println!("leadq demo: http://{addr}/ui");
            if let Some(password) = password {
                println!(
                    "sign in as admin, manager, marketer or nora (a rep) with password: {password}"
                );
            }
            println!("API: http://{addr}/api/v1/openapi.json");
            println!("admin token: {token}");
            println!(
                "try: curl -H 'Authorization: Bearer {token}' 'http://{addr}/api/v1/leads?limit=5'"
            );
        }
        eprintln!("leadq listening on http://{addr} ({})", describe(&r));
        leadq_server::serve(state, listener, shutdown_signal()).await?;
        eprintln!("leadq stopped");
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Fills an empty store with a demo company; returns a fresh admin token
/// (a store that already has leads only gets the token).
fn seed_demo(state: &AppState, people: usize) -> Result<(String, Option<String>)> {
    let err = |e: leadq_server::error::ApiError| anyhow::anyhow!("{}: {}", e.code, e.message);
    let (_, token) = leadq_server::api::issue_token(state, "demo admin", Role::Admin, None, None)
        .map_err(err)?;
    if state.store.count_leads()? > 0 || !state.store.list_models()?.is_empty() {
        eprintln!("the store already holds data; --demo only created a new admin token");
        return Ok((token, None));
    }
    let now = jiff::Timestamp::now().as_millisecond();
    // A fresh password per demo store, printed once: a demo reachable from
    // a network is not left with a well-known password.
    let password = leadq_server::auth::new_token()[3..19].to_string();
    let dir = tempfile_dir()?;
    let spec = crate::demo::Spec {
        people,
        seed: 42,
        events_per_lead: 8.0,
        as_of: now / 1000,
    };
    crate::demo::generate(&spec, &dir)?;
    let model = state
        .store
        .create_model("demo model", crate::demo::DEFAULT_MODEL, "demo", now)?;
    let published = state.store.publish_model(model.id, now)?;
    state.set_model(Arc::new(leadq_server::engine::ActiveModel {
        compiled: leadq_core::CompiledModel::from_toml(&published.source)?,
        row: published,
    }));
    for (id, name, tz, hours, territory) in [
        ("rep-na", "Nora (NA)", "America/New_York", "always", "NA"),
        ("rep-emea", "Emil (EMEA)", "Europe/Berlin", "always", "EMEA"),
        ("rep-apac", "Aiko (APAC)", "Asia/Tokyo", "always", "APAC"),
        (
            "rep-latam",
            "Luis (LATAM)",
            "America/Sao_Paulo",
            "always",
            "LATAM",
        ),
        ("rep-float", "Frida (any)", "UTC", "always", ""),
    ] {
        state.store.upsert_rep(leadq_store::RepRow {
            id: id.into(),
            name: name.into(),
            email: Some(format!("{id}@example.com")),
            capacity: 10_000,
            timezone: tz.into(),
            working_hours: hours.into(),
            territory: serde_json::json!(if territory.is_empty() {
                vec![]
            } else {
                vec![territory]
            })
            .to_string(),
            active: true,
            last_assigned_at: None,
            created_at: now,
        })?;
    }
    let rules: Vec<String> = ["NA", "EMEA", "APAC", "LATAM"]
        .iter()
        .map(|region| {
            serde_json::json!({ "name": format!("{region} territory"), "regions": [region], "reps": [format!("rep-{}", region.to_lowercase())] }).to_string()
        })
        .collect();
    state.store.set_routing_rules(rules)?;
    // Follow-up tasks: a call for every MQL a rep is given, a proposal for
    // every SQL.
    state.store.set_setting(
        leadq_server::tasks::SETTING,
        &serde_json::json!([
            { "id": "call-new-mql", "on": "assigned", "stages": ["mql"], "kind": "call", "title": "Call the new MQL", "due_business_minutes": 120 },
            { "id": "send-proposal", "on": "stage", "stage": "sql", "kind": "proposal", "title": "Send a proposal", "due_business_minutes": 480 }
        ])
        .to_string(),
    )?;
    state.reload_task_rules()?;
    for (name, role, rep_id) in [
        ("admin", Role::Admin, None),
        ("manager", Role::Manager, None),
        ("marketer", Role::Marketing, None),
        ("nora", Role::Rep, Some("rep-na")),
    ] {
        state.store.create_user(leadq_store::UserRow {
            id: leadq_server::auth::new_id("usr"),
            name: name.into(),
            role: role.as_str().into(),
            password_hash: Some(leadq_server::auth::hash_password(&password).map_err(err)?),
            rep_id: rep_id.map(String::from),
            created_at: now,
        })?;
    }
    state.store.upsert_sla_policy(leadq_store::SlaPolicyRow {
        id: "mql-2h".into(),
        stage: "mql".into(),
        minutes: 120,
        action: "escalate".into(),
        escalate_to: Some("sales-manager".into()),
        active: true,
        created_at: now,
    })?;
    // Weekly spend on the paid sources over the last half year, so the
    // dashboard's cost per qualified lead has something to divide.
    let week = 7 * 86_400_000;
    let this_monday = now - (now.div_euclid(86_400_000) + 3).rem_euclid(7) * 86_400_000;
    let spend: Vec<leadq_store::SpendRow> = (0..26)
        .flat_map(|w| {
            [
                ("paid search", 1800.0),
                ("paid social", 1200.0),
                ("event", 900.0),
                ("webinar", 400.0),
            ]
            .into_iter()
            .map(move |(source, amount)| leadq_store::SpendRow {
                source: source.into(),
                campaign: String::new(),
                period_start: this_monday - this_monday.rem_euclid(86_400_000) - w * week,
                amount: amount + (w % 5) as f64 * 40.0,
            })
        })
        .collect();
    state.store.set_spend(spend)?;
    let leads = std::fs::read(dir.join("leads.csv"))?;
    let report = leadq_server::workers::run_import(
        state,
        &state.model().expect("published above").compiled,
        &leads,
        leadq_ingest::InputFormat::Csv,
        &state.mapping,
        "demo",
        &Default::default(),
    )
    .map_err(err)?;
    eprintln!(
        "demo: imported {} leads ({} rejected, {} merged)",
        report["created"], report["rejected"], report["merged"]
    );
    // Events, in batches, through the same path as the API.
    let mut rdr = csv::Reader::from_path(dir.join("events.csv"))?;
    let mut batch = Vec::new();
    let svc = leadq_server::service::Service::new(state);
    let mut n = 0;
    for rec in rdr.records() {
        let rec = rec?;
        let at = rec
            .get(3)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_millisecond())
            .unwrap_or(now);
        let url = rec.get(4).unwrap_or("");
        batch.push(leadq_store::EventRow {
            seq: 0,
            lead_id: rec.get(1).unwrap_or("").to_string(),
            kind: rec.get(2).unwrap_or("").to_string(),
            at,
            props: serde_json::json!({ "url": url }).to_string(),
            idempotency_key: format!("demo:{}", rec.get(0).unwrap_or("")),
            received_at: now,
        });
        if batch.len() == 5000 {
            n += batch.len();
            let known: Vec<_> = std::mem::take(&mut batch);
            record_known(state, &svc, known)?;
        }
    }
    n += batch.len();
    record_known(state, &svc, batch)?;
    eprintln!("demo: recorded {n} events");
    // Outcomes: walk converted leads to won and the others that closed to lost.
    state.store.set_setting("sql_framework", "none")?;
    let admin = leadq_server::auth::Principal {
        token_id: "demo".into(),
        name: "demo".into(),
        role: Role::Admin,
        rep_id: None,
    };
    let mut rdr = csv::Reader::from_path(dir.join("outcomes.csv"))?;
    let (mut won, mut lost) = (0, 0);
    for rec in rdr.records() {
        let rec = rec?;
        let id = rec.get(0).unwrap_or("");
        let outcome = rec.get(2).unwrap_or("");
        let Ok(Some(lead)) = state.store.lead(id) else {
            continue;
        };
        let path: &[(&str, Option<&str>)] = match outcome {
            "won" => &[
                ("sal", None),
                ("sql", None),
                ("opportunity", None),
                ("won", None),
            ],
            "lost" => &[
                ("sal", None),
                ("sql", None),
                ("lost", Some("chose a competitor")),
            ],
            _ => continue,
        };
        let mut stage = lead.stage.clone();
        for (to, reason) in path {
            let target = leadq_core::lifecycle::Stage::parse(to).expect("known stage");
            if stage == *to {
                continue;
            }
            match svc.transition(&admin, id, target, *reason) {
                Ok(row) => stage = row.stage,
                Err(_) => break,
            }
        }
        if stage == "won" {
            won += 1;
        } else if stage == "lost" {
            lost += 1;
        }
    }
    state.store.set_setting("sql_framework", "BANT")?;
    eprintln!("demo: {won} won and {lost} lost leads");
    train_demo_champion(state);
    seed_demo_nurture(state, now).map_err(err)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((token, Some(password)))
}

/// Two email templates and a nurture sequence for poor fits, enrolled by
/// rule. Without `--smtp-url` its email waits in the outbox, which the lead
/// pages show.
fn seed_demo_nurture(state: &AppState, now: i64) -> Result<(), leadq_server::error::ApiError> {
    for (id, name, subject, body) in [
        (
            "nurture-intro",
            "Nurture: introduction",
            "{{ lead.company | default('Your team') }} and faster lead follow-up",
            "Hi {{ lead.first_name | default('there') }},\n\nteams like {{ lead.company | default('yours') }} use us to answer every lead within minutes. A two-minute overview: https://example.com/overview\n\n{{ sender.name }}",
        ),
        (
            "nurture-case-study",
            "Nurture: case study",
            "How a team like yours doubled its qualified pipeline",
            "Hi {{ lead.first_name | default('there') }},\n\nthe case study: https://example.com/customers/case-study\n\n{{ sender.name }}",
        ),
    ] {
        state.store.put_template(leadq_store::TemplateRow {
            id: id.into(),
            name: name.into(),
            subject: subject.into(),
            body: body.into(),
            purpose: "marketing".into(),
            created_at: now,
            updated_at: now,
            updated_by: "demo".into(),
        })?;
    }
    let definition: leadq_core::nurture::SequenceDef = serde_json::from_value(serde_json::json!({
        "name": "Nurture C and D fits",
        "enrol_when": "grade in [\"C\", \"D\"] && !(stage in [\"won\", \"lost\", \"disqualified\"])",
        "steps": [
            {"type": "email", "template": "nurture-intro"},
            {"type": "wait", "business_days": 3},
            {"type": "branch", "when": "emails_opened > 0", "then": "end", "otherwise": "case"},
            {"type": "email", "id": "case", "template": "nurture-case-study"}
        ]
    }))
    .map_err(|e| leadq_server::error::ApiError::internal(e.to_string()))?;
    let seq = leadq_server::nurture::compile(state, definition)?;
    state.store.put_sequence(leadq_store::SequenceRow {
        id: "nurture".into(),
        name: seq.def.name.clone(),
        definition: serde_json::to_string(&seq.def)
            .map_err(|e| leadq_server::error::ApiError::internal(e.to_string()))?,
        active: true,
        created_at: now,
        updated_at: now,
    })?;
    let enrolled = leadq_server::nurture::enrol_pass(state)?;
    eprintln!("demo: nurture sequence with {enrolled} leads enrolled");
    Ok(())
}

/// Learns the demo's first predictive model (the champion) from the
/// outcomes just recorded and predicts every lead, so the queue and lead
/// pages show probabilities from the start. Too few outcomes (a tiny demo)
/// only skips it: the demo works without a predictive model.
fn train_demo_champion(state: &AppState) {
    use leadq_server::predictive;
    let trained = predictive::outcomes(state).and_then(|o| {
        let request = predictive::TrainRequest {
            algorithm: leadq_predict::Algorithm::Gbdt,
            folds: 5,
            by: "demo".into(),
        };
        let progress = leadq_server::jobs::Progress::default();
        let row = predictive::train_model(state, &o, &request, &progress)?;
        let predicted = predictive::predict_all(state, &progress)?;
        Ok((row, predicted))
    });
    match trained {
        Ok((row, predicted)) => {
            let auc = serde_json::from_str::<serde_json::Value>(&row.metrics)
                .ok()
                .and_then(|m| m["cv"]["auc"].as_f64());
            eprintln!(
                "demo: predictive model v{} trained on {} outcomes (cross-validated AUC {}); {predicted} leads predicted",
                row.version,
                row.rows,
                auc.map_or("n/a".to_string(), |a| format!("{a:.3}"))
            );
        }
        Err(e) => eprintln!("demo: no predictive model: {}", e.message),
    }
}

fn record_known(
    state: &AppState,
    svc: &leadq_server::service::Service<'_>,
    batch: Vec<leadq_store::EventRow>,
) -> Result<()> {
    let ids: Vec<String> = batch.iter().map(|e| e.lead_id.clone()).collect();
    let known: std::collections::HashSet<String> = state
        .store
        .leads_by_ids(&ids)?
        .into_iter()
        .map(|l| l.id)
        .collect();
    let batch: Vec<_> = batch
        .into_iter()
        .filter(|e| known.contains(&e.lead_id))
        .collect();
    svc.record_events(batch, true)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("leadq-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
