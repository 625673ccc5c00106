//! Arbitrary session data, suite, codec, key and storage key: seal, then open.
//!
//! Oracles: opening under the same storage key gives back exactly the plaintext (and the
//! session the codec decodes from it), the codec, key id and expiry; it is refused as
//! expired from its expiry on; under any other storage key it is refused as
//! `authentication`; with other material under the same id, as `commitment`. Both ways of
//! sealing (explicit salt, and in place as the store does) are checked.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sealed_session::fuzzing;
use sealed_session::{
    KeyMaterial, Keyring, KeyringSealer, OpenContext, RejectKind, SealContext, Sealer, Suite,
};
use sealed_session_fuzz::{BuiltinCodec, MAX_ENVELOPE, WebSession};

#[derive(Arbitrary, Debug)]
enum Payload {
    Session(WebSession),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Case {
    payload: Payload,
    chacha: bool,
    codec: BuiltinCodec,
    key_id: u32,
    material: [u8; 32],
    salt: [u8; 32],
    storage_key: Vec<u8>,
    other_storage_key: Vec<u8>,
    expires_at: u64,
}

fn keyring_sealer(id: u32, suite: Suite, mut material: [u8; 32]) -> KeyringSealer {
    let keyring = Keyring::single(id, suite, KeyMaterial::from_bytes(&mut material))
        .expect("a single non-zero id is a valid keyring");
    KeyringSealer::new(keyring)
}

fn kind(result: Result<sealed_session::Opened, sealed_session::Error>) -> Option<RejectKind> {
    result.expect_err("must be refused").rejection_kind()
}

fuzz_target!(|case: Case| {
    let key_id = case.key_id.max(1);
    let suite = if case.chacha {
        Suite::ChaCha20Poly1305
    } else {
        Suite::Aes256Gcm
    };
    let codec = case.codec.codec::<WebSession>();

    let mut plaintext = Vec::new();
    match &case.payload {
        Payload::Session(session) => codec.encode(session, &mut plaintext).expect("encodes"),
        Payload::Raw(bytes) => plaintext.extend_from_slice(bytes),
    }

    let sealer = keyring_sealer(key_id, suite, case.material);
    let ctx = SealContext::new(&case.storage_key, case.codec.id(), case.expires_at);
    let explicit = fuzzing::seal_with_salt(&sealer, &ctx, &plaintext, &case.salt).expect("seals");
    let mut in_place = vec![0u8; sealer.reserved_prefix()];
    in_place.extend_from_slice(&plaintext);
    sealer
        .seal_in_place(&ctx, &mut in_place)
        .expect("seals in place");
    // Sealing in place (fresh salt) is the same function of its salt as the explicit path.
    let salt = fuzzing::envelope_salt(&in_place).expect("room for the salt");
    let again = fuzzing::seal_with_salt(&sealer, &ctx, &plaintext, &salt).expect("seals");
    assert_eq!(
        in_place, again,
        "sealing in place differs from sealing with its salt"
    );

    let now = 0;
    for sealed in [explicit, in_place] {
        let open_ctx = OpenContext::new(&case.storage_key, now, MAX_ENVELOPE);
        let opened = sealer
            .open(&open_ctx, sealed.clone())
            .expect("opens where it was sealed");
        assert_eq!(opened.plaintext(), plaintext.as_slice());
        assert_eq!(opened.codec, case.codec.id());
        assert_eq!(opened.key_id, key_id);
        assert_eq!(opened.expires_at, case.expires_at);
        if let Payload::Session(session) = &case.payload {
            let decoded = codec
                .decode(opened.plaintext())
                .expect("decodes what it encoded");
            assert_eq!(&decoded, session);
        }

        if case.expires_at != 0 {
            let at_expiry = OpenContext::new(&case.storage_key, case.expires_at, MAX_ENVELOPE);
            assert_eq!(
                kind(sealer.open(&at_expiry, sealed.clone())),
                Some(RejectKind::Expired)
            );
        }

        if case.other_storage_key != case.storage_key {
            let elsewhere = OpenContext::new(&case.other_storage_key, now, MAX_ENVELOPE);
            assert_eq!(
                kind(sealer.open(&elsewhere, sealed.clone())),
                Some(RejectKind::Authentication)
            );
        }

        let mut other_material = case.material;
        other_material[0] ^= 1;
        let impostor = keyring_sealer(key_id, suite, other_material);
        assert_eq!(
            kind(impostor.open(&open_ctx, sealed)),
            Some(RejectKind::Commitment)
        );
    }
});
