//! PostgreSQL backend: a small pool of connections; every write is one
//! transaction committed by the server before the caller hears back.

use crate::sql::{Backend, ReadFn, Row, SqlValue, Tx, WriteFn};
use crate::StoreError;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};
use std::any::Any;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Condvar, Mutex};

type AnyBox = Box<dyn Any + Send>;

pub struct PgBackend {
    url: String,
    pool: Mutex<PoolState>,
    freed: Condvar,
    max: usize,
}

/// A connection with the statements it has prepared: a cached statement
/// costs one round trip per use instead of two.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

fn db_err(e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // 23xxx: integrity constraint violations (unique, foreign key, ...).
        if code.starts_with("23") {
            return StoreError::Conflict(db.message().to_string());
        }
        if code == "40001" || code == "40P01" {
            return StoreError::Unavailable(db.message().to_string());
        }
        return StoreError::Database(format!("{} ({code})", db.message()));
    }
    if e.is_closed() {
        return StoreError::Unavailable(format!("database connection lost: {e}"));
    }
    StoreError::Database(e.to_string())
}

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(v) => match *ty {
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            SqlValue::Real(v) => match *ty {
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                Type::INT8 => (*v as i64).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            SqlValue::Text(s) => s.as_str().to_sql(ty, out),
            SqlValue::Bool(b) => match *ty {
                Type::INT8 => (*b as i64).to_sql(ty, out),
                _ => b.to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

struct PgTx<'a, 'c> {
    tx: &'a mut postgres::Transaction<'c>,
    statements: &'a mut HashMap<String, Statement>,
    /// Set on the first failed statement: PostgreSQL has then aborted the
    /// transaction, and its COMMIT would silently roll back.
    failed: Option<StoreError>,
}

impl PgTx<'_, '_> {
    fn note<T>(&mut self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &r {
            self.failed.get_or_insert_with(|| e.clone());
        }
        r
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql).map_err(db_err)?;
        if self.statements.len() > 512 {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

fn refs(params: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn convert(row: &postgres::Row) -> Result<Row, StoreError> {
    let mut vals = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let t = col.type_();
        let v = if *t == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)
                .map(|v| v.map(SqlValue::Int))
        } else if *t == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|v| SqlValue::Int(v as i64)))
        } else if *t == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)
                .map(|v| v.map(|v| SqlValue::Int(v as i64)))
        } else if *t == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i)
                .map(|v| v.map(SqlValue::Real))
        } else if *t == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(i)
                .map(|v| v.map(|v| SqlValue::Real(v as f64)))
        } else if *t == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map(|v| v.map(SqlValue::Bool))
        } else {
            row.try_get::<_, Option<String>>(i)
                .map(|v| v.map(SqlValue::Text))
        };
        vals.push(v.map_err(db_err)?.unwrap_or(SqlValue::Null));
    }
    Ok(Row(vals))
}

impl Tx for PgTx<'_, '_> {
    fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        let r = self
            .statement(sql)
            .and_then(|stmt| self.tx.execute(&stmt, &refs(params)).map_err(db_err));
        self.note(r)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
        let r = self
            .statement(sql)
            .and_then(|stmt| self.tx.query(&stmt, &refs(params)).map_err(db_err))
            .and_then(|rows| rows.iter().map(convert).collect());
        self.note(r)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        let r = self.tx.batch_execute(sql).map_err(db_err);
        self.note(r)
    }
}

impl PgBackend {
    /// Connects to `url` (a `postgres://` URL); fails fast when the server
    /// cannot be reached.
    pub fn connect(url: &str, max_connections: usize) -> Result<PgBackend, StoreError> {
        let first = Client::connect(url, NoTls)
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(PgBackend {
            url: url.to_string(),
            pool: Mutex::new(PoolState {
                idle: vec![Conn {
                    client: first,
                    statements: HashMap::new(),
                }],
                open: 1,
            }),
            freed: Condvar::new(),
            max: max_connections.max(1),
        })
    }

    fn take(&self) -> Result<Conn, StoreError> {
        let poisoned = || StoreError::Unavailable("connection pool lock poisoned".into());
        let mut state = self.pool.lock().map_err(|_| poisoned())?;
        loop {
            if let Some(c) = state.idle.pop() {
                if c.client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(c);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return Client::connect(&self.url, NoTls)
                    .map(|client| Conn {
                        client,
                        statements: HashMap::new(),
                    })
                    .map_err(|e| {
                        if let Ok(mut s) = self.pool.lock() {
                            s.open -= 1;
                        }
                        StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}"))
                    });
            }
            state = self.freed.wait(state).map_err(|_| poisoned())?;
        }
    }

    fn give_back(&self, c: Conn) {
        if let Ok(mut s) = self.pool.lock() {
            if c.client.is_closed() {
                s.open -= 1;
            } else {
                s.idle.push(c);
            }
        }
        self.freed.notify_one();
    }

    fn run(&self, f: ReadFn<'_, AnyBox>) -> Result<AnyBox, StoreError> {
        let mut conn = self.take()?;
        let result = (|| {
            let Conn { client, statements } = &mut conn;
            let mut tx = client.transaction().map_err(db_err)?;
            let mut pg = PgTx {
                tx: &mut tx,
                statements,
                failed: None,
            };
            let mut out = f(&mut pg);
            if let (Ok(_), Some(e)) = (&out, pg.failed.take()) {
                // The work went on past a failed statement; the transaction
                // is aborted, so nothing of it can be committed.
                out = Err(e);
            }
            match out {
                Ok(v) => {
                    tx.commit().map_err(db_err)?;
                    Ok(v)
                }
                Err(e) => {
                    let _ = tx.rollback();
                    Err(e)
                }
            }
        })();
        self.give_back(conn);
        result
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        // Closing a synchronous client blocks on its own runtime, which
        // panics on an async thread; close them on a plain one.
        let idle = match self.pool.get_mut() {
            Ok(state) => std::mem::take(&mut state.idle),
            Err(poisoned) => std::mem::take(&mut poisoned.into_inner().idle),
        };
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

impl Backend for PgBackend {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn write_boxed(&self, work: WriteFn<AnyBox>) -> Result<AnyBox, StoreError> {
        self.run(work)
    }

    /// The commit returns before the server has flushed its WAL; the next
    /// synchronous commit flushes it (PostgreSQL writes its WAL in order).
    fn write_relaxed_boxed(&self, work: WriteFn<AnyBox>) -> Result<AnyBox, StoreError> {
        self.run(Box::new(move |tx| {
            tx.batch("SET LOCAL synchronous_commit TO OFF")?;
            work(tx)
        }))
    }

    fn read_boxed(&self, f: ReadFn<'_, AnyBox>) -> Result<AnyBox, StoreError> {
        self.run(f)
    }
}
