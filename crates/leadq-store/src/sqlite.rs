//! SQLite backend: one file in the data directory, WAL journal, full
//! synchronous commits so that an acknowledged write survives `kill -9` and
//! power loss.
//!
//! Writes go through one writer thread that commits whatever writes are
//! queued as one transaction (group commit), and every caller is answered
//! only after the shared commit is on disk. A write that fails cleanly (a
//! conflict, a stale version: SQLite undoes the failed statement and the
//! write stops there) does not disturb its neighbours; any other failure
//! rolls the group back and its neighbours are told to retry. A durable
//! commit costs one fsync; sharing it is what lets a single SQLite file take
//! thousands of acknowledged writes a second.
//!
//! A second thread copies committed WAL frames into the database file
//! (checkpoints), so the writer does not stop for that. Writes of data that
//! can be recomputed (a re-score pass) may ask not to wait for the sync:
//! their group commits without one, and the next durable commit syncs them.

use crate::sql::{to_sqlite_placeholders, Backend, ReadFn, Row, SqlValue, Tx, WriteFn};
use crate::StoreError;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

type AnyBox = Box<dyn Any + Send>;
type Reply = SyncSender<Result<AnyBox, StoreError>>;

struct Job {
    work: WriteFn<AnyBox>,
    reply: Reply,
    /// Committed without a sync (see [`Backend::write_relaxed_boxed`]).
    relaxed: bool,
}

/// Most writes folded into one commit.
const MAX_GROUP: usize = 512;

pub struct SqliteBackend {
    path: PathBuf,
    queue: Mutex<Option<SyncSender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: ReaderPool,
}

/// Most read connections open at once. Opening one costs a parse of the
/// whole schema and a fresh statement cache, so connections are kept and
/// reused; a read that finds them all busy waits for one rather than
/// opening another. More readers than this would not read faster on a
/// machine with a few cores, they would only hold more page caches.
const MAX_READERS: usize = 16;

/// Read connections, kept open between reads (see [`MAX_READERS`]).
#[derive(Default)]
struct ReaderPool {
    state: Mutex<ReaderState>,
    returned: std::sync::Condvar,
}

#[derive(Default)]
struct ReaderState {
    idle: Vec<Connection>,
    /// Connections open, idle or in use.
    open: usize,
}

impl ReaderPool {
    /// An idle connection, a new one while fewer than [`MAX_READERS`] are
    /// open, or else the next one returned.
    fn take(&self, path: &Path) -> Result<Connection, StoreError> {
        let poisoned = |_| StoreError::Database("the reader pool lock is poisoned".into());
        let mut state = self.state.lock().map_err(poisoned)?;
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(conn);
            }
            if state.open < MAX_READERS {
                state.open += 1;
                drop(state);
                return open(path, false).inspect_err(|_| {
                    if let Ok(mut state) = self.state.lock() {
                        state.open -= 1;
                    }
                    self.returned.notify_one();
                });
            }
            state = self.returned.wait(state).map_err(poisoned)?;
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut state) = self.state.lock() {
            state.idle.push(conn);
        }
        self.returned.notify_one();
    }
}

fn db_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            return StoreError::Conflict(msg.clone().unwrap_or_else(|| e.to_string()));
        }
        if matches!(
            f.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        ) {
            return StoreError::Unavailable(e.to_string());
        }
    }
    StoreError::Database(e.to_string())
}

/// How long a connection waits for a lock another one holds.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Puts the database in WAL mode. Switching needs the file to itself, and
/// SQLite answers "busy" at once, without its busy handler, while another
/// connection is opening the same file (two services starting together),
/// so the switch is retried here for as long as any lock is waited for.
fn enable_wal(conn: &Connection) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(StoreError::Database(format!(
                    "the database stayed in journal mode {mode}, not WAL"
                )))
            }
            Err(e) => {
                let busy = matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                );
                if !busy || std::time::Instant::now() >= deadline {
                    return Err(db_err(e));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

fn open(path: &Path, write: bool) -> Result<Connection, StoreError> {
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(db_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    if write {
        // WAL lets readers run beside the writer; FULL syncs the WAL on
        // every commit, which is what makes an acknowledgement durable.
        enable_wal(&conn)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        // Statement journals (kept while a statement that may fail half
        // way runs) stay in memory: no temp-file write per page.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(db_err)?;
        conn.pragma_update(None, "cache_size", -65_536)
            .map_err(db_err)?;
        // Deleted content is overwritten with zeros rather than left in
        // free pages, so an erased person cannot be read back from the file.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(db_err)?;
    }
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(db_err)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

struct SqliteTx<'c>(&'c Connection);

/// A text column as a `String`: valid UTF-8 (what the store writes) is
/// checked by the standard fast path and copied once; anything else is
/// read with replacement characters rather than failing the read.
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Parameters are bound by reference: SQLite copies what it keeps, so the
/// caller's strings are not cloned first.
impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self {
            SqlValue::Null => ValueRef::Null,
            SqlValue::Int(v) => ValueRef::Integer(*v),
            SqlValue::Real(v) => ValueRef::Real(*v),
            SqlValue::Text(s) => ValueRef::Text(s.as_bytes()),
            SqlValue::Bool(b) => ValueRef::Integer(*b as i64),
        }))
    }
}

impl Tx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached(&to_sqlite_placeholders(sql))
            .map_err(db_err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params))
            .map_err(db_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached(&to_sqlite_placeholders(sql))
            .map_err(db_err)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(db_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(db_err)? {
            let mut vals = Vec::with_capacity(width);
            for i in 0..width {
                vals.push(match r.get_ref(i).map_err(db_err)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(v) => SqlValue::Int(v),
                    ValueRef::Real(v) => SqlValue::Real(v),
                    ValueRef::Text(t) | ValueRef::Blob(t) => SqlValue::Text(text_of(t)),
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.execute_batch(sql).map_err(db_err)
    }

    fn is_sqlite(&self) -> bool {
        true
    }
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<SqliteBackend, StoreError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Database(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let conn = open(path, true)?;
        // Checkpoints run on their own thread, so the writer never stops to
        // copy the WAL into the database file; its own automatic
        // checkpoint stays as a backstop should that thread fall behind.
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
            .map_err(db_err)?;
        let checkpoint_conn = open(path, true)?;
        let (committed, commits) = sync_channel::<()>(1);
        let restart_wanted = Arc::new(AtomicBool::new(false));
        let wanted = restart_wanted.clone();
        let checkpointer = std::thread::Builder::new()
            .name("leadq-sqlite-checkpointer".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, commits, &wanted))
            .map_err(|e| StoreError::Database(format!("cannot start checkpointer: {e}")))?;
        let (tx, rx) = sync_channel::<Job>(4 * MAX_GROUP);
        let writer = std::thread::Builder::new()
            .name("leadq-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, committed, &restart_wanted))
            .map_err(|e| StoreError::Database(format!("cannot start writer: {e}")))?;
        Ok(SqliteBackend {
            path: path.to_path_buf(),
            queue: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            checkpointer: Mutex::new(Some(checkpointer)),
            readers: ReaderPool::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        // Closing the queue ends the writer after it drains what is queued.
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        if let Some(h) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = h.join();
        }
        // The writer's end closed the checkpointer's channel.
        if let Some(h) = self.checkpointer.lock().ok().and_then(|mut c| c.take()) {
            let _ = h.join();
        }
    }
}

/// WAL pages after which the writer checkpoints by itself (4 KiB each):
/// reached only when the WAL could not be restarted for a long while.
const WRITER_CHECKPOINT_PAGES: i64 = 32_768;

/// WAL frames after which the writer, once the checkpointer has copied
/// nearly all of them, copies the rest and starts the WAL over from its
/// beginning.
///
/// Why the writer: SQLite starts the WAL over only when a write begins
/// with every frame copied and no reader inside the WAL. Under a steady
/// stream of commits the checkpointer never sees that: new frames land
/// while it copies. Left alone, the WAL grows to the writer's automatic
/// checkpoint, which then runs after commit after commit, each with a sync
/// of the database file, until one happens to catch a moment without
/// readers: a stall of tens of milliseconds for every write waiting behind
/// it. A RESTART checkpoint from the writer, between two groups, copies
/// only what landed since the checkpointer's last round and waits for the
/// readers still inside the WAL (a millisecond or two) so that the next
/// write starts the WAL over.
const WAL_RESTART_FRAMES: i64 = 8_192;

/// Longest the writer waits for readers inside the WAL when it restarts
/// it: snapshots are short, and a long one (an export) only puts the
/// restart off to the next round.
const RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(4);

/// Least time between two background checkpoints: commits in between are
/// copied together, and a busy stream of small commits does not turn into
/// a stream of database-file syncs.
const CHECKPOINT_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

fn writer_loop(
    conn: Connection,
    rx: Receiver<Job>,
    committed: SyncSender<()>,
    restart_wanted: &AtomicBool,
) {
    let mut synced = true;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        // A group syncs at commit unless every write in it may wait; a
        // sync writes out the relaxed commits before it as well.
        let sync = group.iter().any(|j| !j.relaxed);
        if sync != synced {
            let mode = if sync { "FULL" } else { "NORMAL" };
            if let Err(e) = conn.pragma_update(None, "synchronous", mode) {
                // Durable writes are never committed without their sync.
                let err = db_err(e);
                for job in group {
                    let _ = job.reply.send(Err(err.clone()));
                }
                continue;
            }
            synced = sync;
        }
        run_group(&conn, group);
        // A full channel already holds a wake-up for the checkpointer.
        let _ = committed.try_send(());
        if restart_wanted.swap(false, Ordering::Relaxed) {
            restart_wal(&conn);
        }
    }
}

/// Copies the frames the checkpointer has not and waits briefly for
/// readers to leave the WAL, so that the next commit writes it from its
/// start (see [`WAL_RESTART_FRAMES`]).
fn restart_wal(conn: &Connection) {
    let restarted = conn
        .busy_timeout(RESTART_WAIT)
        .and_then(|_| conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0)));
    if let Err(e) = conn.busy_timeout(BUSY_TIMEOUT) {
        tracing::warn!(error = %e, "cannot reset the writer's busy timeout");
    }
    match restarted {
        // Busy: a reader stayed; the checkpointer asks again next round.
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "WAL restart checkpoint failed"),
    }
}

/// Copies committed WAL frames into the database file after commits, off
/// the writer's thread. PASSIVE never blocks the writer or readers; frames
/// a reader still needs are copied on a later round. With nothing new in
/// the WAL a round does no I/O.
fn checkpoint_loop(conn: Connection, commits: Receiver<()>, restart_wanted: &AtomicBool) {
    while commits.recv().is_ok() {
        // (busy, frames in the WAL, frames copied)
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        }) {
            Ok((frames, copied)) => {
                if frames >= WAL_RESTART_FRAMES && copied >= frames - frames / 8 {
                    restart_wanted.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "background WAL checkpoint failed; the writer's own checkpoint takes over")
            }
        }
        std::thread::sleep(CHECKPOINT_PAUSE);
    }
}

/// Whether a failed write may have left some of its statements applied.
/// Store writes fail cleanly (before writing anything) only with these
/// errors; anything else undoes the whole group.
fn is_clean_failure(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Conflict(_) | StoreError::StaleVersion { .. } | StoreError::NotFound(_)
    )
}

/// Runs a statement without parameters from the connection's statement
/// cache: a read's BEGIN and COMMIT are then not parsed again for each of
/// the thousands of reads a second a busy server makes.
fn run_cached(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.raw_execute().map(|_| ())
}

fn run_group(conn: &Connection, group: Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = db_err(e);
        for job in group {
            let _ = job.reply.send(Err(err.clone()));
        }
        return;
    }
    let mut done: Vec<(Reply, Result<AnyBox, StoreError>)> = Vec::with_capacity(group.len());
    let mut fatal: Option<StoreError> = None;
    for job in group {
        if fatal.is_some() {
            done.push((
                job.reply,
                Err(StoreError::Unavailable(
                    "retry: a neighbouring write failed".into(),
                )),
            ));
            continue;
        }
        let result = (job.work)(&mut SqliteTx(conn));
        if let Err(e) = &result {
            if !is_clean_failure(e) {
                fatal = Some(e.clone());
            }
        }
        done.push((job.reply, result));
    }
    let commit = match &fatal {
        Some(e) => Err(e.clone()),
        None => conn.execute_batch("COMMIT").map_err(db_err),
    };
    if let Err(e) = &commit {
        let _ = conn.execute_batch("ROLLBACK");
        for (reply, result) in done {
            // The failing write learns its own error; the others that it
            // took down with it are told to retry.
            let answer = match result {
                Err(own) if !is_clean_failure(&own) => Err(own),
                _ => Err(StoreError::Unavailable(format!(
                    "retry: the commit failed ({e})"
                ))),
            };
            let _ = reply.send(answer);
        }
        return;
    }
    for (reply, result) in done {
        let _ = reply.send(result);
    }
}

impl Backend for SqliteBackend {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn write_boxed(&self, work: WriteFn<AnyBox>) -> Result<AnyBox, StoreError> {
        self.send_write(work, false)
    }

    fn write_relaxed_boxed(&self, work: WriteFn<AnyBox>) -> Result<AnyBox, StoreError> {
        self.send_write(work, true)
    }

    fn read_boxed(&self, f: ReadFn<'_, AnyBox>) -> Result<AnyBox, StoreError> {
        let conn = self.readers.take(&self.path)?;
        let out = match run_cached(&conn, "BEGIN") {
            Ok(()) => {
                let out = f(&mut SqliteTx(&conn));
                let _ = run_cached(&conn, "COMMIT");
                out
            }
            Err(e) => Err(db_err(e)),
        };
        self.readers.give_back(conn);
        out
    }

    /// Copies the WAL into the database file and truncates the WAL to
    /// zero bytes. A reader in the middle of a transaction can hold the
    /// checkpoint back; it is retried for a while, then reported, because
    /// callers (erasure) rely on the WAL really being emptied.
    fn checkpoint(&self) -> Result<(), StoreError> {
        let conn = open(&self.path, true)?;
        for _ in 0..100 {
            // The background checkpointer may be mid-round: that is busy
            // too, and passes.
            let busy = match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            }) {
                Ok(b) => b != 0,
                Err(e) => match db_err(e) {
                    StoreError::Unavailable(_) => true,
                    other => return Err(other),
                },
            };
            if !busy {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err(StoreError::Unavailable(
            "the WAL checkpoint stayed blocked by readers".into(),
        ))
    }
}

impl SqliteBackend {
    fn send_write(&self, work: WriteFn<AnyBox>, relaxed: bool) -> Result<AnyBox, StoreError> {
        let (reply, answer) = sync_channel(1);
        let queue = self
            .queue
            .lock()
            .map_err(|_| StoreError::Unavailable("store writer lock poisoned".into()))?
            .clone()
            .ok_or_else(|| StoreError::Unavailable("store is closed".into()))?;
        queue
            .send(Job {
                work,
                reply,
                relaxed,
            })
            .map_err(|_| StoreError::Unavailable("store writer stopped".into()))?;
        answer
            .recv()
            .map_err(|_| StoreError::Unavailable("store writer stopped".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::read;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn more_concurrent_reads_than_pooled_connections_wait_and_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::open(&dir.path().join("leadq.db")).unwrap();
        crate::sql::write(&backend, |tx| {
            tx.batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)")
        })
        .unwrap();
        let inside = AtomicUsize::new(0);
        let most_inside = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..3 * MAX_READERS)
                .map(|_| {
                    s.spawn(|| {
                        read(&backend, |tx| {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most_inside.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            let x = tx.query("SELECT x FROM t", &[])?[0].int(0);
                            inside.fetch_sub(1, Ordering::SeqCst);
                            Ok(x)
                        })
                    })
                })
                .collect();
            for h in handles {
                assert_eq!(h.join().unwrap().unwrap(), 7);
            }
        });
        let state = backend.readers.state.lock().unwrap();
        assert!(state.open <= MAX_READERS, "{} connections open", state.open);
        assert_eq!(state.idle.len(), state.open, "every connection came back");
        assert!(most_inside.load(Ordering::SeqCst) <= MAX_READERS);
        // The reads overlapped: the pool was used in parallel, not one by one.
        assert!(most_inside.load(Ordering::SeqCst) > 1);
    }
}
