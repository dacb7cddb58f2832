//! Fresh databases for the conformance stories: a SQLite file in a
//! temporary directory always, and a throw-away PostgreSQL database when
//! `LEADQ_TEST_POSTGRES_URL` names a server.

use leadq_store::postgres::PgBackend;
use leadq_store::sqlite::SqliteBackend;
use leadq_store::{SqlStore, Store};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tempfile::TempDir;

/// The variable naming a PostgreSQL server to run the stories against.
pub const POSTGRES_URL_VAR: &str = "LEADQ_TEST_POSTGRES_URL";

/// Runs a story written once as `fn story(store: &dyn Store)` on every
/// backend: `on_every_backend!(story);` after the function adds a module of
/// the same name with one `#[test]` per backend (`story::on_sqlite`,
/// `story::on_postgres`).
macro_rules! on_every_backend {
    ($story:ident) => {
        mod $story {
            #[test]
            fn on_sqlite() {
                crate::common::on_sqlite(super::$story);
            }
            #[test]
            fn on_postgres() {
                crate::common::on_postgres(super::$story);
            }
        }
    };
}

/// Like [`on_every_backend!`], for stories that take the empty database
/// itself (`fn story(db: &FreshDb)`) rather than an opened store.
macro_rules! on_every_fresh_database {
    ($story:ident) => {
        mod $story {
            #[test]
            fn on_sqlite() {
                crate::common::fresh_sqlite(super::$story);
            }
            #[test]
            fn on_postgres() {
                crate::common::fresh_postgres(super::$story);
            }
        }
    };
}

/// An empty database of one backend, removed when dropped.
pub struct FreshDb {
    /// `"sqlite"` or `"postgres"`.
    pub kind: &'static str,
    /// What `leadq_store::open` takes: no URL for SQLite.
    pub url: Option<String>,
    pub dir: PathBuf,
    _sqlite: Option<TempDir>,
    _postgres: Option<PgDatabase>,
}

impl FreshDb {
    /// Opens the database the way the service does (migrations applied).
    pub fn open(&self) -> Arc<dyn Store> {
        let store = leadq_store::open(self.url.as_deref(), &self.dir)
            .unwrap_or_else(|e| panic!("opening the {} store: {e}", self.kind));
        assert_eq!(store.backend(), self.kind);
        store
    }

    /// Opens the database without applying migrations.
    pub fn open_unmigrated(&self) -> Box<dyn Store> {
        match &self.url {
            None => Box::new(SqlStore::new(
                SqliteBackend::open(&self.dir.join("leadq.db")).expect("open sqlite backend"),
            )),
            Some(url) => Box::new(SqlStore::new(
                PgBackend::connect(url, 4).expect("connect postgres backend"),
            )),
        }
    }
}

pub fn fresh_sqlite(story: impl FnOnce(&FreshDb)) {
    let dir = TempDir::new().expect("temporary directory");
    let db = FreshDb {
        kind: "sqlite",
        url: None,
        dir: dir.path().to_path_buf(),
        _sqlite: Some(dir),
        _postgres: None,
    };
    story(&db);
}

/// Runs `story` on a fresh PostgreSQL database, or skips (passing) when
/// no server is configured.
pub fn fresh_postgres(story: impl FnOnce(&FreshDb)) {
    let Some(server) = postgres_url() else {
        eprintln!("skipped: set {POSTGRES_URL_VAR} to run this story on PostgreSQL");
        return;
    };
    let pg = PgDatabase::create(&server);
    let db = FreshDb {
        kind: "postgres",
        url: Some(pg.url.clone()),
        dir: std::env::temp_dir(),
        _sqlite: None,
        _postgres: Some(pg),
    };
    story(&db);
}

pub fn on_sqlite(story: impl FnOnce(&dyn Store)) {
    fresh_sqlite(|db| {
        let store = db.open();
        story(&*store);
    });
}

pub fn on_postgres(story: impl FnOnce(&dyn Store)) {
    fresh_postgres(|db| {
        let store = db.open();
        story(&*store);
    });
}

pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// `url` with its database (the path segment) replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (before_query, query) = match rest.find('?') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = before_query.split('/').next().unwrap_or("");
    format!("{scheme}://{authority}/{database}{query}")
}

/// A database created for one test on the configured server, dropped
/// (with its connections) when the guard goes, even if the test failed.
pub struct PgDatabase {
    server: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create(server: &str) -> PgDatabase {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.load(Ordering::Relaxed));
        let name = format!(
            "leadq_t_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            h.finish() as u32
        );
        let mut admin = postgres::Client::connect(server, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to {POSTGRES_URL_VAR}: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        PgDatabase {
            url: with_database(server, &name),
            server: server.to_string(),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let dropped = postgres::Client::connect(&self.server, postgres::NoTls).and_then(|mut c| {
            c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
        });
        if let Err(e) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}
