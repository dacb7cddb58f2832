//! Embedded migrations, one list per backend, applied in order and recorded
//! in `schema_migrations`.

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

const SQLITE: &[Migration] = &[Migration {
    version: 1,
    name: "0001_init",
    sql: include_str!("../migrations/sqlite/0001_init.sql"),
}];

const POSTGRES: &[Migration] = &[Migration {
    version: 1,
    name: "0001_init",
    sql: include_str!("../migrations/postgres/0001_init.sql"),
}];

/// The migrations of a backend (`"sqlite"` or `"postgres"`).
pub fn migrations(backend: &str) -> &'static [Migration] {
    if backend == "postgres" {
        POSTGRES
    } else {
        SQLITE
    }
}
