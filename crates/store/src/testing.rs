//! Databases for tests, of this crate and of the others: a fresh SQLite file in a
//! temp dir, or a fresh database on the PostgreSQL server that `scripts/postgres.sh`
//! starts (`WACONTACTS_TEST_POSTGRES_URL`, exported by `scripts/test`).

use std::path::PathBuf;

use anyhow::Context;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::DatabaseUrl;

/// The variable that names the PostgreSQL server of the tests: a URL whose user may
/// create databases (`postgres://postgres@127.0.0.1:PORT/postgres`).
pub const POSTGRES_URL_VAR: &str = "WACONTACTS_TEST_POSTGRES_URL";

/// The two backends a store test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database that lives as long as this value: its temp dir (SQLite)
/// or its database, dropped with `WITH (FORCE)` (PostgreSQL).
pub struct TestDatabase {
    url: DatabaseUrl,
    raw: String,
    _dir: Option<tempfile::TempDir>,
    drop_pg: Option<(PgConnectOptions, String)>,
}

impl TestDatabase {
    /// A fresh database of `backend`. PostgreSQL needs [`POSTGRES_URL_VAR`]; without
    /// it this fails loudly (tests must not skip PostgreSQL silently).
    pub async fn new(backend: Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().context("Failed to create a temp dir")?;
                Ok(Self {
                    url: DatabaseUrl::in_dir(dir.path())?,
                    raw: format!("sqlite://{}", dir.path().join("wacontacts.db").display()),
                    _dir: Some(dir),
                    drop_pg: None,
                })
            }
            Backend::Postgres => {
                let admin = std::env::var(POSTGRES_URL_VAR).map_err(|_| {
                    anyhow::anyhow!(
                        "{POSTGRES_URL_VAR} is not set: the PostgreSQL tests need a server. \
                         Run the tests with scripts/test (it starts one with \
                         scripts/postgres.sh and exports the URL)"
                    )
                })?;
                let (raw, admin, name) = fresh_postgres(&admin).await?;
                Ok(Self {
                    url: DatabaseUrl::parse(&raw)?,
                    raw,
                    _dir: None,
                    drop_pg: Some((admin, name)),
                })
            }
        }
    }

    /// Where the database is (open it as often as needed, e.g. to test a restart).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The URL as a user gives it to `serve --database-url` (test servers trust local
    /// connections: it holds no password).
    pub fn raw_url(&self) -> &str {
        &self.raw
    }

    /// The SQLite database's directory (`None` on PostgreSQL).
    pub fn dir(&self) -> Option<PathBuf> {
        self._dir.as_ref().map(|d| d.path().to_path_buf())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.drop_pg.take() else {
            return;
        };
        // Drop cannot await: a short-lived runtime on its own thread does the DROP.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Creates a database with a random name on the server `admin_url` names (its user
/// needs CREATEDB; the URL ends in `/DATABASE`, optionally `?params`); returns the new
/// database's URL, the admin options and the name.
pub async fn fresh_postgres(admin_url: &str) -> anyhow::Result<(String, PgConnectOptions, String)> {
    let DatabaseUrl::Postgres(admin, shown) = DatabaseUrl::parse(admin_url)? else {
        anyhow::bail!("{POSTGRES_URL_VAR} must be a postgres:// URL");
    };
    let name = format!("wacontacts_test_{:016x}", rand::random::<u64>());
    let mut conn = PgConnection::connect_with(&admin)
        .await
        .with_context(|| format!("Failed to connect to the test PostgreSQL at {shown}"))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .context("Failed to create a test database")?;
    let _ = conn.close().await;
    let (base, params) = admin_url.split_at(admin_url.find('?').unwrap_or(admin_url.len()));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    Ok((format!("{base}/{name}{params}"), *admin, name))
}
