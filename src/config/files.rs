//! Reading the files a keyring configuration names: never blocking on a FIFO, never reading
//! more than a bound, never reallocating a buffer that holds a secret, and refusing files
//! that other users of the machine could read (secrets) or write (the configuration).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{ConfigError, PermissionProblem};

use super::MAX_FILE_LEN;

/// Whether the permissions of the files a keyring configuration reads are checked (Unix;
/// elsewhere nothing is checked).
///
/// Checked, a file holding key material or a passphrase must give group and others no
/// access at all (mode `0600` or `0400`), and the configuration file, and the directory it
/// is in, must not be writable by group or others: the same rules OpenSSH applies to private
/// keys and to its configuration. A key readable by other users of the machine is a key
/// shared with them; a configuration others can write lets them choose the keys.
///
/// Only mode bits are checked, not owners, and not the directories above the configuration
/// file's own nor those of secret files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilePermissions {
    /// Refuse files whose permissions are too open ([`ConfigError::FilePermissions`]). The
    /// default.
    #[default]
    Checked,
    /// Check secret files, but not whether group or others can write the configuration
    /// file or its directory: for a configuration mounted read-only from a directory whose
    /// mode bits say otherwise (some container platforms mount volumes that way). Whoever
    /// can in fact write them chooses the keys.
    InsecureWritableConfig,
    /// Read the files whatever their permissions. Only for platforms that cannot make them
    /// private (a container runtime that mounts secrets group-readable for a shared group,
    /// say): the secrets are then as private as the mount makes them, which is worth
    /// checking by other means.
    InsecureUnchecked,
}

/// Reads a secret file the way a keyring configuration does: a regular file (a FIFO, device
/// or directory is refused, and opening never blocks) of at most [`MAX_FILE_LEN`] bytes,
/// that gives group and others no access (see [`FilePermissions`]), into a buffer that is
/// never reallocated and is wiped on drop.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    read_secret_file_with(path, FilePermissions::Checked)
}

/// As [`read_secret_file`], checking permissions as `permissions` says.
pub fn read_secret_file_with(
    path: &Path,
    permissions: FilePermissions,
) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    read_bounded(path, Private::Secret, permissions)
        .map(|(bytes, _)| bytes)
        .map_err(|e| e.secret(path.to_path_buf()))
}

/// What a file read by [`read_bounded`] must keep from other users.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Private {
    /// Key material or a passphrase: no access for group or others.
    Secret,
    /// A configuration: neither it nor its directory writable by group or others.
    ConfigFile,
}

/// Reads a file of at most [`MAX_FILE_LEN`] bytes after checking its type and, as
/// `permissions` says, its mode; returns the bytes and the mode bits (0 where there are none).
pub(super) fn read_bounded(
    path: &Path,
    private: Private,
    permissions: FilePermissions,
) -> Result<(Zeroizing<Vec<u8>>, u32), ReadError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Non-blocking open: a FIFO put in place of the file (even between a check and the
    // open) fails the type check below instead of blocking until a writer appears.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let mut file = options.open(path).map_err(|e| ReadError::Io(e.kind()))?;
    // Type, size and mode of what was opened, not of whatever the path names now.
    let meta = file.metadata().map_err(|e| ReadError::Io(e.kind()))?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile);
    }
    let checked = match private {
        Private::Secret => permissions != FilePermissions::InsecureUnchecked,
        Private::ConfigFile => permissions == FilePermissions::Checked,
    };
    if checked {
        check_permissions(path, &meta, private)?;
    }
    if meta.len() > MAX_FILE_LEN {
        return Err(ReadError::Io(io::ErrorKind::FileTooLarge));
    }
    // A fixed buffer one byte larger than the file: reading never reallocates (which would
    // leave a copy of the secret in freed memory), and a file that grew is noticed.
    let room = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut buf = Zeroizing::new(vec![0u8; room]);
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e.kind())),
        }
    }
    if filled >= room {
        // Longer than when it was measured: being rewritten. Try again later.
        return Err(ReadError::Io(io::ErrorKind::ResourceBusy));
    }
    buf.truncate(filled);
    Ok((buf, mode_of(&meta)))
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> u32 {
    0
}

/// Refuses a secret that group or others can access in any way, and a configuration file or
/// directory that they can write (mode bits; on platforms without them, nothing).
#[cfg(unix)]
fn check_permissions(
    path: &Path,
    meta: &std::fs::Metadata,
    private: Private,
) -> Result<(), ReadError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = mode_of(meta);
    match private {
        Private::Secret if mode & 0o077 != 0 => Err(ReadError::Permissions {
            problem: PermissionProblem::SecretNotPrivate,
            mode,
            path: None,
        }),
        Private::Secret => Ok(()),
        Private::ConfigFile if mode & 0o022 != 0 => Err(ReadError::Permissions {
            problem: PermissionProblem::ConfigWritable,
            mode,
            path: None,
        }),
        Private::ConfigFile => {
            // The directory as named, and the one the file really is in when the name is a
            // symlink: whoever can write either can put another file in place.
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            let target = std::fs::canonicalize(path).map_err(|e| ReadError::Io(e.kind()))?;
            for dir in [absolute.parent(), target.parent()].into_iter().flatten() {
                let mode = std::fs::metadata(dir)
                    .map_err(|e| ReadError::Io(e.kind()))?
                    .permissions()
                    .mode()
                    & 0o7777;
                if mode & 0o022 != 0 {
                    return Err(ReadError::Permissions {
                        problem: PermissionProblem::DirectoryWritable,
                        mode,
                        path: Some(dir.to_path_buf()),
                    });
                }
            }
            Ok(())
        }
    }
}

#[cfg(not(unix))]
fn check_permissions(_: &Path, _: &std::fs::Metadata, _: Private) -> Result<(), ReadError> {
    Ok(())
}

/// Why [`read_bounded`] failed.
pub(super) enum ReadError {
    Io(io::ErrorKind),
    NotAFile,
    Permissions {
        problem: PermissionProblem,
        mode: u32,
        /// The directory, when it is the directory's mode that is wrong.
        path: Option<PathBuf>,
    },
}

impl ReadError {
    pub(super) fn secret(self, path: PathBuf) -> ConfigError {
        match self {
            ReadError::Io(kind) => ConfigError::SecretFile { path, kind },
            ReadError::NotAFile => ConfigError::NotAFile { path },
            ReadError::Permissions {
                problem,
                mode,
                path: dir,
            } => ConfigError::FilePermissions {
                path: dir.unwrap_or(path),
                mode,
                problem,
            },
        }
    }

    pub(super) fn config(self, path: PathBuf) -> ConfigError {
        match self {
            ReadError::Io(kind) => ConfigError::ConfigFile { path, kind },
            other => other.secret(path),
        }
    }
}

pub(super) fn strip_one_newline(bytes: &mut Zeroizing<Vec<u8>>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}
