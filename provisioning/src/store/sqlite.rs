//! [`Store`] in one SQLite file, shared safely by a running controller and
//! any number of CLI processes.
//!
//! * The file is created with mode 0600 before SQLite opens it (SQLite gives
//!   its `-wal`/`-shm` files the same mode); a wider mode found on open is
//!   logged and narrowed, because the file holds BMC credentials.
//! * WAL journal: readers never block the writer and vice versa.
//!   `synchronous=NORMAL` (the WAL recommendation): a commit survives a crash
//!   of the process; a power loss may drop the last commits but never
//!   corrupts the file.
//! * Every read-modify-write runs in a `BEGIN IMMEDIATE` transaction, which
//!   takes SQLite's write lock before reading, so of two writers holding the
//!   same resourceVersion exactly one succeeds and the other gets a
//!   [`StoreError::Conflict`]. Waiting for the lock is bounded by
//!   `busy_timeout`.
//! * The global revision lives in the `meta` table; change notification
//!   across processes polls `PRAGMA data_version` (a counter that changes
//!   when another connection commits, costing no table read), in-process
//!   writes wake waiters at once through a `tokio::sync::watch` channel.
//! * Writes and point reads share one connection; lists run on pooled read
//!   connections (WAL snapshots), so a long list holds up nobody.
//! * The schema is versioned in `meta`; [`MIGRATIONS`] lists the steps, each
//!   applied once in order inside the write lock.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;
use tokio::sync::watch;

use super::logic::{self, Write};
use super::{
    describe_json_error, BoxFuture, DeleteOutcome, EventType, LabelSelector, ObjectKey, RawRef,
    Requirement, Result, Store, StoreError, Subresource, WatchEvent,
};

/// Schema version this build writes.
pub const SCHEMA_VERSION: i64 = 1;

/// Migration steps; step `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: objects by key, their labels (indexed for selectors), the event log.
    "CREATE TABLE objects (
         id INTEGER PRIMARY KEY,
         kind TEXT NOT NULL,
         namespace TEXT NOT NULL,
         name TEXT NOT NULL,
         resource_version INTEGER NOT NULL,
         body TEXT NOT NULL,
         UNIQUE (kind, namespace, name)
     );
     CREATE TABLE labels (
         object_id INTEGER NOT NULL,
         key TEXT NOT NULL,
         value TEXT NOT NULL,
         PRIMARY KEY (object_id, key)
     ) WITHOUT ROWID;
     CREATE INDEX labels_by_key_value ON labels (key, value, object_id);
     CREATE TABLE events (
         revision INTEGER PRIMARY KEY,
         type TEXT NOT NULL,
         kind TEXT NOT NULL,
         namespace TEXT NOT NULL,
         name TEXT NOT NULL,
         body TEXT NOT NULL
     );
     INSERT INTO meta (key, value) VALUES ('revision', 0), ('compacted', 0);",
];

/// Tuning of a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How long a writer waits for another process's write lock.
    pub busy_timeout: Duration,
    /// How often [`Store::wait_for_change`] looks for other processes' writes.
    pub poll_interval: Duration,
    /// Events kept for [`Store::watch`]; older ones are deleted.
    pub event_history: u64,
    /// Bytes of the file SQLite maps into memory for reads (0 = none).
    /// Mapped reads spare a copy per page, which helps a short process
    /// listing thousands of objects; but every page read through the map
    /// stays in the process's resident set, so a long-running process that
    /// reads the whole store (a controller) ends up with the whole file in
    /// its RSS. Such a process sets 0: pages then go through SQLite's
    /// bounded page cache, and the kernel's page cache (shared, not
    /// counted in the process) keeps the file warm.
    pub mmap_size: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(100),
            event_history: 10_000,
            mmap_size: 256 << 20,
        }
    }
}

/// State of the connection used to notice other processes' commits.
struct Poll {
    conn: Connection,
    data_version: Option<i64>,
    revision: u64,
}

/// A [`Store`] in one SQLite file.
pub struct SqliteStore {
    path: String,
    options: SqliteOptions,
    conn: Mutex<Connection>,
    poll: Mutex<Poll>,
    file: PathBuf,
    readers: Mutex<Vec<Connection>>,
    revision_tx: watch::Sender<u64>,
}

/// Locks a mutex whose data a panic cannot leave inconsistent (SQLite rolls
/// back an unfinished transaction when it is dropped), ignoring poisoning.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens (creating if needed) the store at `path`.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref();
        let display = path.display().to_string();
        secure_file(path)?;
        let conn = connect(path, &display, &options)?;
        migrate(&conn, &display)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            narrow_mode(Path::new(&side))?;
        }
        let poll_conn = connect(path, &display, &options)?;
        let store = SqliteStore {
            path: display,
            options,
            conn: Mutex::new(conn),
            file: path.to_path_buf(),
            readers: Mutex::new(Vec::new()),
            poll: Mutex::new(Poll {
                conn: poll_conn,
                data_version: None,
                revision: 0,
            }),
            revision_tx: watch::Sender::new(0),
        };
        let revision = store.revision()?;
        store.revision_tx.send_replace(revision);
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn db_err(
        &self,
        context: impl std::fmt::Display,
    ) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        let context = context.to_string();
        move |source| StoreError::Database {
            path: self.path.clone(),
            context,
            source: Box::new(source),
        }
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction; commits unless `f` fails
    /// or reports no change. Returns `f`'s value and the new revision.
    fn write_tx<T>(
        &self,
        context: &str,
        f: impl FnOnce(&rusqlite::Transaction<'_>, u64) -> Result<(T, bool)>,
    ) -> Result<T> {
        let mut conn = lock(&self.conn);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.db_err(format!("{context}: begin")))?;
        let revision = read_meta(&tx, "revision").map_err(self.db_err(context))?;
        let (value, changed) = f(&tx, revision + 1)?;
        if !changed {
            // Dropping the transaction rolls it back: nothing was written.
            return Ok(value);
        }
        let next = revision + 1;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'revision'",
            params![next as i64],
        )
        .map_err(self.db_err(context))?;
        self.compact(&tx, next).map_err(self.db_err(context))?;
        tx.commit()
            .map_err(self.db_err(format!("{context}: commit")))?;
        self.revision_tx.send_replace(next);
        Ok(value)
    }

    /// Drops events older than the history window, a batch at a time so that
    /// not every write pays for a delete.
    fn compact(&self, tx: &rusqlite::Transaction<'_>, revision: u64) -> rusqlite::Result<()> {
        let history = self.options.event_history.max(1);
        if !revision.is_multiple_of(128) || revision <= history {
            return Ok(());
        }
        let upto = revision - history;
        tx.execute(
            "DELETE FROM events WHERE revision <= ?1",
            params![upto as i64],
        )?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'compacted'",
            params![upto as i64],
        )?;
        Ok(())
    }

    fn load(
        &self,
        tx: &rusqlite::Transaction<'_>,
        key: &ObjectKey,
    ) -> Result<Option<(i64, Value)>> {
        let row: Option<(i64, String)> = tx
            .prepare_cached(
                "SELECT id, body FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
            )
            .and_then(|mut st| {
                st.query_row(params![key.kind, key.namespace, key.name], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(self.db_err(format!("read {key}")))?;
        row.map(|(id, body)| Ok((id, parse_body(key, &body)?)))
            .transpose()
    }

    /// Persists a write of `key` (object row `id` if it exists) at `revision`.
    fn persist(
        &self,
        tx: &rusqlite::Transaction<'_>,
        key: &ObjectKey,
        id: Option<i64>,
        write: &Write,
        added: bool,
        revision: u64,
    ) -> Result<()> {
        let context = format!("write {key}");
        let run = || -> rusqlite::Result<()> {
            let (event_type, obj) = match write {
                Write::Unchanged(_) => return Ok(()),
                Write::Put(obj) => {
                    let body = obj.to_string();
                    let id =
                        match id {
                            Some(id) => {
                                tx.prepare_cached(
                                "UPDATE objects SET body = ?1, resource_version = ?2 WHERE id = ?3",
                            )?
                            .execute(params![body, revision as i64, id])?;
                                id
                            }
                            None => {
                                tx.prepare_cached(
                                "INSERT INTO objects (kind, namespace, name, resource_version, body)
                                 VALUES (?1, ?2, ?3, ?4, ?5)",
                            )?
                            .execute(params![
                                key.kind,
                                key.namespace,
                                key.name,
                                revision as i64,
                                body
                            ])?;
                                tx.last_insert_rowid()
                            }
                        };
                    tx.prepare_cached("DELETE FROM labels WHERE object_id = ?1")?
                        .execute(params![id])?;
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO labels (object_id, key, value) VALUES (?1, ?2, ?3)",
                    )?;
                    for (k, v) in logic::labels(obj) {
                        insert.execute(params![id, k, v])?;
                    }
                    let t = if added {
                        EventType::Added
                    } else {
                        EventType::Modified
                    };
                    (t, obj)
                }
                Write::Remove(obj) => {
                    if let Some(id) = id {
                        tx.prepare_cached("DELETE FROM labels WHERE object_id = ?1")?
                            .execute(params![id])?;
                        tx.prepare_cached("DELETE FROM objects WHERE id = ?1")?
                            .execute(params![id])?;
                    }
                    (EventType::Deleted, obj)
                }
            };
            tx.prepare_cached(
                "INSERT INTO events (revision, type, kind, namespace, name, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                revision as i64,
                event_type.as_str(),
                key.kind,
                key.namespace,
                key.name,
                obj.to_string()
            ])?;
            Ok(())
        };
        run().map_err(self.db_err(context))
    }

    fn write(&self, obj: Value, subresource: Subresource) -> Result<Value> {
        let key = ObjectKey::of(&obj);
        self.write_tx(&format!("update {key}"), |tx, revision| {
            let (id, current) = self
                .load(tx, &key)?
                .ok_or_else(|| StoreError::NotFound { key: key.clone() })?;
            let write = logic::prepare_update(&key, &current, obj, revision, subresource)?;
            self.persist(tx, &key, Some(id), &write, false, revision)?;
            Ok(outcome(write))
        })
    }

    /// Runs a list query on `conn` (see [`Store::list_with`]).
    fn list_on(
        &self,
        conn: &mut Connection,
        kind: &str,
        sql: &str,
        args: &[String],
        visit: &mut dyn FnMut(RawRef<'_>) -> Result<()>,
    ) -> Result<u64> {
        let context = format!("list {kind}");
        // One read transaction: the revision and the rows are one snapshot.
        let tx = conn.transaction().map_err(self.db_err(&context))?;
        let revision = read_meta(&tx, "revision").map_err(self.db_err(&context))?;
        let mut st = tx.prepare_cached(sql).map_err(self.db_err(&context))?;
        let mut rows = st
            .query(params_from_iter(args.iter()))
            .map_err(self.db_err(&context))?;
        // Rows are handed out as borrowed text straight from SQLite's
        // buffers: a 10 000-host list then allocates only what the caller
        // decodes into.
        while let Some(row) = rows.next().map_err(self.db_err(&context))? {
            let text = |i: usize| row.get_ref(i).and_then(|v| Ok(v.as_str()?));
            let (ns, name, json) = (text(0), text(1), text(2));
            let (ns, name, json) = (
                ns.map_err(self.db_err(&context))?,
                name.map_err(self.db_err(&context))?,
                json.map_err(self.db_err(&context))?,
            );
            visit(RawRef {
                kind,
                namespace: ns,
                name,
                json,
            })?;
        }
        Ok(revision)
    }

    /// A read connection from the pool, or a new one.
    fn take_reader(&self) -> Result<Connection> {
        if let Some(conn) = lock(&self.readers).pop() {
            return Ok(conn);
        }
        connect(&self.file, &self.path, &self.options)
    }

    /// Returns a read connection to the pool (keeping a few).
    fn put_reader(&self, conn: Connection) {
        let mut readers = lock(&self.readers);
        if readers.len() < 4 {
            readers.push(conn);
        }
    }

    /// The store revision as seen by the polling connection, re-read only when
    /// `PRAGMA data_version` says another connection committed.
    fn poll_revision(&self) -> Result<u64> {
        let mut poll = lock(&self.poll);
        let version: i64 = poll
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(self.db_err("poll for changes"))?;
        if poll.data_version != Some(version) {
            poll.revision =
                read_meta(&poll.conn, "revision").map_err(self.db_err("poll for changes"))?;
            poll.data_version = Some(version);
        }
        Ok(poll.revision.max(*self.revision_tx.borrow()))
    }
}

/// The stored value and whether the write changed anything.
fn outcome(write: Write) -> (Value, bool) {
    match write {
        Write::Unchanged(v) => (v, false),
        Write::Put(v) | Write::Remove(v) => (v, true),
    }
}

fn parse_body(key: &ObjectKey, body: &str) -> Result<Value> {
    serde_json::from_str(body).map_err(|e| StoreError::Decode {
        key: key.clone(),
        reason: describe_json_error(key, &e),
    })
}

fn read_meta(conn: &Connection, key: &str) -> rusqlite::Result<u64> {
    let v: i64 = conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))?;
    Ok(u64::try_from(v).unwrap_or(0))
}

fn io_err(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.display().to_string();
    move |source| StoreError::Io { path, what, source }
}

/// Creates the file with mode 0600 if missing, so SQLite never creates it
/// with the umask's (usually world-readable) mode, and narrows a wider mode.
fn secure_file(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(io_err(path, "create"))?;
    narrow_mode(path)
}

#[cfg(unix)]
fn narrow_mode(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(path, "check permissions")(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "store file was readable by others; setting mode 0600"
        );
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(path, "set mode 0600"))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn narrow_mode(_path: &Path) -> Result<()> {
    Ok(())
}

fn connect(path: &Path, display: &str, options: &SqliteOptions) -> Result<Connection> {
    let err = |context: &str| {
        let context = context.to_string();
        move |source: rusqlite::Error| StoreError::Database {
            path: display.to_string(),
            context,
            source: Box::new(source),
        }
    };
    let conn = Connection::open(path).map_err(err("open"))?;
    // The busy timeout must be set first: switching to WAL takes a lock too.
    conn.busy_timeout(options.busy_timeout)
        .map_err(err("set busy_timeout"))?;
    let mode = enable_wal(&conn, options.busy_timeout).map_err(err("enable WAL"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unsupported {
            path: display.to_string(),
            reason: format!("cannot enable WAL journal mode (it stayed {mode})"),
        });
    }
    // See `SqliteOptions::mmap_size`; the size is an address-space
    // reservation, pages count once they are read.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL; PRAGMA mmap_size = {};",
        options.mmap_size
    ))
    .map_err(err("set synchronous and mmap_size"))?;
    Ok(conn)
}

/// Switches to WAL, retrying while another process holds the lock.
///
/// SQLite answers "database is locked" to a journal-mode change at once,
/// without calling the busy handler, when a second process is opening the
/// same new file at the same moment; so the wait is done here, bounded by the
/// same busy timeout.
fn enable_wal(conn: &Connection, timeout: Duration) -> rusqlite::Result<String> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && start.elapsed() < timeout =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// Brings the schema to [`SCHEMA_VERSION`], refusing files from newer builds.
fn migrate(conn: &Connection, path: &str) -> Result<()> {
    let err = |context: &str| {
        let context = context.to_string();
        move |source: rusqlite::Error| StoreError::Database {
            path: path.to_string(),
            context,
            source: Box::new(source),
        }
    };
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(err("migrate: begin"))?;
    let result = (|| -> Result<()> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
             INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 0);",
        )
        .map_err(err("migrate: create meta"))?;
        let found = read_meta(conn, "schema_version").map_err(err("migrate: read version"))?;
        let found = i64::try_from(found).unwrap_or(i64::MAX);
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: path.to_string(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (version, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            conn.execute_batch(step)
                .map_err(err(&format!("migrate to schema {}", version + 1)))?;
            conn.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                params![version as i64 + 1],
            )
            .map_err(err("migrate: record version"))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(err("migrate: commit")),
        Err(e) => {
            // Leave the file as it was; the rollback error is secondary.
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// SQL condition and parameters for one selector requirement. Positive
/// requirements use the (key, value) index; negative ones its complement.
fn requirement_sql(req: &Requirement, params: &mut Vec<String>) -> String {
    let list = |values: &[String], params: &mut Vec<String>| {
        params.extend(values.iter().cloned());
        vec!["?"; values.len()].join(",")
    };
    match req {
        Requirement::Equals(k, v) | Requirement::NotEquals(k, v) => {
            params.push(k.clone());
            params.push(v.clone());
            let not = if matches!(req, Requirement::NotEquals(..)) {
                "NOT "
            } else {
                ""
            };
            format!("o.id {not}IN (SELECT object_id FROM labels WHERE key = ? AND value = ?)")
        }
        Requirement::Exists(k) | Requirement::NotExists(k) => {
            params.push(k.clone());
            let not = if matches!(req, Requirement::NotExists(..)) {
                "NOT "
            } else {
                ""
            };
            format!("o.id {not}IN (SELECT object_id FROM labels WHERE key = ?)")
        }
        Requirement::In(k, vs) | Requirement::NotIn(k, vs) => {
            params.push(k.clone());
            let marks = list(vs, params);
            let not = if matches!(req, Requirement::NotIn(..)) {
                "NOT "
            } else {
                ""
            };
            format!(
                "o.id {not}IN (SELECT object_id FROM labels WHERE key = ? AND value IN ({marks}))"
            )
        }
    }
}

impl Store for SqliteStore {
    fn get(&self, key: &ObjectKey) -> Result<Value> {
        let conn = lock(&self.conn);
        let body: Option<String> = conn
            .prepare_cached(
                "SELECT body FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
            )
            .and_then(|mut st| {
                st.query_row(params![key.kind, key.namespace, key.name], |r| r.get(0))
                    .optional()
            })
            .map_err(self.db_err(format!("read {key}")))?;
        match body {
            Some(body) => parse_body(key, &body),
            None => Err(StoreError::NotFound { key: key.clone() }),
        }
    }

    fn list_with(
        &self,
        kind: &str,
        namespace: Option<&str>,
        selector: Option<&LabelSelector>,
        visit: &mut dyn FnMut(RawRef<'_>) -> Result<()>,
    ) -> Result<u64> {
        let mut sql =
            String::from("SELECT o.namespace, o.name, o.body FROM objects o WHERE o.kind = ?");
        let mut args = vec![kind.to_string()];
        if let Some(ns) = namespace {
            sql.push_str(" AND o.namespace = ?");
            args.push(ns.to_string());
        }
        for req in selector
            .map(|s| s.requirements.as_slice())
            .unwrap_or_default()
        {
            sql.push_str(" AND ");
            sql.push_str(&requirement_sql(req, &mut args));
        }
        sql.push_str(" ORDER BY o.namespace, o.name");
        // A pooled reader, not the shared connection: `visit` may then call
        // back into this store, and long lists do not hold up other calls.
        let mut conn = self.take_reader()?;
        let result = self.list_on(&mut conn, kind, &sql, &args, visit);
        self.put_reader(conn);
        result
    }

    fn create(&self, obj: Value) -> Result<Value> {
        // The name may still be generated; the key as given is the best label.
        let context = format!("create {}", ObjectKey::of(&obj));
        self.write_tx(&context, |tx, revision| {
            let (key, obj) = logic::prepare_create(obj, revision)?;
            if self.load(tx, &key)?.is_some() {
                return Err(StoreError::AlreadyExists { key });
            }
            let write = Write::Put(obj);
            self.persist(tx, &key, None, &write, true, revision)?;
            Ok(outcome(write))
        })
    }

    fn update(&self, obj: Value) -> Result<Value> {
        self.write(obj, Subresource::Main)
    }

    fn update_status(&self, obj: Value) -> Result<Value> {
        self.write(obj, Subresource::Status)
    }

    fn delete(&self, key: &ObjectKey) -> Result<DeleteOutcome> {
        self.write_tx(&format!("delete {key}"), |tx, revision| {
            let (id, current) = self
                .load(tx, key)?
                .ok_or_else(|| StoreError::NotFound { key: key.clone() })?;
            let write = logic::prepare_delete(key, &current, revision)?;
            self.persist(tx, key, Some(id), &write, false, revision)?;
            let removed = matches!(write, Write::Remove(_));
            let (obj, changed) = outcome(write);
            let result = if removed {
                DeleteOutcome::Deleted(obj)
            } else {
                DeleteOutcome::Pending(obj)
            };
            Ok((result, changed))
        })
    }

    fn revision(&self) -> Result<u64> {
        let conn = lock(&self.conn);
        read_meta(&conn, "revision").map_err(self.db_err("read revision"))
    }

    fn watch(&self, since: u64) -> Result<Vec<WatchEvent>> {
        self.watch_limited(since, usize::MAX)
    }

    fn watch_limited(&self, since: u64, limit: usize) -> Result<Vec<WatchEvent>> {
        // SQLite reads a negative LIMIT as "no limit".
        let limit = i64::try_from(limit).unwrap_or(-1);
        let mut conn = lock(&self.conn);
        let tx = conn.transaction().map_err(self.db_err("watch"))?;
        let compacted = read_meta(&tx, "compacted").map_err(self.db_err("watch"))?;
        if since < compacted {
            return Err(StoreError::Expired { since, compacted });
        }
        let rows: Vec<(i64, String, ObjectKey, String)> = tx
            .prepare_cached(
                "SELECT revision, type, kind, namespace, name, body FROM events
                 WHERE revision > ?1 ORDER BY revision LIMIT ?2",
            )
            .and_then(|mut st| {
                st.query_map(params![since as i64, limit], |r| {
                    let key = ObjectKey {
                        kind: r.get(2)?,
                        namespace: r.get(3)?,
                        name: r.get(4)?,
                    };
                    Ok((r.get(0)?, r.get(1)?, key, r.get(5)?))
                })?
                .collect()
            })
            .map_err(self.db_err("watch"))?;
        drop(tx);
        drop(conn);
        rows.into_iter()
            .map(|(revision, kind, key, body)| {
                let event_type = EventType::parse(&kind).ok_or_else(|| StoreError::Decode {
                    key: key.clone(),
                    reason: format!("unknown event type {kind:?} at revision {revision}"),
                })?;
                Ok(WatchEvent {
                    revision: u64::try_from(revision).unwrap_or(0),
                    event_type,
                    object: parse_body(&key, &body)?,
                    key,
                })
            })
            .collect()
    }

    fn wait_for_change(&self, since: u64) -> BoxFuture<'_, Result<u64>> {
        let mut rx = self.revision_tx.subscribe();
        Box::pin(async move {
            loop {
                // A poll is a pragma and, when something changed, a one-row
                // read; WAL readers never wait for writers, so this does
                // not block the runtime worker for any noticeable time.
                let revision = self.poll_revision()?;
                if revision > since {
                    return Ok(revision);
                }
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            tokio::time::sleep(self.options.poll_interval).await;
                        }
                    }
                    _ = tokio::time::sleep(self.options.poll_interval) => {}
                }
            }
        })
    }
}
