//! The demo application: a visit counter, a log-in form that moves the session to a fresh
//! id, and a log-out. Shared by `examples/axum_demo/main.rs`, `tests/it/tower_store.rs` and
//! `benches/axum.rs`. A demo: the forms carry no CSRF token (tower-sessions' cookie is
//! `SameSite=Strict`, which covers this demo), and state changes on GET.

use axum::Router;
use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::{Expiry, Session, SessionManagerLayer, SessionStore};

const COUNTER: &str = "counter";
const USER: &str = "user";

/// The router over any tower-sessions store. Sessions expire after an hour of inactivity.
pub fn app<S: SessionStore + Clone>(store: S) -> Router {
    let sessions = SessionManagerLayer::new(store)
        .with_secure(false) // the demo runs over plain HTTP on localhost
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(1)));
    Router::new()
        .route("/", get(index))
        .route("/count", get(count))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .layer(sessions)
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
            "<p>Logged in as <b>{}</b>.</p>\
             <form method=post action=/logout><button>Log out</button></form>",
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

/// Logs in: a fresh session id first (against session fixation), then the user name.
async fn login(
    session: Session,
    Form(form): Form<Login>,
) -> Result<impl IntoResponse, (StatusCode, String)> {
    let user = form.user.trim().chars().take(64).collect::<String>();
    if user.is_empty() {
        return Err((StatusCode::BAD_REQUEST, "a user name is required".into()));
    }
    session.cycle_id().await.map_err(internal)?;
    session.insert(USER, user).await.map_err(internal)?;
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
