//! Arbitrary bytes read as an envelope header.
//!
//! Oracles: whatever parses is at least 95 bytes long and its first 79 bytes re-encode from
//! the parsed fields exactly; the header depends on those bytes only; a refusal names the
//! first failing check of the spec's order (length, version, suite, codec); and the
//! re-seal decision agrees with the parsed key id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealed_session::envelope::{CIPHERTEXT_OFFSET, Header, OVERHEAD, VERSION};
use sealed_session::fuzzing;
use sealed_session::{CodecId, KeyState, RejectKind, Sealer, Suite};
use sealed_session_fuzz::vector_sealer;

fuzz_target!(|data: &[u8]| {
    let sealer = vector_sealer();
    match Header::parse(data) {
        Ok(header) => {
            assert!(
                data.len() >= OVERHEAD,
                "a header parsed from {} bytes",
                data.len()
            );
            let salt = fuzzing::envelope_salt(data).expect("room for the salt");
            let commitment = fuzzing::envelope_commitment(data).expect("room for the commitment");
            let prefix = fuzzing::encode_prefix(&header, &salt, &commitment);
            assert_eq!(
                prefix,
                data[..CIPHERTEXT_OFFSET],
                "the prefix re-encodes exactly"
            );

            // Only the first 79 bytes matter: any body of the minimum length parses the same.
            let mut other = prefix;
            other.resize(OVERHEAD, 0xa5);
            assert_eq!(Header::parse(&other).ok(), Some(header));

            // Re-sealing is only ever asked for older decrypt-only keys.
            let keyring = sealer.keyring();
            let wanted = header.key_id < keyring.primary_id()
                && keyring.state(header.key_id) == Some(KeyState::DecryptOnly);
            assert_eq!(sealer.needs_reseal(data), wanted);
        }
        Err(rejection) => {
            let expected = match data {
                _ if data.len() < OVERHEAD => RejectKind::Length,
                [version, ..] if *version != VERSION => RejectKind::Version,
                [_, suite, ..] if Suite::from_byte(*suite).is_none() => RejectKind::Suite,
                [_, _, codec, ..] if CodecId::from_byte(*codec).is_none() => RejectKind::Codec,
                _ => panic!("a well-formed header was refused as {:?}", rejection.kind()),
            };
            assert_eq!(rejection.kind(), expected);
            assert!(
                !sealer.needs_reseal(data),
                "an unparsable value is never re-sealed"
            );
        }
    }
});
