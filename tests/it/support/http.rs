//! A minimal HTTP/1.1 client for the framework tests: one request per connection, the
//! session cookie named `id`. Enough for the demos' four routes, without a client library.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Status, the `id` cookie set by the response if any, and the body.
pub struct Reply {
    pub status: u16,
    pub cookie: Option<String>,
    pub body: String,
}

/// Sends one request (a form body makes it `application/x-www-form-urlencoded`) and reads
/// the whole reply, failing the test if it takes more than ten seconds.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        head.push_str(&format!("Cookie: id={cookie}\r\n"));
    }
    let body = form.unwrap_or("");
    if form.is_some() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the server answers in time")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let cookie = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.eq_ignore_ascii_case("set-cookie") {
            return None;
        }
        let pair = value.trim().split(';').next()?;
        pair.strip_prefix("id=").map(str::to_owned)
    });
    Reply {
        status,
        cookie,
        body: body.to_owned(),
    }
}
