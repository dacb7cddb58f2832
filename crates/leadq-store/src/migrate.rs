//! Embedded migrations, one list per backend, applied in order and recorded
//! in `schema_migrations`.

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "0002_sessions",
        sql: include_str!("../migrations/sqlite/0002_sessions.sql"),
    },
    Migration {
        version: 3,
        name: "0003_owner_stage_index",
        sql: include_str!("../migrations/sqlite/0003_owner_stage_index.sql"),
    },
    Migration {
        version: 4,
        name: "0004_predictive",
        sql: include_str!("../migrations/sqlite/0004_predictive.sql"),
    },
    Migration {
        version: 5,
        name: "0005_privacy",
        sql: include_str!("../migrations/sqlite/0005_privacy.sql"),
    },
    Migration {
        version: 6,
        name: "0006_tasks",
        sql: include_str!("../migrations/sqlite/0006_tasks.sql"),
    },
    Migration {
        version: 7,
        name: "0007_email",
        sql: include_str!("../migrations/sqlite/0007_email.sql"),
    },
    Migration {
        version: 8,
        name: "0008_tracking",
        sql: include_str!("../migrations/sqlite/0008_tracking.sql"),
    },
    Migration {
        version: 9,
        name: "0009_lighter_score_indexes",
        sql: include_str!("../migrations/sqlite/0009_lighter_score_indexes.sql"),
    },
    Migration {
        version: 10,
        name: "0010_ledger_inputs_digest",
        sql: include_str!("../migrations/sqlite/0010_ledger_inputs_digest.sql"),
    },
    Migration {
        version: 11,
        name: "0011_job_heartbeats",
        sql: include_str!("../migrations/sqlite/0011_job_heartbeats.sql"),
    },
    Migration {
        version: 12,
        name: "0012_one_event_index_per_lead",
        sql: include_str!("../migrations/sqlite/0012_one_event_index_per_lead.sql"),
    },
    Migration {
        version: 13,
        name: "0013_lead_fields_apart",
        sql: include_str!("../migrations/sqlite/0013_lead_fields_apart.sql"),
    },
    Migration {
        version: 14,
        name: "0014_factors_explained_when_read",
        sql: include_str!("../migrations/sqlite/0014_factors_explained_when_read.sql"),
    },
];

const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "0002_sessions",
        sql: include_str!("../migrations/postgres/0002_sessions.sql"),
    },
    Migration {
        version: 3,
        name: "0003_owner_stage_index",
        sql: include_str!("../migrations/postgres/0003_owner_stage_index.sql"),
    },
    Migration {
        version: 4,
        name: "0004_predictive",
        sql: include_str!("../migrations/postgres/0004_predictive.sql"),
    },
    Migration {
        version: 5,
        name: "0005_privacy",
        sql: include_str!("../migrations/postgres/0005_privacy.sql"),
    },
    Migration {
        version: 6,
        name: "0006_tasks",
        sql: include_str!("../migrations/postgres/0006_tasks.sql"),
    },
    Migration {
        version: 7,
        name: "0007_email",
        sql: include_str!("../migrations/postgres/0007_email.sql"),
    },
    Migration {
        version: 8,
        name: "0008_tracking",
        sql: include_str!("../migrations/postgres/0008_tracking.sql"),
    },
    Migration {
        version: 9,
        name: "0009_lighter_score_indexes",
        sql: include_str!("../migrations/postgres/0009_lighter_score_indexes.sql"),
    },
    Migration {
        version: 10,
        name: "0010_ledger_inputs_digest",
        sql: include_str!("../migrations/postgres/0010_ledger_inputs_digest.sql"),
    },
    Migration {
        version: 11,
        name: "0011_job_heartbeats",
        sql: include_str!("../migrations/postgres/0011_job_heartbeats.sql"),
    },
    Migration {
        version: 12,
        name: "0012_one_event_index_per_lead",
        sql: include_str!("../migrations/postgres/0012_one_event_index_per_lead.sql"),
    },
    Migration {
        version: 13,
        name: "0013_lead_fields_apart",
        sql: include_str!("../migrations/postgres/0013_lead_fields_apart.sql"),
    },
    Migration {
        version: 14,
        name: "0014_factors_explained_when_read",
        sql: include_str!("../migrations/postgres/0014_factors_explained_when_read.sql"),
    },
];

/// The migrations of a backend (`"sqlite"` or `"postgres"`).
pub fn migrations(backend: &str) -> &'static [Migration] {
    if backend == "postgres" {
        POSTGRES
    } else {
        SQLITE
    }
}
