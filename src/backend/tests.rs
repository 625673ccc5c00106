//! The `Arc<B>` impl forwards every method, the provided ones included: a provided method it
//! did not forward would run the trait's default on the `Arc`, one key at a time, and skip
//! the batching the inner backend implements.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// Records which of its methods ran. Overrides every method, provided ones included.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<&'static str>>,
}

impl Recorder {
    fn record(&self, method: &'static str) {
        self.calls.lock().unwrap().push(method);
    }

    fn drain_calls(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl Backend for Recorder {
    async fn set(
        &self,
        _: &str,
        _: &[u8],
        _: Option<Duration>,
        _: SetMode,
    ) -> Result<bool, BackendError> {
        self.record("set");
        Ok(true)
    }

    async fn get(&self, _: &str, _: usize) -> Result<Fetched, BackendError> {
        self.record("get");
        Ok(Fetched::Missing)
    }

    async fn delete(&self, _: &str) -> Result<bool, BackendError> {
        self.record("delete");
        Ok(false)
    }

    async fn expire(&self, _: &str, _: Duration) -> Result<bool, BackendError> {
        self.record("expire");
        Ok(false)
    }

    async fn compare_and_swap(&self, _: &str, _: &[u8], _: &[u8]) -> Result<bool, BackendError> {
        self.record("compare_and_swap");
        Ok(false)
    }

    async fn scan(&self, _: &str, _: ScanCursor, _: usize) -> Result<ScanPage, BackendError> {
        self.record("scan");
        Ok(ScanPage {
            keys: Vec::new(),
            next: None,
        })
    }

    async fn get_many(&self, _: &[String], _: usize) -> Result<Vec<Fetched>, BackendError> {
        self.record("get_many");
        Ok(Vec::new())
    }

    async fn get_many_prefix(&self, _: &[String], _: usize) -> Result<Vec<Fetched>, BackendError> {
        self.record("get_many_prefix");
        Ok(Vec::new())
    }

    async fn compare_and_swap_many(&self, _: &[Swap<'_>]) -> Result<Vec<bool>, BackendError> {
        self.record("compare_and_swap_many");
        Ok(Vec::new())
    }

    async fn delete_many(&self, _: &[String]) -> Result<u64, BackendError> {
        self.record("delete_many");
        Ok(0)
    }

    async fn index_add(
        &self,
        _: &str,
        _: &str,
        _: u64,
        _: u64,
        _: u64,
    ) -> Result<(), BackendError> {
        self.record("index_add");
        Ok(())
    }

    async fn index_remove(&self, _: &str, _: &[String], _: u64) -> Result<(), BackendError> {
        self.record("index_remove");
        Ok(())
    }

    async fn index_read(&self, _: &str, _: u64) -> Result<Vec<IndexEntry>, BackendError> {
        self.record("index_read");
        Ok(Vec::new())
    }

    async fn take(&self, _: &str, _: usize) -> Result<Fetched, BackendError> {
        self.record("take");
        Ok(Fetched::Missing)
    }

    async fn compare_and_delete(&self, _: &str, _: &[u8]) -> Result<bool, BackendError> {
        self.record("compare_and_delete");
        Ok(false)
    }

    async fn set_if(
        &self,
        _: &str,
        _: &[u8],
        _: Option<Duration>,
        _: Expect<'_>,
    ) -> Result<Conditional, BackendError> {
        self.record("set_if");
        Ok(Conditional::Missing)
    }

    async fn delete_if(&self, _: &str, _: Expect<'_>) -> Result<Conditional, BackendError> {
        self.record("delete_if");
        Ok(Conditional::Missing)
    }
}

/// Runs a future that never waits (every `Recorder` method is ready at once).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("a recorder call waited"),
    }
}

#[test]
fn a_shared_backend_forwards_each_method_to_the_same_method() {
    let inner = Arc::new(Recorder::default());
    let shared: Arc<Recorder> = Arc::clone(&inner);
    let two_keys = vec!["a".to_owned(), "b".to_owned()];
    let swaps = [
        Swap {
            key: "a",
            expected: b"x",
            new: b"y",
        },
        Swap {
            key: "b",
            expected: b"x",
            new: b"y",
        },
    ];
    let mut seen = Vec::new();
    let mut check = |method: &'static str, calls: Vec<&'static str>| {
        assert_eq!(
            calls,
            [method],
            "Arc<B>::{method} did not forward to B::{method}"
        );
        seen.push(method);
    };
    ready(shared.set("a", b"v", None, SetMode::Upsert)).unwrap();
    check("set", inner.drain_calls());
    ready(shared.get("a", 10)).unwrap();
    check("get", inner.drain_calls());
    ready(shared.delete("a")).unwrap();
    check("delete", inner.drain_calls());
    ready(shared.expire("a", Duration::from_secs(1))).unwrap();
    check("expire", inner.drain_calls());
    ready(shared.compare_and_swap("a", b"x", b"y")).unwrap();
    check("compare_and_swap", inner.drain_calls());
    ready(shared.scan("a", ScanCursor::start(), 10)).unwrap();
    check("scan", inner.drain_calls());
    ready(shared.get_many(&two_keys, 10)).unwrap();
    check("get_many", inner.drain_calls());
    ready(shared.get_many_prefix(&two_keys, 10)).unwrap();
    check("get_many_prefix", inner.drain_calls());
    ready(shared.compare_and_swap_many(&swaps)).unwrap();
    check("compare_and_swap_many", inner.drain_calls());
    ready(shared.delete_many(&two_keys)).unwrap();
    check("delete_many", inner.drain_calls());
    ready(shared.index_add("i", "a", 1, 10, 1)).unwrap();
    check("index_add", inner.drain_calls());
    ready(shared.index_remove("i", &two_keys, 1)).unwrap();
    check("index_remove", inner.drain_calls());
    ready(shared.index_read("i", 1)).unwrap();
    check("index_read", inner.drain_calls());
    ready(shared.take("a", 10)).unwrap();
    check("take", inner.drain_calls());
    ready(shared.compare_and_delete("a", b"x")).unwrap();
    check("compare_and_delete", inner.drain_calls());
    let expect = Expect { at: 0, bytes: b"x" };
    ready(shared.set_if("a", b"y", None, expect)).unwrap();
    check("set_if", inner.drain_calls());
    ready(shared.delete_if("a", expect)).unwrap();
    check("delete_if", inner.drain_calls());

    // Every method of the trait was exercised above: the list is read from the source, so a
    // method added to the trait fails this test until the forwarding and the check exist.
    seen.sort_unstable();
    assert_eq!(seen, methods_in("pub trait Backend"));
    assert_eq!(
        seen,
        methods_in("impl<B: Backend + ?Sized> Backend for std::sync::Arc<B>")
    );
}

/// The names of the `fn`s in the block of `src/backend.rs` that starts with `header`.
fn methods_in(header: &str) -> Vec<&'static str> {
    let source: &'static str = include_str!("../backend.rs");
    let start = source.find(header).expect("the block exists");
    let body = &source[start..];
    let end = body.find("\n}\n").expect("the block ends");
    let mut names: Vec<&'static str> = body[..end]
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            line.strip_prefix("fn ")
                .or_else(|| line.strip_prefix("async fn "))
        })
        .filter_map(|rest| rest.split(['(', '<']).next())
        .collect();
    names.sort_unstable();
    names
}
