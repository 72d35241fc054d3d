//! The two backends: SQLite (embedded default) and PostgreSQL (shared by many
//! processes). Every statement is written once, in SQL both accept (`$N`
//! placeholders, `ON CONFLICT … DO UPDATE`, `RETURNING`, `CASE` instead of scalar
//! `MAX`); [`on_pool!`] and [`on_tx!`] expand a query body once per backend, so the
//! rows are decoded natively (no `sqlx::Any` conversion of every row). Inside a body
//! the constant `PG` picks the few dialect-only fragments (see [`dialect`]).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Decode, Postgres, Sqlite, Transaction, Type};

/// Runs `$body` with `$conn` bound to the backend's pool (`&SqlitePool` or
/// `&PgPool`) and the constant `PG` telling which; both arms must yield one type.
macro_rules! on_pool {
    ($pool:expr, |$conn:ident| $body:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite($conn) => {
                #[allow(dead_code)]
                const PG: bool = false;
                $body
            }
            $crate::db::Pool::Postgres($conn) => {
                #[allow(dead_code)]
                const PG: bool = true;
                $body
            }
        }
    };
}

/// Like [`on_pool!`] for a [`Tx`]: `$conn` is the backend's `&mut Transaction`
/// (use it as `&mut **$conn`).
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite($conn) => {
                #[allow(dead_code)]
                const PG: bool = false;
                $body
            }
            $crate::db::Tx::Postgres($conn) => {
                #[allow(dead_code)]
                const PG: bool = true;
                $body
            }
        }
    };
}

/// SQL fragments whose spelling differs between the backends; `pg` is the `PG`
/// constant of an [`on_pool!`]/[`on_tx!`] arm.
pub(crate) mod dialect {
    /// A subquery over the JSON array (text) bound at `$n`, for `x IN (…)`: sets of
    /// any size in one parameter, no variable limit, no chunking. `cast` types the
    /// elements on PostgreSQL (`""` for text, `"::bigint"`).
    fn json_set(pg: bool, n: u8, cast: &str) -> String {
        if pg {
            format!("(SELECT v{cast} FROM json_array_elements_text(${n}::json) AS j(v))")
        } else {
            format!("(SELECT value FROM json_each(${n}))")
        }
    }

    /// `(…)`: the strings of the JSON array bound at `$n`.
    pub(crate) fn text_set(pg: bool, n: u8) -> String {
        json_set(pg, n, "")
    }

    /// `(…)`: the integers of the JSON array bound at `$n`.
    pub(crate) fn int_set(pg: bool, n: u8) -> String {
        json_set(pg, n, "::bigint")
    }

    /// `(…)`: the blobs of the JSON array of lowercase hex strings bound at `$n`.
    pub(crate) fn blob_set(pg: bool, n: u8) -> String {
        if pg {
            format!("(SELECT decode(v, 'hex') FROM json_array_elements_text(${n}::json) AS j(v))")
        } else {
            format!("(SELECT unhex(value) FROM json_each(${n}))")
        }
    }

    /// A `FROM` item over the JSON array of rows (arrays) bound at `$n`: one row `j`
    /// per element, its fields read as `j.value ->> 0`, `j.value ->> 1`… (text).
    pub(crate) fn json_rows(pg: bool, n: u8) -> String {
        if pg {
            format!("json_array_elements(${n}::json) AS j(value)")
        } else {
            format!("json_each(${n}) AS j")
        }
    }

    /// The JSON array constructor: `json_array` / `json_build_array`.
    pub(crate) fn json_array(pg: bool) -> &'static str {
        if pg { "json_build_array" } else { "json_array" }
    }

    /// `SELECT <the JSON array of every x>` over a subquery yielding JSON values `x`,
    /// as text (`'[]'` when empty).
    pub(crate) fn json_agg(pg: bool) -> &'static str {
        if pg {
            "SELECT coalesce(json_agg(x), '[]')::text"
        } else {
            "SELECT json_group_array(json(x))"
        }
    }
}

/// Runs each listed `async fn NAME(backend: Backend)` of the enclosing module as two
/// tests, `sqlite::NAME` and `postgres::NAME`; `both_backends!(flavor = "multi_thread";
/// a, b)` picks tokio's runtime flavor.
#[cfg(test)]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        both_backends!(flavor = "current_thread"; $($name),*);
    };
    (flavor = $flavor:literal; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = $flavor)]
                async fn $name() {
                    super::$name($crate::test_support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = $flavor)]
                async fn $name() {
                    super::$name($crate::test_support::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A connection pool of either backend. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction of either backend.
#[derive(Debug)]
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Pool {
    /// A transaction that writes: on SQLite `BEGIN IMMEDIATE` (the write lock from the
    /// first statement, so read-then-write never fails on the lock upgrade); on
    /// PostgreSQL a plain `BEGIN` (row locks and `ON CONFLICT` do that job).
    pub(crate) async fn write_tx(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A transaction that only reads, for a consistent view over several statements.
    pub(crate) async fn read_tx(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Pool::Postgres(pool) => Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        })
    }
}

impl Tx {
    /// Commits; dropping a `Tx` instead rolls it back.
    pub(crate) async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// A value to bind where the statement is assembled at run time (a list of columns
/// to set): both backends encode it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
}

/// A value both backends decode (`i64`, `String`, `Vec<u8>`, their `Option`s).
pub(crate) trait Col:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Col for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A row of either backend, read by column name: lets one mapping function serve both.
pub(crate) trait DbRow {
    /// The column `col` decoded as `T`.
    fn try_get<T: Col, I: AsRef<str>>(&self, col: I) -> sqlx::Result<T>;
}

impl DbRow for SqliteRow {
    fn try_get<T: Col, I: AsRef<str>>(&self, col: I) -> sqlx::Result<T> {
        sqlx::Row::try_get(self, col.as_ref())
    }
}

impl DbRow for PgRow {
    fn try_get<T: Col, I: AsRef<str>>(&self, col: I) -> sqlx::Result<T> {
        sqlx::Row::try_get(self, col.as_ref())
    }
}

/// Where the database lives: a SQLite file (the default, `{data_dir}/wacontacts.db`)
/// or a PostgreSQL server. Parsed once at start-up; `Display` hides the password.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// `sqlite://path`, `sqlite:path`, `sqlite::memory:`.
    Sqlite(Box<SqliteConnectOptions>, String),
    /// `postgres://…` or `postgresql://…`.
    Postgres(Box<PgConnectOptions>, String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

impl std::fmt::Display for DatabaseUrl {
    /// The URL with its password replaced by `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(_, shown) | DatabaseUrl::Postgres(_, shown) => f.write_str(shown),
        }
    }
}

impl DatabaseUrl {
    /// The SQLite file `wacontacts.db` in `data_dir` (created with the dir if missing).
    pub fn in_dir(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("Failed to create data dir {}", data_dir.display()))?;
        let path = data_dir.join("wacontacts.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        Ok(DatabaseUrl::Sqlite(
            Box::new(options),
            format!("sqlite://{}", path.display()),
        ))
    }

    /// Parses `sqlite://…`/`sqlite:…` or `postgres://…`/`postgresql://…`. A SQLite
    /// file is created when missing. Errors name the URL with its password hidden.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let shown = redact(url);
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|e| anyhow::anyhow!(redact(&e.to_string())))
                    .with_context(|| format!("Invalid SQLite database URL {shown}"))?
                    .create_if_missing(true);
                Ok(DatabaseUrl::Sqlite(Box::new(options), shown))
            }
            "postgres" | "postgresql" => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| anyhow::anyhow!(redact(&e.to_string())))
                    .with_context(|| format!("Invalid PostgreSQL database URL {shown}"))?;
                Ok(DatabaseUrl::Postgres(Box::new(options), shown))
            }
            _ => bail!(
                "Unsupported database URL {shown}: it must start with sqlite:// or postgres:// \
                 (or postgresql://)"
            ),
        }
    }

    /// Whether this is a PostgreSQL URL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(..))
    }
}

/// `url` with the password of its authority (`user:PASSWORD@host`) replaced by `***`.
/// Also hides a `password=` query parameter.
pub(crate) fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let end = out[start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..end].rfind('@').map(|i| start + i)
            && let Some(colon) = out[start..at].find(':').map(|i| start + i)
        {
            out.replace_range(colon + 1..at, "***");
        }
    }
    if let Some(i) = out.to_ascii_lowercase().find("password=") {
        let from = i + "password=".len();
        let to = out[from..].find('&').map_or(out.len(), |j| from + j);
        out.replace_range(from..to, "***");
    }
    out
}

/// Connects to `url` and runs its backend's migrations.
pub(crate) async fn connect(url: &DatabaseUrl) -> anyhow::Result<Pool> {
    match url {
        DatabaseUrl::Sqlite(options, shown) => {
            // WAL lets readers run beside the writer; foreign keys are off by default in SQLite.
            let options = (**options)
                .clone()
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                // Reads map the file instead of copying pages into each connection's cache:
                // deep list pages walk ~1,000 index pages per 100k contacts.
                .pragma("mmap_size", "268435456");
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .with_context(|| format!("Failed to open the SQLite database {shown}"))?;
            sqlx::migrate!("./migrations/sqlite")
                .run(&pool)
                .await
                .context("Failed to run database migrations")?;
            Ok(Pool::Sqlite(pool))
        }
        DatabaseUrl::Postgres(options, shown) => {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with((**options).clone())
                .await
                .map_err(|e| anyhow::anyhow!(redact(&e.to_string())))
                .with_context(|| format!("Failed to connect to PostgreSQL at {shown}"))?;
            sqlx::migrate!("./migrations/postgres")
                .run(&pool)
                .await
                .context("Failed to run database migrations")?;
            Ok(Pool::Postgres(pool))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        assert_eq!(
            redact("postgres://app:s3cr%40t@db.example:5432/wa?sslmode=require"),
            "postgres://app:***@db.example:5432/wa?sslmode=require"
        );
        assert_eq!(redact("postgres://app@db/wa"), "postgres://app@db/wa");
        assert_eq!(
            redact("postgresql://db/wa?user=a&password=hunter2&x=1"),
            "postgresql://db/wa?user=a&password=***&x=1"
        );
        let err = DatabaseUrl::parse("mysql://root:hunter2@db/wa").unwrap_err();
        let text = format!("{err:#}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("postgres://"), "{text}");
        let err = DatabaseUrl::parse("postgres://u:hunter2@db:notaport/wa").unwrap_err();
        let text = format!("{err:#}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            DatabaseUrl::parse("postgresql://u:p@localhost/wa")
                .unwrap()
                .is_postgres()
        );
        assert!(!DatabaseUrl::parse("sqlite::memory:").unwrap().is_postgres());
    }
}
