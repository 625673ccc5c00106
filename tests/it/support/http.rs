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
/// the whole reply, failing the test if it takes more than twenty seconds.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Reply {
    request_from(addr, method, path, cookie, form, None).await
}

/// A browser: its own cookie jar (the `id` cookie, replaced when a response sets one) and
/// user agent.
#[allow(dead_code)]
pub struct Browser {
    pub addr: SocketAddr,
    pub cookie: Option<String>,
    pub agent: &'static str,
}

#[allow(dead_code)]
impl Browser {
    pub fn new(addr: SocketAddr, agent: &'static str) -> Self {
        Browser {
            addr,
            cookie: None,
            agent,
        }
    }

    /// Sends a request with the jar's cookie and keeps any cookie the reply sets.
    pub async fn send(&mut self, method: &str, path: &str, form: Option<&str>) -> Reply {
        let reply = request_from(
            self.addr,
            method,
            path,
            self.cookie.as_deref(),
            form,
            Some(self.agent),
        )
        .await;
        if let Some(cookie) = &reply.cookie {
            self.cookie = Some(cookie.clone());
        }
        reply
    }
}

/// [`request`] with a `User-Agent`.
pub async fn request_from(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    agent: Option<&str>,
) -> Reply {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(agent) = agent {
        head.push_str(&format!("User-Agent: {agent}\r\n"));
    }
    if let Some(cookie) = cookie {
        head.push_str(&format!("Cookie: id={cookie}\r\n"));
    }
    let body = form.unwrap_or("");
    if form.is_some() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let reply = exchange(addr, &head).await;
    Reply {
        status: reply.status,
        cookie: reply.cookie("id").map(str::to_owned),
        body: reply.body,
    }
}

/// Storage ids in a sessions page: the `value` of each revoke form.
#[allow(dead_code)]
fn listed_ids(page: &str) -> Vec<String> {
    page.split("name=id value=")
        .skip(1)
        .filter_map(|rest| rest.get(..64))
        .map(str::to_owned)
        .collect()
}

/// The demo flow of a user's sessions, through HTTP with two cookie jars: two browsers
/// logged in under one name see each other; a revoke in one logs the other out at its next
/// request; "log out everywhere" ends both.
#[allow(dead_code)]
pub async fn two_browsers(addr: SocketAddr) {
    let mut firefox = Browser::new(addr, "Firefox on Linux");
    let mut safari = Browser::new(addr, "Safari on iOS");
    for browser in [&mut firefox, &mut safari] {
        browser.send("GET", "/", None).await;
        let login = browser.send("POST", "/login", Some("user=alice")).await;
        assert_eq!(login.status, 303);
    }
    let mut bob = Browser::new(addr, "Chrome on Windows");
    bob.send("POST", "/login", Some("user=bob")).await;

    let page = firefox.send("GET", "/sessions", None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<h1>2 sessions</h1>"), "{}", page.body);
    assert!(page.body.contains("Firefox on Linux") && page.body.contains("Safari on iOS"));
    assert!(
        !page.body.contains("Chrome"),
        "another user's session listed"
    );
    assert_eq!(page.body.matches("this device").count(), 1, "{}", page.body);
    // The row marked "this device" is Firefox's; the other is Safari's.
    let ids = listed_ids(&page.body);
    assert_eq!(ids.len(), 2);
    let firefox_row = page.body.find("Firefox on Linux").unwrap();
    let marked = page.body.find("this device").unwrap();
    let safari_id = if page.body.find("Safari on iOS").unwrap() < firefox_row {
        &ids[0]
    } else {
        &ids[1]
    };
    assert!(marked > firefox_row);

    // Safari sees both too.
    let seen = safari.send("GET", "/sessions", None).await;
    assert!(seen.body.contains("<h1>2 sessions</h1>"), "{}", seen.body);

    // Bob cannot revoke alice's session by its storage id.
    let denied = bob
        .send("POST", "/sessions/revoke", Some(&format!("id={safari_id}")))
        .await;
    assert_eq!(denied.status, 303);
    let still = safari.send("GET", "/", None).await;
    assert!(
        still.body.contains("Logged in as <b>alice</b>"),
        "{}",
        still.body
    );

    // Firefox revokes Safari: Safari is logged out at its next request.
    let revoked = firefox
        .send("POST", "/sessions/revoke", Some(&format!("id={safari_id}")))
        .await;
    assert_eq!(revoked.status, 303);
    let out = safari.send("GET", "/", None).await;
    assert!(!out.body.contains("Logged in"), "{}", out.body);
    let page = firefox.send("GET", "/sessions", None).await;
    assert!(page.body.contains("<h1>1 sessions</h1>"), "{}", page.body);

    // Safari logs in again; "log out everywhere" from Firefox ends both.
    safari.send("POST", "/login", Some("user=alice")).await;
    let everywhere = firefox.send("POST", "/logout-everywhere", None).await;
    assert_eq!(everywhere.status, 303);
    for browser in [&mut firefox, &mut safari] {
        let page = browser.send("GET", "/", None).await;
        assert!(!page.body.contains("Logged in"), "{}", page.body);
        let listed = browser.send("GET", "/sessions", None).await;
        assert_eq!(listed.status, 303, "a logged-out browser is sent home");
    }
    let bobs = bob.send("GET", "/", None).await;
    assert!(
        bobs.body.contains("Logged in as <b>bob</b>"),
        "{}",
        bobs.body
    );
}

/// A reply with every `Set-Cookie` header as sent.
#[allow(dead_code)]
pub struct RawReply {
    pub status: u16,
    pub set_cookies: Vec<String>,
    pub body: String,
}

#[allow(dead_code)]
impl RawReply {
    /// The value a `Set-Cookie` of this reply gives cookie `name`, if one does.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies.iter().find_map(|c| {
            let pair = c.split(';').next()?;
            let (n, v) = pair.split_once('=')?;
            (n.trim() == name).then(|| v.trim())
        })
    }
}

/// One request with a whole `Cookie` header (any cookie names), reading every
/// `Set-Cookie` of the reply.
#[allow(dead_code)]
pub async fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookies: Option<&str>,
) -> RawReply {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(cookies) = cookies {
        head.push_str(&format!("Cookie: {cookies}\r\n"));
    }
    head.push_str("Content-Length: 0\r\n\r\n");
    exchange(addr, &head).await
}

/// Sends a whole request over a fresh connection and reads the whole reply, failing the
/// test if it takes more than twenty seconds.
async fn exchange(addr: SocketAddr, request: &str) -> RawReply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
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
    let set_cookies = head
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().to_owned())
        })
        .collect();
    // Express answers with chunked bodies: keep what is between the chunk sizes.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    RawReply {
        status,
        set_cookies,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
