//! One small SQL interface over SQLite (embedded default) and PostgreSQL, so that every HQ query
//! is written once. Statements use `$1, $2, …` placeholders, numbered in order of first
//! appearance (both engines accept that; the SQLite side checks it), integer columns are
//! `BIGINT`, byte columns are written `BYTES` in DDL and become `BLOB` or `BYTEA`.
//!
//! All access is synchronous and goes through one connection per process behind a mutex: HQ
//! calls it from blocking threads. Several HQ processes can share one PostgreSQL database; the
//! primary keys keep concurrent ingest of the same store from duplicating anything.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Val {
    Null,
    I(i64),
    T(String),
    B(Vec<u8>),
}

impl Val {
    pub fn i(&self) -> Option<i64> {
        match self {
            Val::I(v) => Some(*v),
            _ => None,
        }
    }
    pub fn t(&self) -> Option<&str> {
        match self {
            Val::T(v) => Some(v),
            _ => None,
        }
    }
    pub fn b(&self) -> Option<&[u8]> {
        match self {
            Val::B(v) => Some(v),
            _ => None,
        }
    }
    /// A short human form for naming a row in a finding.
    pub fn show(&self) -> String {
        match self {
            Val::Null => "null".into(),
            Val::I(v) => v.to_string(),
            Val::T(v) => v.clone(),
            Val::B(v) => hex::encode(&v[..v.len().min(8)]),
        }
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I(v)
    }
}
impl From<u64> for Val {
    /// Saturating: a position or count past i64 (only ever from outside: a request's `from=2^63`)
    /// compares as the largest one, never wraps to a negative that would match everything.
    fn from(v: u64) -> Val {
        Val::I(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::T(v.to_string())
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Val {
        Val::T(v.clone())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::T(v)
    }
}
impl From<&[u8]> for Val {
    fn from(v: &[u8]) -> Val {
        Val::B(v.to_vec())
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Val {
        v.map(Val::I).unwrap_or(Val::Null)
    }
}

pub type Row = Vec<Val>;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DbError(pub String);

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError(format!("sqlite: {e}"))
    }
}
impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        DbError(format!("postgres: {e}"))
    }
}

/// The statements of one transaction.
pub trait Tx {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError>;
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError>;
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    fn one(&mut self, sql: &str, params: &[Val]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

// One per process: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Db {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres(Mutex<Pg>),
}

pub struct Pg {
    client: postgres::Client,
    cache: HashMap<String, postgres::Statement>,
}

impl Db {
    pub fn open_sqlite(path: &std::path::Path) -> Result<Db, DbError> {
        let c = rusqlite::Connection::open(path)?;
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.pragma_update(None, "synchronous", "FULL")?;
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        c.set_prepared_statement_cache_capacity(128);
        Ok(Db::Sqlite(Mutex::new(c)))
    }
    /// A SQLite file opened read-only (checking a backup).
    pub fn open_sqlite_read_only(path: &std::path::Path) -> Result<Db, DbError> {
        let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        Ok(Db::Sqlite(Mutex::new(c)))
    }
    /// Writes a consistent copy of a SQLite database to `path` (SQLite's online backup, then
    /// fsync); an error on PostgreSQL, whose server is backed up by its operator.
    pub fn sqlite_copy_to(&self, path: &std::path::Path) -> Result<(), DbError> {
        match self {
            Db::Sqlite(m) => {
                let conn = m.lock().map_err(|_| DbError("database lock poisoned".into()))?;
                let mut copy = rusqlite::Connection::open(path)?;
                copy.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF")?;
                rusqlite::backup::Backup::new(&conn, &mut copy)?.run_to_completion(1 << 30, std::time::Duration::ZERO, None)?;
                // A single self-contained file (the source's WAL mode came with its header).
                copy.pragma_update(None, "journal_mode", "DELETE")?;
                drop(copy);
                std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(|e| DbError(e.to_string()))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| DbError(e.to_string()))?;
                }
                Ok(())
            }
            Db::Postgres(_) => Err(DbError("a PostgreSQL database is copied with the server's own tools".into())),
        }
    }
    pub fn memory() -> Result<Db, DbError> {
        let c = rusqlite::Connection::open_in_memory()?;
        c.set_prepared_statement_cache_capacity(128);
        Ok(Db::Sqlite(Mutex::new(c)))
    }
    pub fn connect_postgres(url: &str) -> Result<Db, DbError> {
        let client = postgres::Client::connect(url, postgres::NoTls)?;
        Ok(Db::Postgres(Mutex::new(Pg { client, cache: HashMap::new() })))
    }
    pub fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
    /// DDL with the engine's spelling of byte and serial columns.
    pub fn ddl(&self, sql: &str) -> String {
        match self {
            Db::Sqlite(_) => sql.replace("BYTES", "BLOB").replace("SERIALKEY", "INTEGER PRIMARY KEY AUTOINCREMENT"),
            // Byte-order collation, as SQLite's: verify merges rows ordered by both engines.
            Db::Postgres(_) => sql.replace("BYTES", "BYTEA").replace("SERIALKEY", "BIGSERIAL PRIMARY KEY").replace(" TEXT", " TEXT COLLATE \"C\""),
        }
    }

    /// Runs `f` in one transaction: committed when it returns `Ok`, rolled back otherwise.
    pub fn tx<R, E: From<DbError>>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<R, E>) -> Result<R, E> {
        self.run(false, f)
    }

    /// Runs `f` on one consistent read-only snapshot, without blocking writers.
    pub fn snapshot<R, E: From<DbError>>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<R, E>) -> Result<R, E> {
        self.run(true, f)
    }

    fn run<R, E: From<DbError>>(&self, read_only: bool, f: impl FnOnce(&mut dyn Tx) -> Result<R, E>) -> Result<R, E> {
        match self {
            Db::Sqlite(m) => {
                let conn = m.lock().map_err(|_| DbError("database lock poisoned".into()))?;
                conn.execute_batch(if read_only { "BEGIN DEFERRED" } else { "BEGIN IMMEDIATE" }).map_err(DbError::from)?;
                let mut tx = SqliteTx { conn: &conn };
                match f(&mut tx) {
                    Ok(r) => {
                        if let Err(e) = conn.execute_batch("COMMIT") {
                            let _ = conn.execute_batch("ROLLBACK");
                            return Err(DbError::from(e).into());
                        }
                        Ok(r)
                    }
                    Err(e) => {
                        let _ = conn.execute_batch("ROLLBACK");
                        Err(e)
                    }
                }
            }
            Db::Postgres(m) => {
                let mut pg = m.lock().map_err(|_| DbError("database lock poisoned".into()))?;
                let Pg { client, cache } = &mut *pg;
                let mut t = client.transaction().map_err(DbError::from)?;
                if read_only {
                    t.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").map_err(DbError::from)?;
                }
                let mut tx = PgTx { tx: Some(t), cache };
                let r = f(&mut tx);
                let t = tx.tx.take();
                drop(tx);
                // Bound to a local so the transaction's borrow of `pg` ends before the guard drops.
                #[allow(clippy::let_and_return)]
                let out = match (r, t) {
                    (Ok(r), Some(t)) => match t.commit() {
                        Ok(()) => Ok(r),
                        Err(e) => Err(DbError::from(e).into()),
                    },
                    (Err(e), Some(t)) => {
                        let _ = t.rollback();
                        Err(e)
                    }
                    (r, None) => r,
                };
                out
            }
        }
    }
}

struct SqliteTx<'a> {
    conn: &'a rusqlite::Connection,
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::I(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Val::T(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Val::B(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

impl SqliteTx<'_> {
    fn prepare(&self, sql: &str, n: usize) -> Result<rusqlite::CachedStatement<'_>, DbError> {
        let st = self.conn.prepare_cached(sql)?;
        // `$k` must first appear in order, or SQLite would bind them to the wrong values.
        if st.parameter_count() != n || (1..=n).any(|i| st.parameter_name(i) != Some(format!("${i}").as_str())) {
            return Err(DbError(format!("statement placeholders are not $1..${n} in order: {sql}")));
        }
        Ok(st)
    }
}

impl Tx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        let mut st = self.prepare(sql, params.len())?;
        Ok(st.execute(rusqlite::params_from_iter(params.iter()))? as u64)
    }
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
        use rusqlite::types::ValueRef;
        let mut st = self.prepare(sql, params.len())?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::I(v),
                    ValueRef::Real(v) => Val::T(v.to_string()),
                    ValueRef::Text(t) => Val::T(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Val::B(b.to_vec()),
                });
            }
            out.push(row);
        }
        Ok(out)
    }
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.conn.execute_batch(sql)?)
    }
}

struct PgTx<'a> {
    tx: Option<postgres::Transaction<'a>>,
    cache: &'a mut HashMap<String, postgres::Statement>,
}

impl postgres::types::ToSql for Val {
    fn to_sql(&self, ty: &postgres::types::Type, out: &mut bytes::BytesMut) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        match self {
            Val::Null => Ok(postgres::types::IsNull::Yes),
            Val::I(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Val::I(v) => v.to_sql(ty, out),
            Val::T(v) => v.to_sql(ty, out),
            Val::B(v) => v.to_sql(ty, out),
        }
    }
    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
    postgres::types::to_sql_checked!();
}

impl PgTx<'_> {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, DbError> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let tx = self.tx.as_mut().ok_or_else(|| DbError("transaction already finished".into()))?;
        let st = tx.prepare(sql)?;
        self.cache.insert(sql.to_string(), st.clone());
        Ok(st)
    }
    fn params(params: &[Val]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn postgres::types::ToSql + Sync)).collect()
    }
}

impl Tx for PgTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        let st = self.statement(sql)?;
        let tx = self.tx.as_mut().ok_or_else(|| DbError("transaction already finished".into()))?;
        Ok(tx.execute(&st, &Self::params(params))?)
    }
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
        use postgres::types::Type;
        let st = self.statement(sql)?;
        let tx = self.tx.as_mut().ok_or_else(|| DbError("transaction already finished".into()))?;
        let rows = tx.query(&st, &Self::params(params))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut row = Vec::with_capacity(r.len());
            for (i, c) in r.columns().iter().enumerate() {
                let t = c.type_();
                let v = if *t == Type::INT8 {
                    r.try_get::<_, Option<i64>>(i)?.map(Val::I)
                } else if *t == Type::INT4 {
                    r.try_get::<_, Option<i32>>(i)?.map(|v| Val::I(v as i64))
                } else if *t == Type::INT2 {
                    r.try_get::<_, Option<i16>>(i)?.map(|v| Val::I(v as i64))
                } else if *t == Type::BYTEA {
                    r.try_get::<_, Option<Vec<u8>>>(i)?.map(Val::B)
                } else if *t == Type::BOOL {
                    r.try_get::<_, Option<bool>>(i)?.map(|b| Val::I(b as i64))
                } else {
                    r.try_get::<_, Option<String>>(i)?.map(Val::T)
                };
                row.push(v.unwrap_or(Val::Null));
            }
            out.push(row);
        }
        Ok(out)
    }
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        let tx = self.tx.as_mut().ok_or_else(|| DbError("transaction already finished".into()))?;
        Ok(tx.batch_execute(sql)?)
    }
}
