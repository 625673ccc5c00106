//! Arbitrary bytes opened with the keyring of the spec's test vectors under a fixed
//! storage key.
//!
//! Oracles: opening never panics and fails only with a refusal, of exactly the kind the
//! spec's steps give for the header and keyring (length, version, suite, codec, unknown or
//! retired key, suite mismatch; later steps need the key); and whatever opens is an
//! envelope the spec's vectors sealed for this storage key (a valid one, or the original of
//! a one-bit-flip vector: the independent check, since nothing else can open without a
//! forgery), is rebuilt byte for byte by sealing its plaintext
//! again with the key it names, its header fields and its salt, is not expired, and does not
//! open under any other storage key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealed_session::envelope::{Header, OVERHEAD};
use sealed_session::fuzzing;
use sealed_session::{KeyState, OpenContext, RejectKind, SealContext, Sealer};
use sealed_session_fuzz::{
    MAX_ENVELOPE, VECTOR_NOW, VECTOR_STORAGE_KEY, is_vector_envelope, single_key_sealer,
    vector_sealer,
};

fuzz_target!(|data: &[u8]| {
    let sealer = vector_sealer();
    let ctx = OpenContext::new(VECTOR_STORAGE_KEY, VECTOR_NOW, MAX_ENVELOPE);
    match sealer.open(&ctx, data.to_vec()) {
        Ok(opened) => {
            let header = Header::parse(data).expect("an opened envelope has a header");
            assert_eq!(opened.key_id, header.key_id);
            assert_eq!(opened.codec, header.codec);
            assert_eq!(opened.expires_at, header.expires_at);
            assert!(
                header.expires_at == 0 || header.expires_at > VECTOR_NOW,
                "opened expired"
            );
            assert_eq!(opened.plaintext().len(), data.len() - OVERHEAD);

            let single = single_key_sealer(opened.key_id).expect("opened under a vector key");
            let salt = fuzzing::envelope_salt(data).expect("room for the salt");
            let again = SealContext::new(VECTOR_STORAGE_KEY, header.codec, header.expires_at);
            let rebuilt = fuzzing::seal_with_salt(&single, &again, opened.plaintext(), &salt)
                .expect("sealing with a vector key");
            assert_eq!(rebuilt, data, "an envelope that is not genuine opened");
            assert!(
                is_vector_envelope(data),
                "opened something the vectors did not seal"
            );

            let mut other_key = VECTOR_STORAGE_KEY.to_vec();
            other_key.push(b'x');
            let elsewhere = OpenContext::new(&other_key, VECTOR_NOW, MAX_ENVELOPE);
            let refused = sealer
                .open(&elsewhere, data.to_vec())
                .expect_err("opened elsewhere");
            assert_eq!(refused.rejection_kind(), Some(RejectKind::Authentication));
        }
        Err(err) => {
            let kind = err
                .rejection_kind()
                .expect("a refusal, never another error");
            let keyring = sealer.keyring();
            match Header::parse(data) {
                Err(rejection) => assert_eq!(kind, rejection.kind()),
                Ok(header) => match keyring.state(header.key_id) {
                    None => assert_eq!(kind, RejectKind::UnknownKey),
                    Some(KeyState::Retired) => assert_eq!(kind, RejectKind::RetiredKey),
                    Some(_) => {
                        let suite = keyring.keys().iter().find(|k| k.id == header.key_id);
                        if suite.and_then(|k| k.suite) != Some(header.suite) {
                            assert_eq!(kind, RejectKind::SuiteMismatch);
                        } else {
                            // Steps 5 to 7 need the key: commitment, tag, expiry.
                            assert!(kind.step() >= 5, "{kind:?} with the right key and suite");
                        }
                    }
                },
            }
        }
    }
});
