//! Where environment-variable material sources are looked up: the process environment, or
//! one an embedder or a test supplies.

use zeroize::Zeroizing;

/// Looks environment variables up. The process environment by default; tests and
/// embedders can supply their own with
/// [`KeyringConfig::resolve_with`](super::KeyringConfig::resolve_with).
pub trait Environment {
    /// The value of `name`, or `None` when it is unset (or not valid Unicode).
    fn var(&self, name: &str) -> Option<Zeroizing<String>>;
}

/// The process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<Zeroizing<String>> {
        std::env::var(name).ok().map(Zeroizing::new)
    }
}

impl<F> Environment for F
where
    F: Fn(&str) -> Option<String>,
{
    fn var(&self, name: &str) -> Option<Zeroizing<String>> {
        self(name).map(Zeroizing::new)
    }
}
