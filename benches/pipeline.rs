//! The cost of the pipeline without I/O: codec alone, crypto alone, and both together, for a
//! realistic ~1 KiB session, for every suite × codec.
//!
//! Run: `cargo bench --bench pipeline --all-features`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sealed_session::{
    Bincode, Codec, CodecId, Json, KeyMaterial, Keyring, KeyringSealer, ManualClock, MemoryBackend,
    OpenContext, Postcard, SaltSource, SealContext, Sealer, Session, SessionId, Store, Suite,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
struct WebSession {
    user_id: u64,
    email: String,
    roles: Vec<String>,
    csrf_token: String,
    flash: Vec<String>,
    cart: Vec<CartLine>,
    last_seen: u64,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
struct CartLine {
    sku: String,
    title: String,
    qty: u32,
    price_cents: u64,
}

fn session() -> WebSession {
    WebSession {
        user_id: 1_234_567,
        email: "alice.liddell@example.com".into(),
        roles: vec!["customer".into(), "beta-tester".into(), "newsletter".into()],
        csrf_token: "q3Zf1xw9b0N2mJ7cR4tK8yL6pV5sA1dE0gH3jU2iO9".into(),
        flash: vec![
            "Welcome back, Alice! Your last order shipped on Tuesday.".into(),
            "Your cart was saved from your previous visit.".into(),
        ],
        cart: (0..8)
            .map(|n| CartLine {
                sku: format!("SKU-{n:04}-XL-BLUE"),
                title: format!("Organic cotton t-shirt, model {n}, extra large, blue"),
                qty: n + 1,
                price_cents: 1999 + u64::from(n) * 100,
            })
            .collect(),
        last_seen: 1_800_000_000,
    }
}

const STORAGE_KEY: &[u8] = b"sess:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const MAX: usize = 64 * 1024;

fn sealer(suite: Suite) -> KeyringSealer {
    KeyringSealer::new(Keyring::single(1, suite, KeyMaterial::from_bytes(&mut [7; 32])).unwrap())
}

/// Where salts come from: one OS call per envelope (the default) or rand's thread-local
/// generator (the opt-in), alone and inside a seal and a store's save + load.
fn bench_salt(c: &mut Criterion) {
    use rand::Rng;
    let mut group = c.benchmark_group("salt");
    group.bench_function("os", |b| {
        b.iter(|| {
            let mut salt = [0u8; 32];
            getrandom::fill(&mut salt).unwrap();
            black_box(salt)
        })
    });
    group.bench_function("thread-local", |b| {
        b.iter(|| {
            let mut salt = [0u8; 32];
            rand::rng().fill_bytes(&mut salt);
            black_box(salt)
        })
    });
    let mut plaintext = Vec::with_capacity(1024);
    Codec::<WebSession>::encode(&Bincode, &session(), &mut plaintext).unwrap();
    let seal_ctx = SealContext::new(STORAGE_KEY, CodecId::BINCODE, 1_900_000_000);
    for (name, source) in [
        ("os", SaltSource::Os),
        ("thread-local", SaltSource::ThreadLocal),
    ] {
        let sealer = sealer(Suite::Aes256Gcm).with_salt_source(source);
        group.bench_function(format!("aes256gcm/seal/{name}"), |b| {
            b.iter(|| black_box(sealer.seal(&seal_ctx, black_box(&plaintext)).unwrap()))
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for (name, source) in [
        ("os", SaltSource::Os),
        ("thread-local", SaltSource::ThreadLocal),
    ] {
        let (store, id, mut session) = memory_store(&runtime, source);
        group.bench_function(
            format!("store/memory/aes256gcm/bincode/save+load/{name}"),
            |b| {
                b.iter(|| {
                    runtime.block_on(async {
                        store.save(&id, &mut session).await.unwrap();
                        black_box(store.load(&id).await.unwrap().unwrap())
                    })
                })
            },
        );
    }
    group.finish();
}

/// A store on the in-memory backend holding one session, salting from `source`.
fn memory_store(
    runtime: &tokio::runtime::Runtime,
    source: SaltSource,
) -> (
    Store<WebSession, MemoryBackend>,
    SessionId,
    Session<WebSession>,
) {
    let clock = ManualClock::at_secs(1_800_000_000);
    let store: Store<WebSession, MemoryBackend> =
        Store::builder(MemoryBackend::with_clock(clock.clone()))
            .keyring(
                Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap()).unwrap(),
            )
            .salt_source(source)
            .clock(clock)
            .build()
            .unwrap();
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(session());
    runtime.block_on(store.save(&id, &mut session)).unwrap();
    (store, id, session)
}

fn codecs() -> Vec<(&'static str, Box<dyn Codec<WebSession>>)> {
    vec![
        ("bincode", Box::new(Bincode)),
        ("json", Box::new(Json)),
        ("postcard", Box::new(Postcard)),
    ]
}

fn suites() -> [(&'static str, Suite); 2] {
    [
        ("aes256gcm", Suite::Aes256Gcm),
        ("chacha20poly1305", Suite::ChaCha20Poly1305),
    ]
}

fn bench_codec(c: &mut Criterion) {
    let data = session();
    let mut group = c.benchmark_group("codec");
    for (name, codec) in codecs() {
        let mut bytes = Vec::new();
        codec.encode(&data, &mut bytes).unwrap();
        eprintln!("{name}: {} plaintext bytes", bytes.len());
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("{name}/encode+decode"), |b| {
            b.iter(|| {
                let mut out = Vec::new();
                codec.encode(black_box(&data), &mut out).unwrap();
                black_box(codec.decode(&out).unwrap())
            })
        });
    }
    group.finish();
}

fn bench_crypto(c: &mut Criterion) {
    let mut plaintext = Vec::with_capacity(1024);
    Codec::<WebSession>::encode(&Bincode, &session(), &mut plaintext).unwrap();
    let mut group = c.benchmark_group("crypto");
    group.throughput(Throughput::Bytes(plaintext.len() as u64));
    for (name, suite) in suites() {
        let sealer = sealer(suite);
        let seal_ctx = SealContext::new(STORAGE_KEY, CodecId::BINCODE, 1_900_000_000);
        let open_ctx = OpenContext::new(STORAGE_KEY, 1_800_000_000, MAX);
        group.bench_function(format!("{name}/seal"), |b| {
            b.iter(|| black_box(sealer.seal(&seal_ctx, black_box(&plaintext)).unwrap()))
        });
        let envelope = sealer.seal(&seal_ctx, &plaintext).unwrap();
        group.bench_function(format!("{name}/open"), |b| {
            b.iter_batched(
                || envelope.clone(),
                |env| black_box(sealer.open(&open_ctx, env).unwrap()),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("{name}/seal+open"), |b| {
            b.iter(|| {
                let env = sealer.seal(&seal_ctx, black_box(&plaintext)).unwrap();
                black_box(sealer.open(&open_ctx, env).unwrap())
            })
        });
    }
    group.finish();
}

/// The primitives alone, in the same run: what one seal plus one open cannot go below.
/// Per envelope: one AES-256-GCM key setup and pass over the plaintext each way, and
/// HKDF-SHA256 extract plus two expands each way.
fn bench_baseline(c: &mut Criterion) {
    use aes_gcm::aead::{AeadInOut, KeyInit, Nonce};
    let mut plaintext = Vec::with_capacity(1024);
    Codec::<WebSession>::encode(&Bincode, &session(), &mut plaintext).unwrap();
    let aad = [0u8; 173];
    let key = [9u8; 32];
    let mut group = c.benchmark_group("baseline");
    group.bench_function("aes256gcm/encrypt+decrypt", |b| {
        let mut buf = plaintext.clone();
        b.iter(|| {
            let nonce = Nonce::<aes_gcm::Aes256Gcm>::default();
            let cipher = aes_gcm::Aes256Gcm::new_from_slice(black_box(&key)).unwrap();
            let tag = cipher
                .encrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into())
                .unwrap();
            let cipher = aes_gcm::Aes256Gcm::new_from_slice(black_box(&key)).unwrap();
            cipher
                .decrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into(), &tag)
                .unwrap();
        })
    });
    group.bench_function("hkdf-sha256/2x(extract+2 expands)", |b| {
        b.iter(|| {
            for _ in 0..2 {
                let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(black_box(&[1u8; 32])), &key);
                let mut a = [0u8; 32];
                let mut c = [0u8; 32];
                hk.expand(b"sealed-session v1 enc\x01\0\0\0\x01", &mut a)
                    .unwrap();
                hk.expand(b"sealed-session v1 commit\x01\0\0\0\x01", &mut c)
                    .unwrap();
                black_box((a, c));
            }
        })
    });
    group.finish();
}

fn bench_pipeline(c: &mut Criterion) {
    let data = session();
    let mut group = c.benchmark_group("pipeline");
    for (suite_name, suite) in suites() {
        let sealer = sealer(suite);
        for (codec_name, codec) in codecs() {
            let seal_ctx = SealContext::new(STORAGE_KEY, codec.id(), 1_900_000_000);
            let open_ctx = OpenContext::new(STORAGE_KEY, 1_800_000_000, MAX);
            group.bench_function(
                format!("{suite_name}/{codec_name}/encode+seal+open+decode"),
                |b| {
                    // As the store does: encode after the sealer's reserved prefix into a
                    // buffer sized for the session, seal that buffer in place.
                    b.iter(|| {
                        let mut buf = Vec::with_capacity(1024 + 95);
                        buf.resize(sealer.reserved_prefix(), 0);
                        codec.encode(black_box(&data), &mut buf).unwrap();
                        sealer.seal_in_place(&seal_ctx, &mut buf).unwrap();
                        let opened = sealer.open(&open_ctx, buf).unwrap();
                        black_box(codec.decode(opened.plaintext()).unwrap())
                    })
                },
            );
        }
    }
    group.finish();
}

/// The whole store on the in-memory backend: what a request pays without a network.
fn bench_store(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (store, id, mut session) = memory_store(&runtime, SaltSource::default());
    let mut group = c.benchmark_group("store");
    group.bench_function("memory/aes256gcm/bincode/save+load", |b| {
        b.iter(|| {
            runtime.block_on(async {
                store.save(&id, &mut session).await.unwrap();
                black_box(store.load(&id).await.unwrap().unwrap())
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_baseline,
    bench_codec,
    bench_crypto,
    bench_pipeline,
    bench_store,
    bench_salt
);
criterion_main!(benches);
