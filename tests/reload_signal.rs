//! Its own test binary, because the SIGHUP handler it installs is process-wide: SIGHUP
//! reloads the keyring configuration.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::unwrap_in_result,
    clippy::panic_in_result_fn,
    clippy::get_unwrap
)]
#![cfg(unix)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sealed_session::rotation::{Reloader, reload_on_sighup};

const K1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const K2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

fn entry(id: u32, state: &str, secret: &str) -> String {
    format!(
        "[[keys]]\nid = {id}\nsuite = \"aes-256-gcm\"\nstate = \"{state}\"\nmaterial = {{ insecure_inline = \"{secret}\" }}\n"
    )
}

fn hangup() {
    let status = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(std::process::id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_a_bad_file_keeps_the_keyring() {
    let dir = std::env::temp_dir().join(format!("sealed-session-sighup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let path = dir.join("keys.toml");
    write(&path, entry(1, "primary", K1)).unwrap();
    let reloader = Arc::new(Reloader::open(&path).unwrap());
    let handle = reloader.handle().clone();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&outcomes);
    let task = reload_on_sighup(Arc::clone(&reloader), move |outcome| {
        seen.lock()
            .unwrap()
            .push(outcome.map(|done| done.primary).map_err(|e| e.to_string()));
    })
    .unwrap();

    let wait_for = |n: usize| {
        let outcomes = Arc::clone(&outcomes);
        async move {
            for _ in 0..200 {
                if outcomes.lock().unwrap().len() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("no reload after SIGHUP");
        }
    };

    write(
        &path,
        entry(2, "primary", K2) + &entry(1, "decrypt-only", K1),
    )
    .unwrap();
    hangup();
    wait_for(1).await;
    assert_eq!(handle.current().primary_id(), 2);

    write(&path, "[[keys]]\nid = 3\n").unwrap();
    hangup();
    wait_for(2).await;
    assert_eq!(
        handle.current().primary_id(),
        2,
        "a bad file keeps the keyring"
    );
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes[0], Ok(2));
    assert!(
        outcomes[1].as_ref().unwrap_err().contains("syntax error"),
        "{outcomes:?}"
    );
    task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes a file only its owner can access (0600), whatever the umask: secret files must be.
fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path.as_ref(), contents)?;
    std::fs::set_permissions(path.as_ref(), std::fs::Permissions::from_mode(0o600))
}
