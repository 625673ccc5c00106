//! A tower layer that lets users of an Express application in, with the cookie
//! express-session gave them (features `tower-sessions` and `express`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;
use tower_sessions_core::session::Id;
use zeroize::Zeroizing;

use super::{RecordData, TowerSessionStore};
use crate::backend::Backend;
use crate::error::{Error, LegacyError};
use crate::migrate::{
    ExpressCookies, LegacySession, LegacySource, Migrator, NewIds, cookie_values,
};
use crate::store::Store;

/// tower-sessions' default expiry: a migrated session whose legacy cookie had none lives
/// this long at most, unless [`ExpressMigrationLayer::max_lifetime`] says otherwise.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(14 * 86_400);

/// A layer, put outside tower-sessions' `SessionManagerLayer`, that migrates Express
/// sessions as their users come back.
///
/// A request without the tower-sessions cookie but with a valid express-session cookie has
/// its session moved into the store (see [`Migrator`]) under a fresh tower-sessions id; the
/// request then goes on with that id's cookie added, so the handler sees a normal
/// `tower_sessions::Session` holding the migrated data. The response sets the new cookie
/// (unless tower-sessions set it itself) and expires the legacy one. The legacy session's
/// members become the record's entries (everything but `cookie`).
///
/// A legacy cookie that does not verify, or whose record is refused, leaves the request as
/// it is and the cookie in place (an operator may still fix a secret); a refused record is
/// logged with its kind, never its content. A cookie whose session is gone is expired.
///
/// The new cookie is written with the attributes set here, which must match the
/// `SessionManagerLayer`'s: by default tower-sessions' defaults (`id`, `Path=/`, `Secure`,
/// `HttpOnly`, `SameSite=Strict`); its name must differ from the legacy cookie's. It
/// expires with the migrated session, or with the browser session when the legacy cookie
/// did. A request that has both cookies is migrated only if its tower-sessions cookie names
/// no stored session. tower-sessions' signed and private cookies are not supported.
///
/// ```no_run
/// # async fn f() -> Result<(), sealed_session::Error> {
/// use sealed_session::integrations::tower_sessions::{ExpressMigrationLayer, TowerSessionStore};
/// use sealed_session::migrate::{ConnectRedisCrypto, ExpressCookies, LegacySource};
/// use sealed_session::{KeyMaterial, Keyring, RedisBackend, Suite};
///
/// let redis = RedisBackend::connect("redis://127.0.0.1:6379").await?;
/// let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?;
/// let store = TowerSessionStore::new(
///     TowerSessionStore::builder(redis.clone()).prefix("rs:").keyring(keyring).build()?,
/// )?;
/// let legacy = LegacySource::new(redis, ConnectRedisCrypto::new("the store secret")?);
/// let migration =
///     ExpressMigrationLayer::new(&store, legacy, ExpressCookies::new(["the cookie secret"])?);
/// // Router::new()…
/// //     .layer(SessionManagerLayer::new(store))
/// //     .layer(migration);
/// # Ok(()) }
/// ```
pub struct ExpressMigrationLayer<B, L> {
    migrator: Migrator<RecordData, B, L>,
    tower: TowerSessionStore<B>,
    cookie: CookieSettings,
}

/// The attributes of the cookies the layer sets.
#[derive(Clone, Debug)]
struct CookieSettings {
    name: String,
    path: String,
    domain: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: Option<&'static str>,
    legacy_path: String,
    legacy_domain: Option<String>,
}

impl<B, L> Clone for ExpressMigrationLayer<B, L> {
    fn clone(&self) -> Self {
        ExpressMigrationLayer {
            migrator: self.migrator.clone(),
            tower: self.tower.clone(),
            cookie: self.cookie.clone(),
        }
    }
}

impl<B: Backend, L: Backend> ExpressMigrationLayer<B, L> {
    /// Migrates into `store` the sessions of `source`, for cookies `cookies` verifies. A
    /// migrated session keeps its legacy cookie's expiry, at most [`DEFAULT_MAX_LIFETIME`]
    /// from its migration.
    pub fn new(
        store: &TowerSessionStore<B>,
        source: LegacySource<L>,
        cookies: ExpressCookies,
    ) -> Self {
        let convert = |session: LegacySession| {
            Ok::<_, LegacyError>(session.into_data().into_iter().collect())
        };
        let migrator = Migrator::with_conversion(store.store().clone(), source, cookies, convert)
            .max_lifetime(DEFAULT_MAX_LIFETIME);
        ExpressMigrationLayer {
            migrator,
            tower: store.clone(),
            cookie: CookieSettings {
                name: "id".to_owned(),
                path: "/".to_owned(),
                domain: None,
                secure: true,
                http_only: true,
                same_site: Some("Strict"),
                legacy_path: "/".to_owned(),
                legacy_domain: None,
            },
        }
    }

    /// The migrator, for its statistics ([`Migrator::stats`]) or a bulk import.
    pub fn migrator(&self) -> &Migrator<RecordData, B, L> {
        &self.migrator
    }

    /// See [`Migrator::grace`].
    pub fn grace(self, grace: Duration) -> Self {
        let migrator = self.migrator.clone().grace(grace);
        ExpressMigrationLayer { migrator, ..self }
    }

    /// See [`Migrator::rolling`]: the Express application set `rolling: true`.
    pub fn rolling(self, rolling: bool) -> Self {
        let migrator = self.migrator.clone().rolling(rolling);
        ExpressMigrationLayer { migrator, ..self }
    }

    /// See [`Migrator::max_lifetime`] (default [`DEFAULT_MAX_LIFETIME`]).
    pub fn max_lifetime(self, lifetime: Duration) -> Self {
        let migrator = self.migrator.clone().max_lifetime(lifetime);
        ExpressMigrationLayer { migrator, ..self }
    }

    /// The tower-sessions cookie's name (`SessionManagerLayer::with_name`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.cookie.name = name.into();
        self
    }

    /// The tower-sessions cookie's path (`SessionManagerLayer::with_path`).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.cookie.path = path.into();
        self
    }

    /// The tower-sessions cookie's domain (`SessionManagerLayer::with_domain`).
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie.domain = Some(domain.into());
        self
    }

    /// Whether the tower-sessions cookie is `Secure` (`SessionManagerLayer::with_secure`).
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        self
    }

    /// Whether the tower-sessions cookie is `HttpOnly`
    /// (`SessionManagerLayer::with_http_only`).
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.cookie.http_only = http_only;
        self
    }

    /// The tower-sessions cookie's `SameSite`: `Strict`, `Lax` or `None`
    /// (`SessionManagerLayer::with_same_site`); anything else leaves the attribute out.
    pub fn with_same_site(mut self, same_site: &str) -> Self {
        self.cookie.same_site = ["Strict", "Lax", "None"]
            .into_iter()
            .find(|s| s.eq_ignore_ascii_case(same_site));
        self
    }

    /// The path and domain express-session set its cookie with (`cookie.path`,
    /// `cookie.domain`), so that the response can expire it. Default `/`, no domain.
    pub fn with_legacy_cookie_scope(
        mut self,
        path: impl Into<String>,
        domain: Option<String>,
    ) -> Self {
        self.cookie.legacy_path = path.into();
        self.cookie.legacy_domain = domain;
        self
    }
}

impl<S, B, L> Layer<S> for ExpressMigrationLayer<B, L> {
    type Service = ExpressMigration<S, B, L>;

    fn layer(&self, inner: S) -> Self::Service {
        ExpressMigration {
            inner,
            layer: self.clone(),
        }
    }
}

impl<B, L> fmt::Debug for ExpressMigrationLayer<B, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpressMigrationLayer")
            .field("migrator", &self.migrator)
            .field("cookie", &self.cookie.name)
            .finish_non_exhaustive()
    }
}

/// The service of [`ExpressMigrationLayer`].
pub struct ExpressMigration<S, B, L> {
    inner: S,
    layer: ExpressMigrationLayer<B, L>,
}

impl<S: Clone, B, L> Clone for ExpressMigration<S, B, L> {
    fn clone(&self) -> Self {
        ExpressMigration {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, B, L> fmt::Debug for ExpressMigration<S, B, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpressMigration")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

/// tower-sessions ids, minted from the operating system's CSPRNG.
struct TowerIds<'a, B>(&'a TowerSessionStore<B>);

impl<B: Backend> NewIds<RecordData, B> for TowerIds<'_, B> {
    type Id = Id;

    fn mint(&self) -> Result<(Id, Zeroizing<String>), Error> {
        let mut raw = Zeroizing::new([0u8; 16]);
        getrandom::fill(raw.as_mut_slice()).map_err(|_| Error::Rng)?;
        let id = Id(i128::from_le_bytes(*raw));
        let text = Zeroizing::new(id.to_string());
        Ok((id, text))
    }

    fn parse(&self, text: &str) -> Option<Id> {
        text.parse().ok()
    }

    fn key(&self, _store: &Store<RecordData, B>, id: &Id) -> String {
        self.0.storage_key(id)
    }
}

/// What the request's legacy cookie came to.
enum Outcome {
    /// Not a legacy request: passed through untouched.
    Untouched,
    /// Migrated (or followed): the new id, and when its cookie expires (`None`: a
    /// browser-session cookie).
    Session(Zeroizing<String>, Option<SystemTime>),
    /// The legacy session is gone: expire the legacy cookie.
    Gone,
}

impl<S, B, L, ReqBody, ResBody> Service<Request<ReqBody>> for ExpressMigration<S, B, L>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Backend,
    L: Backend,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready serves this request; a fresh clone takes its
        // place for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        // The cookie headers, read before the request moves into the future (bodies need
        // not be `Sync`).
        let cookies: Vec<Zeroizing<String>> = request
            .headers()
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| Zeroizing::new(v.to_owned()))
            .collect();
        Box::pin(async move {
            let outcome = layer.resolve(&cookies).await;
            if let Outcome::Session(id, _) = &outcome {
                layer.replace_cookie(request.headers_mut(), id);
            }
            let mut response = inner.call(request).await?;
            layer.finish(&mut response, outcome);
            Ok(response)
        })
    }
}

impl<B: Backend, L: Backend> ExpressMigrationLayer<B, L> {
    /// Looks at the request's cookies and migrates its legacy session if it has one.
    async fn resolve(&self, cookies: &[Zeroizing<String>]) -> Outcome {
        let legacy_name = self.migrator.cookies().name();
        if self.cookie.name == legacy_name {
            tracing::error!(
                "the tower-sessions cookie and the legacy cookie have the same name; \
                 legacy sessions are not migrated"
            );
            return Outcome::Untouched;
        }
        let mut legacy = None;
        let mut current = Vec::new();
        for header in cookies {
            let header = header.as_str();
            current.extend(
                cookie_values(header, &self.cookie.name).map(|v| Zeroizing::new(v.to_owned())),
            );
            if legacy.is_none() {
                legacy = self
                    .migrator
                    .cookies()
                    .find(header)
                    .map(|v| Zeroizing::new(v.to_owned()));
            }
        }
        let Some(legacy) = legacy else {
            return Outcome::Untouched;
        };
        // A session of this store already: nothing to migrate. A cookie of that name that
        // names no session (expired, or another application's on a parent domain) does not
        // hide the legacy one. Every cookie of that name counts, whichever the cookie jar
        // below keeps.
        for value in &current {
            if self.has_session(value).await {
                return Outcome::Untouched;
            }
        }
        let sid = match self.migrator.cookies().verify(&legacy) {
            Ok(sid) => sid,
            Err(e) => {
                tracing::debug!(refusal = e.as_str(), "legacy cookie refused");
                return Outcome::Untouched;
            }
        };
        match self.migrator.resolve(&sid, &TowerIds(&self.tower)).await {
            Ok(Some(migrated)) => {
                let expires = (!migrated.is_browser_session())
                    .then(|| migrated.session().expires_at())
                    .flatten();
                let (id, _) = migrated.into_parts();
                Outcome::Session(Zeroizing::new(id.to_string()), expires)
            }
            Ok(None) => Outcome::Gone,
            Err(Error::Legacy(e)) => {
                tracing::warn!(
                    refusal = e.as_str(),
                    "legacy session record refused; left in place, treated as no session"
                );
                Outcome::Untouched
            }
            Err(e) => {
                tracing::warn!(error = %e, "legacy session migration failed; treated as no session");
                Outcome::Untouched
            }
        }
    }

    /// Whether the tower-sessions cookie value names a stored session (read without
    /// copying the value out).
    async fn has_session(&self, value: &str) -> bool {
        let Ok(id) = value.parse::<Id>() else {
            return false;
        };
        let key = self.tower.storage_key(&id);
        !matches!(
            self.tower.store().backend().get(&key, 0).await,
            Ok(crate::backend::Fetched::Missing)
        )
    }

    /// Replaces the request's tower-sessions cookie (if it had a stale one) with the new id.
    /// Cookie headers without one are kept byte for byte.
    fn replace_cookie(&self, headers: &mut http::HeaderMap, id: &str) {
        let name = self.cookie.name.as_str();
        let old: Vec<HeaderValue> = headers.get_all(COOKIE).iter().cloned().collect();
        headers.remove(COOKIE);
        for value in old {
            let Some(text) = value
                .to_str()
                .ok()
                .filter(|text| cookie_value(text, name).is_some())
            else {
                headers.append(COOKIE, value);
                continue;
            };
            let kept = Zeroizing::new(
                text.split(';')
                    .filter(|pair| pair.split_once('=').is_none_or(|(n, _)| n.trim() != name))
                    .collect::<Vec<_>>()
                    .join(";"),
            );
            if !kept.trim().is_empty()
                && let Ok(value) = HeaderValue::from_str(&kept)
            {
                headers.append(COOKIE, value);
            }
        }
        if let Ok(value) = HeaderValue::from_str(&format!("{name}={id}")) {
            headers.append(COOKIE, value);
        }
    }

    /// Sets the new cookie (unless the response sets it already) and expires the legacy one
    /// (only once the new one is set, or was set by tower-sessions).
    fn finish<ResBody>(&self, response: &mut Response<ResBody>, outcome: Outcome) {
        let headers = response.headers_mut();
        let replaced = match outcome {
            Outcome::Untouched => return,
            Outcome::Gone => true,
            Outcome::Session(id, expires) => {
                let already = headers.get_all(SET_COOKIE).iter().any(|v| {
                    v.to_str().is_ok_and(|v| {
                        cookie_value(v.split(';').next().unwrap_or(""), &self.cookie.name).is_some()
                    })
                });
                already
                    || match HeaderValue::from_str(&self.new_cookie(&id, expires)) {
                        Ok(value) => {
                            headers.append(SET_COOKIE, value);
                            true
                        }
                        Err(_) => {
                            tracing::error!(
                                "the new session cookie's attributes cannot be sent in a header; \
                                 legacy cookie kept"
                            );
                            false
                        }
                    }
            }
        };
        if replaced && let Ok(value) = HeaderValue::from_str(&self.expired_legacy_cookie()) {
            headers.append(SET_COOKIE, value);
        }
    }

    fn new_cookie(&self, id: &str, expires: Option<SystemTime>) -> Zeroizing<String> {
        let c = &self.cookie;
        let mut out = Zeroizing::new(format!("{}={id}; Path={}", c.name, c.path));
        if let Some(domain) = &c.domain {
            out.push_str(&format!("; Domain={domain}"));
        }
        if let Some(at) = expires {
            let now = SystemTime::now();
            let secs = at.duration_since(now).map_or(0, |d| d.as_secs());
            out.push_str(&format!("; Max-Age={secs}"));
        }
        if c.secure {
            out.push_str("; Secure");
        }
        if c.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(same_site) = c.same_site {
            out.push_str(&format!("; SameSite={same_site}"));
        }
        out
    }

    fn expired_legacy_cookie(&self) -> String {
        let c = &self.cookie;
        let mut out = format!(
            "{}=; Path={}; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0",
            self.migrator.cookies().name(),
            c.legacy_path
        );
        if let Some(domain) = &c.legacy_domain {
            out.push_str(&format!("; Domain={domain}"));
        }
        // Browsers accept these names only from a Secure cookie, removal included.
        let name = self.migrator.cookies().name();
        if name.starts_with("__Secure-") || name.starts_with("__Host-") {
            out.push_str("; Secure");
        }
        out
    }
}

/// The value of cookie `name` in a `Cookie` header (or the first pair of a `Set-Cookie`).
fn cookie_value<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    cookie_values(header, name).next()
}
