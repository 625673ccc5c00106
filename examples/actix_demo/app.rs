//! The actix-web demo application: a visit counter, a log-in form that moves the session to
//! a fresh key, and a log-out. Shared by `examples/actix_demo/main.rs` and
//! `tests/it/actix_store.rs`.

use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::SessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

const COUNTER: &str = "counter";
const USER: &str = "user";

/// The session middleware over any actix-session store. The cookie holds the session key,
/// encrypted with `cookie_key`; it is not marked `Secure` because the demo runs over plain
/// HTTP on localhost (a real service must keep `Secure`), and it is `SameSite=Strict`
/// because the demo's forms carry no CSRF token.
pub fn sessions<S: SessionStore + 'static>(store: S, cookie_key: Key) -> SessionMiddleware<S> {
    SessionMiddleware::builder(store, cookie_key)
        .cookie_name("id".to_owned())
        .cookie_secure(false)
        .cookie_same_site(actix_web::cookie::SameSite::Strict)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(
            BrowserSession::default().state_ttl(actix_web::cookie::time::Duration::hours(1)),
        )
        .build()
}

/// The routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/count", web::get().to(count))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout));
}

/// An opaque 500: the error goes to the log, not to the client (serde messages can quote
/// session values).
fn internal<E: std::fmt::Display>(e: E) -> actix_web::Error {
    tracing::error!("session error: {e}");
    actix_web::error::ErrorInternalServerError("session error")
}

fn next_visit(session: &Session) -> Result<u64, actix_web::Error> {
    let n = session.get::<u64>(COUNTER).map_err(internal)?.unwrap_or(0) + 1;
    session.insert(COUNTER, n).map_err(internal)?;
    Ok(n)
}

async fn count(session: Session) -> Result<String, actix_web::Error> {
    Ok(next_visit(&session)?.to_string())
}

async fn index(session: Session) -> Result<HttpResponse, actix_web::Error> {
    let n = next_visit(&session)?;
    let user: Option<String> = session.get(USER).map_err(internal)?;
    let who = match user {
        Some(name) => format!(
            "<p>Logged in as <b>{}</b>.</p>\
             <form method=post action=/logout><button>Log out</button></form>",
            escape(&name)
        ),
        None => "<form method=post action=/login><input name=user placeholder=name> \
                 <button>Log in</button></form>"
            .to_owned(),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><title>sealed-session demo</title><h1>Visit {n}</h1>{who}\
         <p>The session is stored encrypted; the cookie holds only its key.</p>"
        )))
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// Logs in: a fresh session key first (against session fixation), then the user name.
async fn login(session: Session, form: web::Form<Login>) -> Result<HttpResponse, actix_web::Error> {
    let user = form.user.trim().chars().take(64).collect::<String>();
    if user.is_empty() {
        return Ok(HttpResponse::BadRequest().body("a user name is required"));
    }
    session.renew();
    session.insert(USER, user).map_err(internal)?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/"))
        .finish())
}

async fn logout(session: Session) -> HttpResponse {
    session.purge();
    HttpResponse::SeeOther()
        .insert_header(("Location", "/"))
        .finish()
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}
