//! The actix-web demo application: a visit counter, a log-in form that moves the session to
//! a fresh key, and a log-out; with sealed-session's owner index, the user's sessions
//! (`/sessions`), revoking one, and logging out everywhere. Shared by
//! `examples/actix_demo/main.rs` and `tests/it/actix_store.rs`.

use std::time::SystemTime;

use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::SessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{HttpRequest, HttpResponse, web};
use sealed_session::integrations::actix_session::{ActixSessionStore, STORAGE_ID_ENTRY};
use sealed_session::{Backend, Owner, StorageId};
use serde::Deserialize;

const COUNTER: &str = "counter";
/// The state entry holding the user name: the adapter's owner field.
pub const USER: &str = "user";
/// The state entry holding the device label: the adapter's label field.
pub const DEVICE: &str = "device";

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

/// The pages of a user's sessions, over sealed-session's adapter with an owner index
/// (`owner_field(USER)`, `label_field(DEVICE)`), given as app data.
pub fn session_routes<B: Backend>(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions", web::get().to(sessions_page::<B>))
        .route("/sessions/revoke", web::post().to(revoke::<B>))
        .route("/logout-everywhere", web::post().to(logout_everywhere::<B>));
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
            "<p>Logged in as <b>{}</b>. <a href=/sessions>Your sessions</a></p>\
             <form method=post action=/logout><button>Log out</button></form>\
             <form method=post action=/logout-everywhere><button>Log out everywhere</button></form>",
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

/// Logs in: a fresh session key first (against session fixation), then the user name and a
/// device label from the user agent.
async fn login(
    session: Session,
    request: HttpRequest,
    form: web::Form<Login>,
) -> Result<HttpResponse, actix_web::Error> {
    let user = form.user.trim().chars().take(64).collect::<String>();
    if user.is_empty() {
        return Ok(HttpResponse::BadRequest().body("a user name is required"));
    }
    session.renew();
    session.insert(USER, user).map_err(internal)?;
    let agent = request
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown device");
    session
        .insert(DEVICE, agent.chars().take(60).collect::<String>())
        .map_err(internal)?;
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

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .finish()
}

/// The signed-in user, as an owner.
fn signed_in(session: &Session) -> Result<Option<Owner>, actix_web::Error> {
    let user: Option<String> = session.get(USER).map_err(internal)?;
    Ok(user.and_then(|u| Owner::new(u).ok()))
}

/// This session's storage id, which the adapter hands over in a reserved entry.
fn current(session: &Session) -> Option<StorageId> {
    let id: Option<String> = session.get(STORAGE_ID_ENTRY).ok().flatten();
    id.and_then(|id| StorageId::from_hex(&id))
}

/// The user's sessions, this one marked, each with a revoke button.
async fn sessions_page<B: Backend>(
    store: web::Data<ActixSessionStore<B>>,
    session: Session,
) -> Result<HttpResponse, actix_web::Error> {
    let Some(owner) = signed_in(&session)? else {
        return Ok(see_other("/"));
    };
    let here = current(&session);
    let listed = store.store().sessions_of(&owner).await.map_err(internal)?;
    let mut rows = String::new();
    for s in &listed {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
             <form method=post action=/sessions/revoke><input type=hidden name=id value={}>\
             <button>Revoke</button></form></td></tr>",
            escape(s.label.as_deref().unwrap_or("unknown device")),
            if here.as_ref() == Some(&s.storage_id) {
                "this device"
            } else {
                ""
            },
            age(s.created_at),
            age(s.last_seen),
            s.storage_id.as_str(),
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><title>Your sessions</title><h1>{} sessions</h1>\
             <table><tr><th>device</th><th></th><th>signed in</th><th>last seen</th><th></th></tr>\
             {rows}</table>\
             <form method=post action=/logout-everywhere><button>Log out everywhere</button></form>\
             <p><a href=/>Back</a></p>",
            listed.len()
        )))
}

/// How long ago, in words.
fn age(at: Option<SystemTime>) -> String {
    let Some(secs) = at
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(|d| d.as_secs())
    else {
        return "just now".to_owned();
    };
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    id: String,
}

/// Revokes one of the user's sessions by its storage id (another user's is refused by the
/// store). Revoking this device's session logs it out.
async fn revoke<B: Backend>(
    store: web::Data<ActixSessionStore<B>>,
    session: Session,
    form: web::Form<RevokeForm>,
) -> Result<HttpResponse, actix_web::Error> {
    let Some(owner) = signed_in(&session)? else {
        return Ok(see_other("/"));
    };
    let Some(id) = StorageId::from_hex(form.id.trim()) else {
        return Ok(HttpResponse::BadRequest().body("not a session"));
    };
    if current(&session) == Some(id.clone()) {
        // This device: a log-out, which deletes the entry through actix-session (deleting
        // it here first would make actix-session's own deletion fail).
        session.purge();
        return Ok(see_other("/"));
    }
    store.store().revoke(&owner, &id).await.map_err(internal)?;
    Ok(see_other("/sessions"))
}

/// Ends every session of the user, this one included.
async fn logout_everywhere<B: Backend>(
    store: web::Data<ActixSessionStore<B>>,
    session: Session,
) -> Result<HttpResponse, actix_web::Error> {
    if let Some(owner) = signed_in(&session)? {
        // Every other session here; this one through actix-session's log-out below.
        let revoked = match current(&session) {
            Some(here) => store.store().revoke_all_except(&owner, &here).await,
            None => store.store().revoke_all(&owner).await,
        };
        revoked.map_err(internal)?;
    }
    session.purge();
    Ok(see_other("/"))
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
