//! HKDF-SHA256 (RFC 5869) for the one shape envelope v1 needs: 32-byte salt, 32-byte input
//! key, short info, one 32-byte output block.
//!
//! Why not the `hkdf` crate: that shape costs exactly ten SHA-256 compressions, and the
//! general-purpose HMAC stack around them (buffering, cloning, finalisation) doubled the
//! time on the seal/open path. This module calls sha2's compression function directly, does
//! those ten compressions and nothing else, and wipes every buffer and chaining value that
//! was derived from secret input: the block holding the root key with `zeroize`, the values
//! derived for one envelope best effort (see `crypto::wipe`). It is checked against RFC 5869's test case, against the
//! `hkdf` crate on random inputs, and by the independent Python implementation behind the
//! test vectors.

use sha2::block_api::compress256;

/// SHA-256 initial hash value (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Longest message [`HmacKey::mac`] takes: one block minus the 0x80 byte and the 8-byte
/// length.
const MAX_SHORT_MESSAGE: usize = 55;

/// HMAC-SHA256 keyed with a key of at most one block: the chaining values after the ipad
/// and opad blocks.
struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacKey {
    /// `None` for a key longer than 64 bytes (HMAC would hash it first; never needed here).
    fn new(key: &[u8]) -> Option<HmacKey> {
        if key.len() > 64 {
            return None;
        }
        let mut block = [0x36u8; 64];
        for (b, k) in block.iter_mut().zip(key) {
            *b ^= k;
        }
        let mut inner = IV;
        compress256(&mut inner, std::slice::from_ref(&block));
        for b in block.iter_mut() {
            *b ^= 0x36 ^ 0x5c;
        }
        let mut outer = IV;
        compress256(&mut outer, std::slice::from_ref(&block));
        super::wipe(&mut block);
        Some(HmacKey { inner, outer })
    }

    /// HMAC of the concatenation of `parts`, which must total at most 55 bytes (one padded
    /// block after the key block); `None` otherwise. The block that held the message is
    /// wiped as `message` says; everything else is derived and wiped best effort.
    fn mac(&self, parts: &[&[u8]], message: Wipe) -> Option<[u8; 32]> {
        let mut block = [0u8; 64];
        let mut len = 0;
        for part in parts {
            // `get_mut` gives None past the 64-byte block, so `len` stays at most 64, the
            // sum cannot overflow, and the copy is between slices of part.len() bytes.
            let end = len + part.len();
            block.get_mut(len..end)?.copy_from_slice(part);
            len = end;
        }
        if len > MAX_SHORT_MESSAGE {
            message.block(&mut block);
            return None;
        }
        let mut state = self.inner;
        pad(&mut block, len, 64 + len);
        compress256(&mut state, std::slice::from_ref(&block));

        let mut outer_block = [0u8; 64];
        write_state(&state, &mut outer_block);
        pad(&mut outer_block, 32, 64 + 32);
        let mut out_state = self.outer;
        compress256(&mut out_state, std::slice::from_ref(&outer_block));

        let mut out = [0u8; 32];
        write_state(&out_state, &mut out);
        message.block(&mut block);
        super::wipe(&mut outer_block);
        wipe_words(&mut state);
        wipe_words(&mut out_state);
        Some(out)
    }
}

impl Drop for HmacKey {
    fn drop(&mut self) {
        wipe_words(&mut self.inner);
        wipe_words(&mut self.outer);
    }
}

/// SHA-256 padding of a final block holding `len` message bytes, for a message of `total`
/// bytes overall (key block included).
fn pad(block: &mut [u8; 64], len: usize, total: usize) {
    if let Some(b) = block.get_mut(len) {
        *b = 0x80;
    }
    let bits = (total as u64).wrapping_mul(8);
    if let Some(tail) = block.get_mut(56..) {
        // 56..64 is 8 bytes, the size of a u64.
        tail.copy_from_slice(&bits.to_be_bytes());
    }
}

/// Writes the first `out.len() / 4` words of `state` big-endian into `out`.
fn write_state(state: &[u32; 8], out: &mut [u8]) {
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        // chunks_exact_mut(4): every chunk is the 4 bytes of a u32.
        chunk.copy_from_slice(&word.to_be_bytes());
    }
}

fn wipe_words(words: &mut [u32; 8]) {
    words.fill(0);
    std::hint::black_box(&*words);
}

/// How a buffer that held secret input is wiped.
#[derive(Clone, Copy)]
enum Wipe {
    /// With `zeroize`, whose volatile writes the compiler must keep: for the block that
    /// holds a copy of the root key.
    Guaranteed,
    /// With [`super::wipe`], best effort: for values derived for one envelope (or from the
    /// public salt). Wiping all of them with `zeroize` cost about 0.2 µs per derivation.
    BestEffort,
}

impl Wipe {
    fn block(self, block: &mut [u8; 64]) {
        match self {
            Wipe::Guaranteed => zeroize::Zeroize::zeroize(block),
            Wipe::BestEffort => super::wipe(block),
        }
    }
}

/// The extracted pseudorandom key, ready to expand.
pub(crate) struct Prk(HmacKey);

/// HKDF-Extract(salt, ikm): `None` unless the salt is at most 64 bytes and the input key at
/// most 55 (envelope v1 uses 32 and 32).
pub(crate) fn extract(salt: &[u8], ikm: &[u8]) -> Option<Prk> {
    // The input key is the root key: its block is wiped with a guarantee.
    let mut prk = HmacKey::new(salt)?.mac(&[ikm], Wipe::Guaranteed)?;
    let key = HmacKey::new(&prk);
    super::wipe(&mut prk);
    key.map(Prk)
}

impl Prk {
    /// HKDF-Expand, first output block: T(1) = HMAC(PRK, info || 0x01), where info is the
    /// concatenation of at most 7 parts and at most 54 bytes; `None` otherwise.
    pub(crate) fn expand32(&self, info: &[&[u8]]) -> Option<[u8; 32]> {
        self.block(&[], info, 1)
    }

    /// T(n) = HMAC(PRK, T(n-1) || info || n).
    fn block(&self, previous: &[u8], info: &[&[u8]], n: u8) -> Option<[u8; 32]> {
        let counter = [n];
        let mut parts: [&[u8]; 9] = [&[]; 9];
        *parts.get_mut(0)? = previous;
        let end = 1 + info.len();
        // 1..end is info.len() slots (and None, not a panic, if info has more than 7).
        parts.get_mut(1..end)?.copy_from_slice(info);
        *parts.get_mut(end)? = &counter;
        self.0.mac(parts.get(..=end)?, Wipe::BestEffort)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hmac_matches_the_hmac_crate_for_every_short_length() {
        use hmac::{KeyInit, Mac};
        for key_len in [0, 13, 32, 64] {
            let key = vec![0x0bu8; key_len];
            for len in 0..=MAX_SHORT_MESSAGE {
                let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut reference = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
                reference.update(&msg);
                let expected = reference.finalize().into_bytes();
                let ours = HmacKey::new(&key)
                    .unwrap()
                    .mac(&[&msg], Wipe::BestEffort)
                    .unwrap();
                assert_eq!(ours[..], expected[..], "key {key_len} msg {len}");
            }
        }
        assert!(
            HmacKey::new(&[0u8; 32])
                .unwrap()
                .mac(&[&[0u8; 56]], Wipe::BestEffort)
                .is_none()
        );
        assert!(HmacKey::new(&[0u8; 65]).is_none());
    }

    #[test]
    fn rfc_5869_test_case_1() {
        let ikm = unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let salt = unhex("000102030405060708090a0b0c");
        let info = unhex("f0f1f2f3f4f5f6f7f8f9");
        let prk = HmacKey::new(&salt)
            .unwrap()
            .mac(&[&ikm], Wipe::Guaranteed)
            .unwrap();
        assert_eq!(
            prk.to_vec(),
            unhex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
        );
        // L = 42: two blocks, T(1) and the first 10 bytes of T(2).
        let prk = extract(&salt, &ikm).unwrap();
        let t1 = prk.expand32(&[&info]).unwrap();
        let t2 = prk.block(&t1, &[&info], 2).unwrap();
        let okm: Vec<u8> = t1.iter().chain(&t2[..10]).copied().collect();
        assert_eq!(
            okm,
            unhex(
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
            )
        );
    }

    #[test]
    fn matches_the_hkdf_crate_on_random_inputs() {
        use rand::Rng;
        let mut rng = rand::rng();
        for _ in 0..2000 {
            let mut salt = [0u8; 32];
            let mut ikm = [0u8; 32];
            rng.fill_bytes(&mut salt);
            rng.fill_bytes(&mut ikm);
            let info_len = (rng.next_u32() % 55) as usize;
            let mut info = vec![0u8; info_len];
            rng.fill_bytes(&mut info);
            let split = info_len / 3;

            let reference = hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), &ikm);
            let mut expected = [0u8; 32];
            reference.expand(&info, &mut expected).unwrap();

            let ours = extract(&salt, &ikm)
                .unwrap()
                .expand32(&[&info[..split], &info[split..]])
                .unwrap();
            assert_eq!(ours, expected);
        }
    }

    #[test]
    fn overlong_info_is_refused_not_truncated() {
        let prk = extract(&[1; 32], &[2; 32]).unwrap();
        assert!(prk.expand32(&[&[0u8; 54]]).is_some());
        assert!(prk.expand32(&[&[0u8; 55]]).is_none());
        assert!(prk.expand32(&[&[0u8; 30], &[0u8; 25]]).is_none());
    }
}
