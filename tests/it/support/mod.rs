//! Shared test support: the conformance suite's fixtures (session type, keyrings, stores on
//! a test clock), temporary files, HTTP and Redis servers.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod http;
#[cfg(feature = "redis")]
pub mod redis;

// The conformance suite's fixtures, from the library's own file so they exist once, and
// whether or not the `conformance` feature is on.
#[path = "../../../src/conformance/fixtures.rs"]
mod fixtures;
pub use fixtures::*;

/// A fresh directory under the system temp dir, unique to this process and call.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    // 16 hex digits of randomness: a 43-character base64 token here would look like key
    // material to the configuration checks (which refuse such paths).
    let random = sealed_session::SessionId::generate().unwrap().hashed();
    let dir = std::env::temp_dir().join(format!(
        "sealed-session-{tag}-{}-{}",
        std::process::id(),
        &random.as_str()[..16]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    private(&dir, 0o700);
    dir
}

/// Writes a file only its owner can read or write (0600), as a keyring configuration wants
/// of secret files (and accepts of configuration files), whatever the umask.
pub fn write_private(
    path: impl AsRef<std::path::Path>,
    contents: impl AsRef<[u8]>,
) -> std::io::Result<()> {
    std::fs::write(path.as_ref(), contents)?;
    private(path.as_ref(), 0o600);
    Ok(())
}

/// Sets a path's mode bits (Unix).
pub fn private(path: &std::path::Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}
