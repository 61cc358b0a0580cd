//! Where a PostgreSQL library is: its URL (`postgres://user@host:port/database`), the
//! password from the URL, `PGPASSWORD` or the password file (`PGPASSFILE`, else
//! `~/.pgpass`), and a display form without the password for every message.

use std::str::FromStr;
use std::time::Duration;

use crate::LibraryError;

/// Whether `location` (a `--library` value or `library.url`) names a PostgreSQL server.
pub fn is_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// A server to connect to.
pub struct Target {
    config: postgres::Config,
    /// `postgres://user@host:port/database`: no password, ever.
    pub display: String,
}

fn bad_url(url: &str, message: impl std::fmt::Display) -> LibraryError {
    // The URL may hold a password: name it without.
    let shown = url.split_once('@').map_or(url, |(_, rest)| rest);
    LibraryError::Connect {
        url: format!("postgres://…@{shown}"),
        message: format!(
            "not a PostgreSQL URL: {message} (help: write postgres://USER@HOST:PORT/DATABASE)"
        ),
    }
}

impl Target {
    /// Parses `url`, filling what it leaves out from libpq's environment variables
    /// (`PGUSER`, `PGHOST`, `PGPORT`, `PGDATABASE`, `PGPASSWORD`) and the password file.
    pub fn parse(url: &str) -> Result<Target, LibraryError> {
        let mut config = postgres::Config::from_str(url).map_err(|e| bad_url(url, e))?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if config.get_user().is_none() {
            let user = env("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".into());
            config.user(&user);
        }
        if config.get_hosts().is_empty() {
            config.host(&env("PGHOST").unwrap_or_else(|| "localhost".into()));
        }
        if config.get_ports().is_empty() {
            if let Some(port) = env("PGPORT").and_then(|p| p.parse().ok()) {
                config.port(port);
            }
        }
        if config.get_dbname().is_none() {
            let db = env("PGDATABASE").unwrap_or_else(|| config.get_user().unwrap().to_owned());
            config.dbname(&db);
        }
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let (user, db) = (
            config.get_user().unwrap_or_default().to_owned(),
            config.get_dbname().unwrap_or_default().to_owned(),
        );
        if config.get_password().is_none() {
            if let Some(pw) = env("PGPASSWORD").or_else(|| pgpass(&host, port, &db, &user)) {
                config.password(pw);
            }
        }
        config
            .connect_timeout(Duration::from_secs(10))
            .application_name("facelab");
        Ok(Target {
            config,
            display: format!("postgres://{user}@{host}:{port}/{db}"),
        })
    }

    /// Connects; each way it can fail is one line naming the server and the fix.
    pub fn connect(&self, busy_timeout_ms: u64) -> Result<postgres::Client, LibraryError> {
        let fail = |message: String| LibraryError::Connect {
            url: self.display.clone(),
            message,
        };
        let mut client = self
            .config
            .connect(postgres::NoTls)
            .map_err(|e| fail(connect_message(&e)))?;
        client
            .batch_execute(&format!(
                "SET lock_timeout = {busy_timeout_ms}; SET client_min_messages = warning"
            ))
            .map_err(|e| fail(e.to_string()))?;
        Ok(client)
    }
}

/// Why a connection failed, and what to do.
fn connect_message(e: &postgres::Error) -> String {
    use postgres::error::SqlState;
    if let Some(db) = e.as_db_error() {
        let help = match db.code() {
            c if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                "check the user and password (in the URL, PGPASSWORD or ~/.pgpass)"
            }
            c if *c == SqlState::INVALID_CATALOG_NAME => {
                "create the database first (`createdb NAME`), or fix its name in the URL"
            }
            _ => "see the server's message",
        };
        return format!("the server refused: {} (help: {help})", db.message());
    }
    let cause = std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string());
    format!("cannot reach the server: {cause} (help: check that PostgreSQL is running there and that the host and port are right)")
}

/// The password for this server in the password file, if one line matches (`*` matches
/// anything; the first matching line wins, as libpq reads it).
fn pgpass(host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let path = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let port = port.to_string();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let f = split_pgpass(line);
            let want = [host, &port, db, user];
            (f.len() == 5 && f[..4].iter().zip(want).all(|(f, w)| f == "*" || f == w))
                .then(|| f[4].clone())
        })
}

/// A password-file line's fields: `:` separates, `\:` and `\\` escape.
fn split_pgpass(line: &str) -> Vec<String> {
    let (mut fields, mut cur, mut chars) = (Vec::new(), String::new(), line.chars());
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            ':' => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_form_never_holds_the_password() {
        let t = Target::parse("postgres://ada:s3cret@db.example:6543/photos").unwrap();
        assert_eq!(t.display, "postgres://ada@db.example:6543/photos");
        let e = Target::parse("postgres://ada:s3cret@db.example:notaport/x")
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn password_file_lines_match_by_field_with_wildcards_and_escapes() {
        assert_eq!(
            split_pgpass(r"h:5432:d:u:p\:w"),
            ["h", "5432", "d", "u", "p:w"]
        );
    }
}
