//! What every request passes before it reaches the library, in this order:
//!
//! 1. **Host** must name the address the server is bound to (or `localhost` / `127.0.0.1`
//!    at its port), else 400: a page of another site that re-points its DNS name at this
//!    machine (DNS rebinding) sends its own name as Host.
//! 2. **Token**: the random token printed at start, once in the URL (`?token=`), then in an
//!    `HttpOnly`, `SameSite=Strict` cookie; without it 403. The first request with the
//!    token in the URL is redirected to the same path without it, so it does not stay in
//!    the address bar or the history.
//! 3. **Changes** (POST) also need an Origin header naming this server when there is one,
//!    and the CSRF token (a second random value, in a hidden field of every form), else 403.
//!
//! Ids in a path are decimal digits only (`/thumb/12`): anything else (`../x`, `12.jpg`,
//! `%2e`) is 400 before any lookup, and no path from a request ever reaches the file system.

use std::io::Read as _;
use std::net::SocketAddr;

/// The two secrets of one server run.
#[derive(Clone)]
pub struct Secrets {
    /// In the printed URL, then the cookie.
    pub token: String,
    /// In every form.
    pub csrf: String,
}

impl Secrets {
    /// Two fresh 128-bit random values from the OS, in hex.
    pub fn new() -> std::io::Result<Secrets> {
        Ok(Secrets {
            token: random_hex()?,
            csrf: random_hex()?,
        })
    }
}

fn random_hex() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Equal without an early exit, so the time taken tells nothing about the secret.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The Host values this server answers to: the bound address, and at a loopback address
/// also `localhost` and `127.0.0.1` at the same port.
pub fn allowed_hosts(bound: SocketAddr) -> Vec<String> {
    let mut out = vec![bound.to_string()];
    if bound.ip().is_loopback() {
        for h in ["localhost", "127.0.0.1", "[::1]"] {
            out.push(format!("{h}:{}", bound.port()));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The Host header is one of `allowed`.
pub fn host_ok(host: Option<&str>, allowed: &[String]) -> bool {
    host.is_some_and(|h| allowed.iter().any(|a| a.eq_ignore_ascii_case(h.trim())))
}

/// An Origin header, when present, names this server (`http://` + an allowed host).
pub fn origin_ok(origin: Option<&str>, allowed: &[String]) -> bool {
    match origin {
        None => true,
        Some(o) => o
            .strip_prefix("http://")
            .is_some_and(|h| allowed.iter().any(|a| a.eq_ignore_ascii_case(h))),
    }
}

/// The value of cookie `name` in a Cookie header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The cookie that carries the token.
pub const COOKIE: &str = "facelab_token";

/// Why an id in a path was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct BadId;

/// A library id from a path segment: 1 to 18 decimal digits, nothing else.
pub fn parse_id(s: &str) -> Result<i64, BadId> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadId);
    }
    s.parse().map_err(|_| BadId)
}

/// `application/x-www-form-urlencoded` (or a query string) as (key, value) pairs.
pub fn form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding with `+` as a space; invalid escapes stay as they are.
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encoding of a query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// A path to go back to after a change: a local absolute path only (not `//host`), else `/`.
pub fn local_path(s: &str) -> String {
    let ok = s.starts_with('/')
        && !s.starts_with("//")
        && !s.contains('\\')
        && s.bytes().all(|b| (0x21..0x7f).contains(&b));
    if ok {
        s.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_digits_only() {
        assert_eq!(parse_id("42"), Ok(42));
        for bad in [
            "",
            "-1",
            "1.jpg",
            "../etc/passwd",
            "%2e%2e",
            "1 ",
            "99999999999999999999",
        ] {
            assert_eq!(parse_id(bad), Err(BadId), "{bad}");
        }
    }

    #[test]
    fn a_rebinding_host_and_a_foreign_origin_are_refused() {
        let allowed = allowed_hosts("127.0.0.1:8123".parse().unwrap());
        assert!(host_ok(Some("127.0.0.1:8123"), &allowed));
        assert!(host_ok(Some("localhost:8123"), &allowed));
        assert!(!host_ok(Some("evil.example:8123"), &allowed));
        assert!(!host_ok(Some("localhost:9999"), &allowed));
        assert!(!host_ok(None, &allowed));
        assert!(origin_ok(None, &allowed));
        assert!(origin_ok(Some("http://localhost:8123"), &allowed));
        assert!(!origin_ok(Some("http://evil.example:8123"), &allowed));
        assert!(!origin_ok(Some("null"), &allowed));
    }

    #[test]
    fn forms_decode_and_back_paths_stay_local() {
        assert_eq!(
            form("person=Ada+L%C3%B6we&keep=1&keep=2"),
            [("person", "Ada Löwe"), ("keep", "1"), ("keep", "2")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert_eq!(decode("100%"), "100%");
        assert_eq!(local_path("/groups?page=2"), "/groups?page=2");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("http://evil.example/"), "/");
    }
}
