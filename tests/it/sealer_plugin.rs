//! The store's own checks around a user-supplied sealer.

use std::time::Duration;

use sealed_session::{
    Error, KeyringSealer, ManualClock, MemoryBackend, OpenContext, Opened, RejectKind, SaltSource,
    SealContext, Sealer, Session, SessionId, Store,
};

use crate::support;
use crate::support::{T0, WebSession, keyring};

/// A sealer that delegates but forgets to check expiry (it opens "at time 0").
#[derive(Debug)]
struct Forgetful(KeyringSealer);

impl Sealer for Forgetful {
    fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        self.0.seal(ctx, plaintext)
    }

    fn open(&self, ctx: &OpenContext<'_>, value: Vec<u8>) -> Result<Opened, Error> {
        self.0
            .open(&OpenContext::new(ctx.storage_key, 0, ctx.max_len), value)
    }
}

#[tokio::test]
async fn the_store_refuses_expired_sessions_even_if_the_sealer_does_not() {
    use sealed_session::{Backend, SetMode};
    let clock = ManualClock::at_secs(T0);
    let store: Store<WebSession, MemoryBackend> =
        Store::builder(MemoryBackend::with_clock(clock.clone()))
            .sealer(Forgetful(KeyringSealer::new(keyring(1))))
            .absolute_lifetime(Duration::from_secs(60))
            .clock(clock.clone())
            .build()
            .unwrap();
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let key = store.storage_key(&id);
    let value = support::raw_get(store.backend(), &key).await.unwrap();
    clock.advance(Duration::from_secs(61));
    store
        .backend()
        .set(&key, &value, None, SetMode::Upsert)
        .await
        .unwrap();
    let err = store.load(&id).await.unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectKind::Expired));
}

#[tokio::test]
async fn os_salts_round_trip_too() {
    let clock = ManualClock::at_secs(T0);
    let store: Store<WebSession, MemoryBackend> =
        Store::builder(MemoryBackend::with_clock(clock.clone()))
            .sealer(KeyringSealer::new(keyring(1)).with_salt_source(SaltSource::Os))
            .clock(clock)
            .build()
            .unwrap();
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(4)))
        .await
        .unwrap();
    assert_eq!(store.load(&id).await.unwrap().unwrap().data.user_id, 4);
}

/// A sealer that reports absurd sizes (`usize::MAX` meaning "unknown", say).
#[derive(Debug)]
struct Boastful {
    inner: KeyringSealer,
    overhead: Option<usize>,
    prefix: usize,
}

impl Sealer for Boastful {
    fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        self.inner.seal(ctx, plaintext)
    }

    fn open(&self, ctx: &OpenContext<'_>, value: Vec<u8>) -> Result<Opened, Error> {
        self.inner.open(ctx, value)
    }

    fn overhead(&self) -> Option<usize> {
        self.overhead
    }

    fn reserved_prefix(&self) -> usize {
        self.prefix
    }
}

#[test]
fn sealer_sizes_beyond_the_envelope_limit_are_a_configuration_error() {
    for (overhead, prefix) in [(Some(usize::MAX), 0), (None, usize::MAX), (Some(4096), 0)] {
        let result: Result<Store<WebSession, MemoryBackend>, Error> =
            Store::builder(MemoryBackend::new())
                .sealer(Boastful {
                    inner: KeyringSealer::new(keyring(1)),
                    overhead,
                    prefix,
                })
                .max_envelope_len(1024)
                .build();
        match result {
            Err(Error::Config(e)) => assert!(e.to_string().contains("sealer"), "{e}"),
            other => panic!("({overhead:?}, {prefix}) built: {:?}", other.map(|_| ())),
        }
    }
    // Sizes that fit are fine.
    let store: Result<Store<WebSession, MemoryBackend>, Error> =
        Store::builder(MemoryBackend::new())
            .sealer(Boastful {
                inner: KeyringSealer::new(keyring(1)),
                overhead: Some(95),
                prefix: 79,
            })
            .max_envelope_len(1024)
            .build();
    assert!(store.is_ok());
}
