//! The demo application: a visit counter, preferences (`POST /prefs` with `name` and
//! `value`; one session entry each, so two concurrent requests set two entries), a log-in
//! form that moves the session to a fresh id, and a log-out; with sealed-session's owner index, the user's sessions (`/sessions`),
//! revoking one, and logging out everywhere. Shared by `examples/axum_demo/main.rs`,
//! `tests/it/tower_store.rs` and `benches/axum.rs`. A demo: the forms carry no CSRF token
//! (tower-sessions' cookie is `SameSite=Strict`, which covers this demo), and state changes
//! on GET.

use std::time::SystemTime;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::{get, post};
use sealed_session::integrations::tower_sessions::TowerSessionStore;
use sealed_session::{Backend, Owner, StorageId};
use serde::Deserialize;
use tower_sessions::{Expiry, Session, SessionManagerLayer, SessionStore};

const COUNTER: &str = "counter";
/// The session field holding the user name: the adapter's owner field.
pub const USER: &str = "user";
/// The session field holding the device label: the adapter's label field.
pub const DEVICE: &str = "device";

/// The router over any tower-sessions store (the benchmarks compare stores with it).
/// Sessions expire after an hour of inactivity.
#[allow(dead_code)]
pub fn app<S: SessionStore + Clone>(store: S) -> Router {
    routes().layer(layer(store))
}

/// The router with the pages of a user's sessions, over sealed-session's adapter with an
/// owner index (`owner_field(USER)`, `label_field(DEVICE)`).
pub fn app_with_sessions<B: Backend>(store: TowerSessionStore<B>) -> Router {
    routes()
        .route("/sessions", get(sessions_page::<B>))
        .route("/sessions/revoke", post(revoke::<B>))
        .route("/logout-everywhere", post(logout_everywhere::<B>))
        .with_state(store.clone())
        .layer(layer(store))
}

fn layer<S: SessionStore + Clone>(store: S) -> SessionManagerLayer<S> {
    SessionManagerLayer::new(store)
        .with_secure(false) // the demo runs over plain HTTP on localhost
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(1)))
}

fn routes<St: Clone + Send + Sync + 'static>() -> Router<St> {
    Router::new()
        .route("/", get(index))
        .route("/count", get(count))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/prefs", post(set_pref))
        .route("/prefs/{name}", get(pref))
        .route("/entry/{name}", get(entry))
}

/// One session entry as JSON (404 when absent): what a session migrated from Express
/// carries, entry by entry.
async fn entry(
    session: Session,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<String, (StatusCode, String)> {
    let value: Option<serde_json::Value> = session.get(&name).await.map_err(internal)?;
    value
        .map(|v| v.to_string())
        .ok_or((StatusCode::NOT_FOUND, "not set".to_owned()))
}

/// The session entry of a preference.
pub fn pref_entry(name: &str) -> String {
    format!("pref.{name}")
}

#[derive(Deserialize)]
struct Pref {
    name: String,
    value: String,
}

/// Sets one preference: its own session entry, the other entries untouched.
async fn set_pref(
    session: Session,
    Form(form): Form<Pref>,
) -> Result<String, (StatusCode, String)> {
    let valid = |s: &str| {
        (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    if !valid(&form.name) || form.value.len() > 256 {
        return Err((
            StatusCode::BAD_REQUEST,
            "a preference name is 1 to 32 letters, digits or _; a value at most 256 bytes".into(),
        ));
    }
    session
        .insert(&pref_entry(&form.name), form.value)
        .await
        .map_err(internal)?;
    Ok("saved".to_owned())
}

/// One preference's value, as plain text (404 when unset).
async fn pref(
    session: Session,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<String, (StatusCode, String)> {
    let value: Option<String> = session.get(&pref_entry(&name)).await.map_err(internal)?;
    value.ok_or((StatusCode::NOT_FOUND, "not set".to_owned()))
}

/// An opaque 500: the error goes to the log, not to the client (serde messages can quote
/// session values).
fn internal<E: std::fmt::Display>(e: E) -> (StatusCode, String) {
    tracing::error!("session error: {e}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "session error".to_owned(),
    )
}

/// Increments and returns the visit counter, as plain text.
async fn count(session: Session) -> Result<String, (StatusCode, String)> {
    let n: u64 = session.get(COUNTER).await.map_err(internal)?.unwrap_or(0) + 1;
    session.insert(COUNTER, n).await.map_err(internal)?;
    Ok(n.to_string())
}

async fn index(session: Session) -> Result<Html<String>, (StatusCode, String)> {
    let n: u64 = session.get(COUNTER).await.map_err(internal)?.unwrap_or(0) + 1;
    session.insert(COUNTER, n).await.map_err(internal)?;
    let user: Option<String> = session.get(USER).await.map_err(internal)?;
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
    Ok(Html(format!(
        "<!doctype html><title>sealed-session demo</title><h1>Visit {n}</h1>{who}\
         <p>The session is stored encrypted; the cookie holds only its id.</p>"
    )))
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// Logs in: a fresh session id first (against session fixation), then the user name and a
/// device label from the user agent.
async fn login(
    session: Session,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Result<impl IntoResponse, (StatusCode, String)> {
    let user = form.user.trim().chars().take(64).collect::<String>();
    if user.is_empty() {
        return Err((StatusCode::BAD_REQUEST, "a user name is required".into()));
    }
    session.cycle_id().await.map_err(internal)?;
    session.insert(USER, user).await.map_err(internal)?;
    session
        .insert(DEVICE, device(&headers))
        .await
        .map_err(internal)?;
    Ok(Redirect::to("/"))
}

/// A short label for the device: the start of its user agent.
fn device(headers: &HeaderMap) -> String {
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown device");
    agent.chars().take(60).collect()
}

/// The signed-in user of a session, as an owner.
async fn signed_in(session: &Session) -> Result<Option<Owner>, (StatusCode, String)> {
    let user: Option<String> = session.get(USER).await.map_err(internal)?;
    Ok(user.and_then(|u| Owner::new(u).ok()))
}

/// The user's sessions, this one marked, each with a revoke button.
async fn sessions_page<B: Backend>(
    State(store): State<TowerSessionStore<B>>,
    session: Session,
) -> Result<axum::response::Response, (StatusCode, String)> {
    let Some(owner) = signed_in(&session).await? else {
        return Ok(Redirect::to("/").into_response());
    };
    let current = session.id().map(|id| store.storage_id(&id));
    let listed = store.store().sessions_of(&owner).await.map_err(internal)?;
    let mut rows = String::new();
    for s in &listed {
        let here = current.as_ref() == Some(&s.storage_id);
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
             <form method=post action=/sessions/revoke><input type=hidden name=id value={}>\
             <button>Revoke</button></form></td></tr>",
            escape(s.label.as_deref().unwrap_or("unknown device")),
            if here { "this device" } else { "" },
            age(s.created_at),
            age(s.last_seen),
            s.storage_id.as_str(),
        ));
    }
    Ok(Html(format!(
        "<!doctype html><title>Your sessions</title><h1>{} sessions</h1>\
         <table><tr><th>device</th><th></th><th>signed in</th><th>last seen</th><th></th></tr>\
         {rows}</table>\
         <form method=post action=/logout-everywhere><button>Log out everywhere</button></form>\
         <p><a href=/>Back</a></p>",
        listed.len()
    ))
    .into_response())
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
    State(store): State<TowerSessionStore<B>>,
    session: Session,
    Form(form): Form<RevokeForm>,
) -> Result<impl IntoResponse, (StatusCode, String)> {
    let Some(owner) = signed_in(&session).await? else {
        return Ok(Redirect::to("/"));
    };
    let Some(id) = StorageId::from_hex(form.id.trim()) else {
        return Err((StatusCode::BAD_REQUEST, "not a session".into()));
    };
    let here = session.id().map(|current| store.storage_id(&current)) == Some(id.clone());
    store.store().revoke(&owner, &id).await.map_err(internal)?;
    if here {
        // Gone from the store already: forget it here too, so it is not saved again.
        session.flush().await.map_err(internal)?;
        return Ok(Redirect::to("/"));
    }
    Ok(Redirect::to("/sessions"))
}

/// Ends every session of the user, this one included.
async fn logout_everywhere<B: Backend>(
    State(store): State<TowerSessionStore<B>>,
    session: Session,
) -> Result<impl IntoResponse, (StatusCode, String)> {
    if let Some(owner) = signed_in(&session).await? {
        store.store().revoke_all(&owner).await.map_err(internal)?;
    }
    session.flush().await.map_err(internal)?;
    Ok(Redirect::to("/"))
}

async fn logout(session: Session) -> Result<impl IntoResponse, (StatusCode, String)> {
    session.flush().await.map_err(internal)?;
    Ok(Redirect::to("/"))
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
