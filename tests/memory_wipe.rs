//! Its own binary: it installs a global allocator that inspects every block freed by the
//! thread under test, to show that secrets are wiped before their memory goes back.

#![allow(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; it only reads blocks it is handed"
)]
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

#[path = "it/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sealed_session::{
    Argon2Params, Bincode, Codec, Json, KeyMaterial, MemoryBackend, Session, SessionId, Store,
    StoreBuilder,
};
use serde::{Serialize, Serializer};

/// What the spy looks for in the blocks freed by the current thread.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Watch {
    Nothing,
    /// Blocks of exactly this many bytes must be all zeros.
    ZeroBlocksOf(usize),
    /// No freed block may contain [`MARKER`].
    Marker,
}

/// Session data that must never be found in freed memory.
const MARKER: &[u8] = b"MARKER-c0ffee-7f3a9c51-SESSION-PLAINTEXT";

#[derive(Clone, Copy)]
struct Spied {
    watch: Watch,
    /// Blocks inspected.
    inspected: usize,
    /// Blocks that broke the rule.
    dirty: usize,
}

thread_local! {
    static SPY: Cell<Spied> = const {
        Cell::new(Spied { watch: Watch::Nothing, inspected: 0, dirty: 0 })
    };
}

struct Spy;

// SAFETY: every call is forwarded to the system allocator unchanged; `dealloc` only reads the
// block it is handed, which is valid for `layout.size()` bytes until it is freed right after.
// `realloc` is not overridden: the trait's default allocates, copies and frees through
// `dealloc`, so the old block of a growing vector is inspected like any other.
unsafe impl GlobalAlloc for Spy {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = SPY.try_with(|spy| {
            let mut s = spy.get();
            let bytes = || unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            let dirty = match s.watch {
                Watch::Nothing => None,
                Watch::ZeroBlocksOf(size) if size == layout.size() => {
                    Some(bytes().iter().any(|b| *b != 0))
                }
                Watch::ZeroBlocksOf(_) => None,
                Watch::Marker => Some(bytes().windows(MARKER.len()).any(|w| w == MARKER)),
            };
            if let Some(dirty) = dirty {
                s.inspected += 1;
                s.dirty += usize::from(dirty);
                spy.set(s);
            }
        });
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Spy = Spy;

/// Runs `work` with the spy watching this thread's frees; returns what it saw.
fn spying<R>(watch: Watch, work: impl FnOnce() -> R) -> (R, Spied) {
    SPY.with(|s| {
        s.set(Spied {
            watch,
            inspected: 0,
            dirty: 0,
        })
    });
    let out = work();
    let seen = SPY.with(|s| {
        let seen = s.get();
        s.set(Spied {
            watch: Watch::Nothing,
            ..seen
        });
        seen
    });
    (out, seen)
}

/// The spy works: a plain `Vec` that grows, and one that is dropped, leave what they held.
#[test]
fn the_spy_sees_plaintext_a_plain_vec_leaves_behind() {
    let ((), seen) = spying(Watch::Marker, || {
        let mut v = Vec::with_capacity(MARKER.len());
        v.extend_from_slice(MARKER);
        v.extend_from_slice(&[0; 4096]);
        drop(std::hint::black_box(v));
    });
    assert_eq!(seen.dirty, 2, "the grown-out block and the final one");
}

/// Argon2id fills its working memory from the passphrase, and with p = 1 its last block
/// alone gives the key: the memory must be zeroed before it is freed.
#[test]
fn argon2_working_memory_is_zeroed_before_it_is_freed() {
    let params = Argon2Params::OWASP_MINIMUM;
    let size = usize::try_from(params.m_cost_kib).unwrap() * 1024;
    let (key, seen) = spying(Watch::ZeroBlocksOf(size), || {
        KeyMaterial::derive_argon2id(b"a passphrase", &params, b"sixteen byte salt")
    });
    key.unwrap();
    assert_eq!(
        seen.inspected, 1,
        "one working memory of {size} bytes freed"
    );
    assert_eq!(seen.dirty, 0, "Argon2id memory freed with its contents");
}

/// A session: a secret field first, then enough other fields that the encoder outgrows
/// whatever buffer it started with after the secret is written.
#[derive(Serialize, serde::Deserialize)]
struct Secretive {
    secret: String,
    filler: Vec<String>,
}

impl Secretive {
    fn of_len(approx: usize) -> Secretive {
        Secretive {
            secret: String::from_utf8(MARKER.to_vec()).unwrap(),
            filler: (0..approx / 40).map(|i| format!("{i:>38}")).collect(),
        }
    }
}

/// Runs a future to completion on this thread, so every block it frees is inspected.
fn on_this_thread<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// Saves sessions of growing sizes (the first over the initial buffer, then each larger
/// than a quarter over the largest so far) and checks no freed block holds the marker.
fn saves_leave_no_plaintext<C: Codec<Secretive>>(codec: C) {
    let store: Store<Secretive, MemoryBackend> =
        StoreBuilder::with_codec(MemoryBackend::new(), codec)
            .keyring(support::keyring(1))
            .build()
            .unwrap();
    for len in [300, 1_000, 2_000, 9_000, 40_000] {
        let id = SessionId::generate().unwrap();
        let mut session = Session::new(Secretive::of_len(len));
        let (saved, seen) = spying(Watch::Marker, || {
            on_this_thread(store.create(&id, &mut session))
        });
        saved.unwrap();
        assert!(seen.inspected > 0);
        assert_eq!(
            seen.dirty, 0,
            "a session of about {len} bytes left plaintext behind"
        );
    }
}

#[test]
fn a_growing_encode_buffer_leaves_no_plaintext_bincode() {
    saves_leave_no_plaintext(Bincode);
}

#[test]
fn a_growing_encode_buffer_leaves_no_plaintext_json() {
    saves_leave_no_plaintext(Json);
}

#[cfg(feature = "postcard")]
#[test]
fn a_growing_encode_buffer_leaves_no_plaintext_postcard() {
    saves_leave_no_plaintext(sealed_session::Postcard);
}

/// Session data whose serialization fails after the secret is written.
struct FailsHalfway;

impl Serialize for FailsHalfway {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeStruct};
        let mut s = serializer.serialize_struct("FailsHalfway", 2)?;
        s.serialize_field("secret", std::str::from_utf8(MARKER).unwrap())?;
        s.serialize_field("filler", &vec![7u64; 512])?;
        Err(S::Error::custom("refused"))
    }
}

impl<'de> serde::Deserialize<'de> for FailsHalfway {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("never stored"))
    }
}

/// An encoding that fails partway leaves what it wrote in the store's buffer, which is
/// wiped (postcard used to drop it unwiped).
#[test]
fn a_failed_encoding_leaves_no_plaintext() {
    fn check<C: Codec<FailsHalfway>>(codec: C) {
        let store: Store<FailsHalfway, MemoryBackend> =
            StoreBuilder::with_codec(MemoryBackend::new(), codec)
                .keyring(support::keyring(1))
                .build()
                .unwrap();
        let id = SessionId::generate().unwrap();
        let (saved, seen) = spying(Watch::Marker, || {
            on_this_thread(store.create(&id, &mut Session::new(FailsHalfway)))
        });
        assert!(matches!(saved, Err(sealed_session::Error::Encode(_))));
        assert!(seen.inspected > 0);
        assert_eq!(seen.dirty, 0, "{}", store.write_codec());
    }
    check(Bincode);
    check(Json);
    #[cfg(feature = "postcard")]
    check(sealed_session::Postcard);
}
