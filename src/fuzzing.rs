//! Entry points for the fuzz targets in `fuzz/`, compiled only under `--cfg fuzzing` (which
//! `cargo fuzz` sets for every crate it builds). They reach internals the targets need to
//! check their oracles exactly; none of this is public API and it may change at any time.

use crate::envelope::{CIPHERTEXT_OFFSET, COMMITMENT_RANGE, Header, SALT_RANGE};
use crate::error::Error;
use crate::sealer::{KeyringSealer, SealContext};

/// Seals with an explicit salt, so a target can rebuild an envelope byte for byte and tell a
/// genuine envelope (one the keyring would have produced) from anything else.
pub fn seal_with_salt(
    sealer: &KeyringSealer,
    ctx: &SealContext<'_>,
    plaintext: &[u8],
    salt: &[u8; 32],
) -> Result<Vec<u8>, Error> {
    sealer.seal_with_salt(ctx, plaintext, salt)
}

/// Writes the first 79 bytes of an envelope back from a parsed header, its salt and its
/// commitment: the inverse of [`Header::parse`] plus [`envelope_salt`] and
/// [`envelope_commitment`].
pub fn encode_prefix(header: &Header, salt: &[u8; 32], commitment: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CIPHERTEXT_OFFSET);
    out.extend_from_slice(&header.fixed_bytes());
    out.extend_from_slice(salt);
    out.extend_from_slice(commitment);
    out
}

/// The salt bytes of an envelope, when it is long enough to have them.
pub fn envelope_salt(envelope: &[u8]) -> Option<[u8; 32]> {
    envelope.get(SALT_RANGE)?.try_into().ok()
}

/// The commitment bytes of an envelope, when it is long enough to have them.
pub fn envelope_commitment(envelope: &[u8]) -> Option<[u8; 32]> {
    envelope.get(COMMITMENT_RANGE)?.try_into().ok()
}
