//! The HTTP/1.1 this app needs, on `std::net`: one request per connection (every reply
//! says `Connection: close`), headers up to 64 KiB, a form body up to 1 MiB, each
//! connection on its own short-lived thread, so an idle connection a browser opened ahead
//! of time holds no worker. A local app with a few users needs no more; a small crate
//! tried first (tiny_http) now and then left a tile the browser had asked for unloaded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A request as read from the connection.
pub struct Incoming {
    /// `GET`, `POST`, … as sent.
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body (a POST's form).
    pub body: Vec<u8>,
}

impl Incoming {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 1 << 20;

/// Why a request could not be read (the connection is then closed with a 400, or silently
/// when the client sent nothing).
#[derive(Debug)]
pub enum ReadError {
    /// Nothing arrived (an idle connection closed or timed out).
    Nothing,
    /// Not HTTP this server reads.
    Bad(&'static str),
}

/// Reads one request from `stream`, waiting at most `timeout` between reads.
pub fn read_request(stream: &mut TcpStream, timeout: Duration) -> Result<Incoming, ReadError> {
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|_| ReadError::Nothing)?;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Bad("headers too large"));
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) if buf.is_empty() => return Err(ReadError::Nothing),
            Ok(0) | Err(_) => return Err(ReadError::Bad("the request ended early")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head =
        std::str::from_utf8(&buf[..end]).map_err(|_| ReadError::Bad("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (method, target) = match (first.next(), first.next(), first.next()) {
        (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/1.") && t.starts_with('/') => {
            (m.to_owned(), t.to_owned())
        }
        _ => return Err(ReadError::Bad("not an HTTP/1 request line")),
    };
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line
            .split_once(':')
            .ok_or(ReadError::Bad("a header without a colon"))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let mut req = Incoming {
        method,
        target,
        headers,
        body: buf[end + 4..].to_vec(),
    };
    if req.header("transfer-encoding").is_some() {
        return Err(ReadError::Bad("chunked bodies are not read"));
    }
    let length: usize = match req.header("content-length") {
        Some(v) => v
            .parse()
            .map_err(|_| ReadError::Bad("a bad Content-Length"))?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err(ReadError::Bad("the body is too large"));
    }
    while req.body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(ReadError::Bad("the body ended early")),
            Ok(n) => req.body.extend_from_slice(&chunk[..n]),
        }
    }
    req.body.truncate(length);
    Ok(req)
}

/// Writes a reply and ends the connection.
pub fn write_reply(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        // A value with a line break would split the reply; none of ours has one.
        if !v.contains(['\r', '\n']) {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    stream.write_all(out.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}
