//! Properties of envelope v1 over arbitrary inputs (proptest): a sealed value opens to
//! exactly what was sealed, under exactly its storage key; any single mutation is refused,
//! and a flipped bit is refused by the opening step that owns the byte it landed in.

use proptest::prelude::*;
use sealed_session::{
    CodecId, KeyMaterial, Keyring, KeyringSealer, OpenContext, RejectKind, SealContext, Sealer,
    Suite,
};

const NOW: u64 = 1_800_000_000;
const MAX: usize = 1 << 20;

fn suite() -> impl Strategy<Value = Suite> {
    prop_oneof![Just(Suite::Aes256Gcm), Just(Suite::ChaCha20Poly1305)]
}

fn codec() -> impl Strategy<Value = CodecId> {
    prop_oneof![
        Just(CodecId::BINCODE),
        Just(CodecId::JSON),
        Just(CodecId::POSTCARD),
        (0x80u8..=0xFF).prop_map(|b| CodecId::user_defined(b).unwrap()),
    ]
}

/// Everything one sealing depends on.
#[derive(Debug, Clone)]
struct Case {
    key_id: u32,
    suite: Suite,
    material: [u8; 32],
    codec: CodecId,
    storage_key: Vec<u8>,
    expires_at: u64,
    plaintext: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1u32..,
        suite(),
        any::<[u8; 32]>(),
        codec(),
        proptest::collection::vec(any::<u8>(), 1..80),
        prop_oneof![Just(0u64), (NOW + 1)..(NOW + 10 * 365 * 86_400)],
        proptest::collection::vec(any::<u8>(), 0..600),
    )
        .prop_map(
            |(key_id, suite, material, codec, storage_key, expires_at, plaintext)| Case {
                key_id,
                suite,
                material,
                codec,
                storage_key,
                expires_at,
                plaintext,
            },
        )
}

fn sealer(case: &Case) -> KeyringSealer {
    let mut material = case.material;
    KeyringSealer::new(
        Keyring::single(
            case.key_id,
            case.suite,
            KeyMaterial::from_bytes(&mut material),
        )
        .unwrap(),
    )
}

fn seal(case: &Case) -> (KeyringSealer, Vec<u8>) {
    let sealer = sealer(case);
    let ctx = SealContext::new(&case.storage_key, case.codec, case.expires_at);
    let sealed = sealer.seal(&ctx, &case.plaintext).unwrap();
    (sealer, sealed)
}

fn open(sealer: &KeyringSealer, storage_key: &[u8], value: Vec<u8>) -> Result<Vec<u8>, RejectKind> {
    sealer
        .open(&OpenContext::new(storage_key, NOW, MAX), value)
        .map(|o| o.plaintext().to_vec())
        .map_err(|e| e.rejection_kind().expect("a refusal, not another error"))
}

/// The kind that must refuse `value` after bit `bit` of byte `at` was flipped.
fn expected_kind(case: &Case, original: &[u8], at: usize, bit: u8) -> RejectKind {
    let flipped = original[at] ^ (1 << bit);
    match at {
        0 => RejectKind::Version,
        1 => match Suite::from_byte(flipped) {
            Some(_) => RejectKind::SuiteMismatch,
            None => RejectKind::Suite,
        },
        2 => match CodecId::from_byte(flipped) {
            // Another valid codec: the codec byte is authenticated with the header.
            Some(_) => RejectKind::Authentication,
            None => RejectKind::Codec,
        },
        // Key id: this keyring holds one id only.
        3..=6 => {
            let _ = case;
            RejectKind::UnknownKey
        }
        7..=14 => RejectKind::Authentication,
        15..=78 => RejectKind::Commitment,
        _ => RejectKind::Authentication,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_sealed_value_opens_to_exactly_what_was_sealed(case in case()) {
        let (sealer, sealed) = seal(&case);
        prop_assert_eq!(sealed.len(), case.plaintext.len() + 95);
        let opened = sealer
            .open(&OpenContext::new(&case.storage_key, NOW, MAX), sealed)
            .unwrap();
        prop_assert_eq!(opened.plaintext(), &case.plaintext[..]);
        prop_assert_eq!(opened.codec, case.codec);
        prop_assert_eq!(opened.key_id, case.key_id);
        prop_assert_eq!(opened.expires_at, case.expires_at);
    }

    #[test]
    fn any_other_storage_key_is_refused(case in case(), other in proptest::collection::vec(any::<u8>(), 0..80)) {
        prop_assume!(other != case.storage_key);
        let (sealer, sealed) = seal(&case);
        prop_assert_eq!(open(&sealer, &other, sealed), Err(RejectKind::Authentication));
    }

    #[test]
    fn a_flipped_bit_is_refused_by_the_step_that_owns_its_byte(
        case in case(),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let (sealer, sealed) = seal(&case);
        let at = position.index(sealed.len());
        let mut mutated = sealed.clone();
        mutated[at] ^= 1 << bit;
        let kind = open(&sealer, &case.storage_key, mutated).unwrap_err();
        prop_assert_eq!(kind, expected_kind(&case, &sealed, at, bit), "byte {}", at);
    }

    #[test]
    fn a_byte_inserted_removed_truncated_or_appended_is_refused(
        case in case(),
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        tail in proptest::collection::vec(any::<u8>(), 1..64),
        how in 0u8..4,
    ) {
        let (sealer, sealed) = seal(&case);
        let at = position.index(sealed.len());
        let mut mutated = sealed.clone();
        match how {
            0 => mutated.insert(at, byte),
            1 => { mutated.remove(at); }
            2 => mutated.truncate(at),
            _ => mutated.extend_from_slice(&tail),
        }
        let kind = open(&sealer, &case.storage_key, mutated.clone()).unwrap_err();
        if mutated.len() < 95 {
            prop_assert_eq!(kind, RejectKind::Length);
        }
    }
}
