//! The PostgreSQL engine: tokio-postgres connections driven by a small
//! runtime of their own, so the store stays synchronous (like SQLite) and
//! may be called from any thread, inside an async runtime or not: a call
//! hands its future to that runtime and waits for the answer. Statements
//! are prepared once per connection; rows are bulk-loaded with COPY.

use super::{Row, Value, numbered_placeholders};
use crate::error::{HubError, Result};
use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, SinkExt};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Statement};

/// An arbitrary number, the same in every jxc hub: the advisory lock that
/// lets one hub process at a time migrate a shared database.
const MIGRATION_LOCK: i64 = 0x006a_7863_5f6d_6967;

/// Statements prepared on one connection, by their SQL as the store wrote it.
pub(crate) type Statements = HashMap<String, Statement>;

/// The runtime every PostgreSQL connection of this process runs on.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("jxc-postgres")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| HubError::Internal(format!("the PostgreSQL runtime did not start: {e}")))
}

/// Runs `fut` on the PostgreSQL runtime and waits for it on this thread.
fn run<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| HubError::Internal("a PostgreSQL call was dropped".into()))
}

/// One connection: a client whose requests the runtime carries out.
pub(crate) struct PgClient {
    client: Arc<Client>,
}

/// How a connection is secured, from the URL's `sslmode` and `sslrootcert`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tls {
    /// `sslmode` absent, `disable` or `prefer`: plain TCP (a loopback or
    /// private network).
    Off,
    /// `require`, `verify-ca` or `verify-full`: TLS, the server's
    /// certificate verified against `sslrootcert` (else the system's roots)
    /// and its name checked, whichever of the three is given.
    Verified { root: Option<String> },
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query: what
/// tokio-postgres does not read itself. Returns the URL to connect with.
fn tls_settings(url: &str) -> Result<(String, Tls)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Tls::Off));
    };
    let (mut mode, mut root, mut rest) = (None, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = Some(v.to_owned()),
            Some(("sslrootcert", v)) => root = Some(percent_decode(v)),
            _ => rest.push(pair),
        }
    }
    let tls = match mode.as_deref() {
        None | Some("disable") | Some("prefer") => Tls::Off,
        Some("require") | Some("verify-ca") | Some("verify-full") => Tls::Verified { root },
        Some(other) => {
            return Err(HubError::Invalid(format!(
                "database sslmode {other:?} is not valid: use disable, require, verify-ca or verify-full"
            )));
        }
    };
    if tls != Tls::Off {
        rest.push("sslmode=require");
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, tls))
}

/// `%2F` and the like in a URL parameter.
fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A rustls client configuration trusting `root` (a PEM file), else the
/// system's certificate store.
fn tls_config(root: Option<&str>) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect())
                .map_err(|e| {
                    HubError::DataDir(format!("database sslrootcert {path:?} does not read: {e}"))
                })?;
            if certs.is_empty() {
                return Err(HubError::DataDir(format!(
                    "database sslrootcert {path:?} holds no certificate"
                )));
            }
            for c in certs {
                roots.add(c).map_err(|e| {
                    HubError::DataDir(format!("database sslrootcert {path:?}: {e}"))
                })?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HubError::Internal(format!("TLS to PostgreSQL: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl PgClient {
    fn connect(url: &str) -> Result<PgClient> {
        let (plain, tls) = tls_settings(url)?;
        let config = match &tls {
            Tls::Off => None,
            Tls::Verified { root } => Some(tls_config(root.as_deref())?),
        };
        let connected = run(async move {
            match config {
                None => tokio_postgres::connect(&plain, NoTls)
                    .await
                    .map(|(c, conn)| (c, conn.boxed())),
                Some(cfg) => tokio_postgres::connect(
                    &plain,
                    tokio_postgres_rustls::MakeRustlsConnect::new(cfg),
                )
                .await
                .map(|(c, conn)| (c, conn.boxed())),
            }
        })?;
        let (client, connection) = connected.map_err(|e| {
            HubError::DataDir(format!(
                "cannot connect to the hub database {}: {e}",
                redact(url)
            ))
        })?;
        runtime()?.spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("PostgreSQL connection ended: {e}");
            }
        });
        Ok(PgClient {
            client: Arc::new(client),
        })
    }

    pub(super) fn batch_execute(&mut self, sql: &str) -> Result<()> {
        let (c, sql) = (self.client.clone(), sql.to_owned());
        Ok(run(async move { c.batch_execute(&sql).await })??)
    }

    fn prepare(&mut self, sql: &str) -> Result<Statement> {
        let (c, sql) = (self.client.clone(), sql.to_owned());
        Ok(run(async move { c.prepare(&sql).await })??)
    }

    fn execute(&mut self, stmt: Statement, params: Vec<Value>) -> Result<u64> {
        let c = self.client.clone();
        Ok(run(async move { c.execute(&stmt, &refs(&params)).await })??)
    }

    fn query(&mut self, stmt: Statement, params: Vec<Value>) -> Result<Vec<tokio_postgres::Row>> {
        let c = self.client.clone();
        Ok(run(async move { c.query(&stmt, &refs(&params)).await })??)
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

pub(super) struct PgConn {
    url: String,
    client: PgClient,
    statements: Statements,
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`.
pub(super) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // key=value form: hide a password=… pair.
        return url
            .split_whitespace()
            .map(|kv| {
                if kv.starts_with("password=") {
                    "password=***"
                } else {
                    kv
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    match rest.split_once('@') {
        Some((auth, host)) => match auth.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl PgConn {
    /// Connects and migrates. Without `create`, a database that holds no hub
    /// is refused rather than set up.
    pub(super) fn open(url: &str, create: bool, migrations: &[&str]) -> Result<PgConn> {
        let mut conn = PgConn {
            url: url.to_owned(),
            client: PgClient::connect(url)?,
            statements: Statements::new(),
        };
        let known = migrations.len() as i64;
        conn.in_transaction(|client, statements| {
            // Hub processes starting together: one migrates, the others wait.
            exec(client, statements, "SELECT pg_advisory_xact_lock(?)", &[Value::Int(MIGRATION_LOCK)])?;
            let exists = query(
                client,
                statements,
                "SELECT to_regclass('jxc_schema') IS NOT NULL",
                &[],
            )?
            .first()
            .map(|r| r.get::<bool>(0))
            .transpose()?
            .unwrap_or(false);
            if !exists && !create {
                return Err(HubError::DataDir(format!(
                    "no hub in the database {}: run `jxc-hub init --database URL` first",
                    redact(url)
                )));
            }
            client.batch_execute("CREATE TABLE IF NOT EXISTS jxc_schema (version BIGINT NOT NULL)")?;
            let version: i64 = match query(client, statements, "SELECT version FROM jxc_schema", &[])?
                .first()
            {
                Some(r) => r.get(0)?,
                None => {
                    client.batch_execute("INSERT INTO jxc_schema (version) VALUES (0)")?;
                    0
                }
            };
            if version > known {
                return Err(HubError::DataDir(format!(
                    "the database {} was written by a newer jxc-hub (schema {version}; this one knows up to {known})",
                    redact(url)
                )));
            }
            for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
                client.batch_execute(sql)?;
                client.batch_execute(&format!("UPDATE jxc_schema SET version = {}", i + 1))?;
            }
            Ok(())
        })?;
        // Statements prepared while migrating may name tables they changed.
        conn.statements.clear();
        Ok(conn)
    }

    /// The client, reconnected first if the server closed the connection
    /// (a restart, a failover): its prepared statements went with it.
    pub(super) fn session(&mut self) -> Result<(&mut PgClient, &mut Statements)> {
        if self.client.is_closed() {
            tracing::warn!(database = %redact(&self.url), "reconnecting to PostgreSQL");
            self.client = PgClient::connect(&self.url)?;
            self.statements.clear();
        }
        Ok((&mut self.client, &mut self.statements))
    }

    /// Runs `f` between BEGIN and COMMIT, rolling back on any error.
    pub(super) fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut PgClient, &mut Statements) -> Result<T>,
    ) -> Result<T> {
        let (client, statements) = self.session()?;
        client.batch_execute("BEGIN")?;
        match f(client, statements) {
            Ok(v) => {
                client.batch_execute("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                // A broken connection rolls back by itself on the server.
                let _ = client.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }
}

fn statement(client: &mut PgClient, cache: &mut Statements, sql: &str) -> Result<Statement> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = client.prepare(&numbered_placeholders(sql))?;
    cache.insert(sql.to_owned(), s.clone());
    Ok(s)
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

pub(super) fn exec(
    client: &mut PgClient,
    cache: &mut Statements,
    sql: &str,
    params: &[Value],
) -> Result<u64> {
    let stmt = statement(client, cache, sql)?;
    client.execute(stmt, params.to_vec())
}

pub(super) fn query(
    client: &mut PgClient,
    cache: &mut Statements,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Row>> {
    let stmt = statement(client, cache, sql)?;
    client
        .query(stmt, params.to_vec())?
        .iter()
        .map(row)
        .collect()
}

fn row(r: &tokio_postgres::Row) -> Result<Row> {
    let mut vals = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let v = match *ty {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Value::Real),
            Type::FLOAT4 => r
                .try_get::<_, Option<f32>>(i)?
                .map(|v| Value::Real(v.into())),
            Type::NUMERIC => r.try_get::<_, Option<Decimal>>(i)?.map(|d| {
                // Sums of integer columns come back as NUMERIC.
                if d.fract().is_zero() {
                    i64::try_from(d).map_or_else(|_| Value::Text(d.to_string()), Value::Int)
                } else {
                    Value::Text(d.normalize().to_string())
                }
            }),
            Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                r.try_get::<_, Option<String>>(i)?.map(Value::Text)
            }
            _ => {
                return Err(HubError::Internal(format!(
                    "column {} has PostgreSQL type {ty}, which the hub does not read",
                    col.name()
                )));
            }
        };
        vals.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(vals))
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        let mismatch = || -> BoxError { format!("{self:?} cannot be stored as {ty}").into() };
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::NUMERIC => Decimal::from(*i).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.as_str().to_sql(ty, out)
                }
                Type::NUMERIC => s.parse::<Decimal>()?.to_sql(ty, out),
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(mismatch()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// One field in COPY's text format.
fn copy_field(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"\\N"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Real(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::Text(s) => {
            for b in s.bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b => out.push(b),
                }
            }
        }
        Value::Blob(b) => {
            // bytea's hex input, its backslash escaped for COPY.
            out.extend_from_slice(b"\\\\x");
            out.extend_from_slice(hex::encode(b).as_bytes());
        }
    }
}

/// Appends `rows` to `table` with one `COPY … FROM STDIN`.
pub(super) fn copy_rows(
    client: &mut PgClient,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
) -> Result<()> {
    let mut buf = Vec::with_capacity(rows.len() * 160);
    for r in rows {
        for (i, v) in r.iter().enumerate() {
            if i > 0 {
                buf.push(b'\t');
            }
            copy_field(&mut buf, v);
        }
        buf.push(b'\n');
    }
    let c = client.client.clone();
    let copy = format!("COPY {table} ({}) FROM STDIN", columns.join(", "));
    run(async move {
        let sink = c.copy_in::<_, Bytes>(&copy).await?;
        let mut sink = std::pin::pin!(sink);
        sink.send(Bytes::from(buf)).await?;
        sink.finish().await
    })??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Tls, Value, copy_field, redact, tls_settings};

    #[test]
    fn sslmode_and_sslrootcert_are_read_and_taken_out() {
        assert_eq!(
            tls_settings("postgres://h/db").unwrap(),
            ("postgres://h/db".into(), Tls::Off)
        );
        assert_eq!(
            tls_settings(
                "postgres://h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=5"
            )
            .unwrap(),
            (
                "postgres://h/db?connect_timeout=5&sslmode=require".into(),
                Tls::Verified {
                    root: Some("/etc/ca.pem".into())
                }
            )
        );
        assert_eq!(
            tls_settings("postgres://h/db?sslmode=disable").unwrap().1,
            Tls::Off
        );
        let e = tls_settings("postgres://h/db?sslmode=sometimes").unwrap_err();
        assert!(e.to_string().contains("sslmode \"sometimes\""), "{e}");
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("postgres://hub:s3cret@db.example.cn:5432/jxc"),
            "postgres://hub:***@db.example.cn:5432/jxc"
        );
        assert_eq!(redact("postgres://hub@db/jxc"), "postgres://hub@db/jxc");
        assert_eq!(
            redact("host=db user=hub password=s3cret dbname=jxc"),
            "host=db user=hub password=*** dbname=jxc"
        );
    }

    #[test]
    fn copy_text_escapes_what_would_split_a_row() {
        let mut out = Vec::new();
        copy_field(&mut out, &Value::Text("龙井\t特级\\1\n".into()));
        assert_eq!(out, "龙井\\t特级\\\\1\\n".as_bytes());
        out.clear();
        copy_field(&mut out, &Value::Blob(vec![0xab, 0x01]));
        assert_eq!(out, b"\\\\xab01");
        out.clear();
        copy_field(&mut out, &Value::Null);
        assert_eq!(out, b"\\N");
    }
}
