//! A listing has to walk every primary of a Cluster and resume where the last page stopped,
//! across calls and failovers, through one opaque cursor; that cursor format, and the
//! escaping that makes a prefix match literally, are the listing's own business.

use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use super::deadline::deadline_op;
use super::errors::{map_err, map_parse};
use super::{Conn, RedisBackend};
use crate::backend::{ScanCursor, ScanPage};
use crate::error::{BackendError, BackendErrorKind};

impl RedisBackend {
    /// `scan`: one `SCAN` page, from the standalone server or from one primary of a Cluster.
    pub(super) async fn scan_page(
        &self,
        prefix: &str,
        cursor: ScanCursor,
        count: usize,
    ) -> Result<ScanPage, BackendError> {
        let pattern = format!("{}*", glob_escape(prefix));
        let count = count.max(1);
        match &self.conn {
            Conn::Standalone(_) => {
                let start = if cursor.is_start() {
                    0
                } else {
                    cursor.as_str().parse().map_err(|_| bad_cursor())?
                };
                let (next, keys) = deadline_op(
                    self.response_timeout,
                    self.read(|| self.scan_node(None, start, &pattern, count)),
                )
                .await?;
                let next = (next != 0).then(|| ScanCursor::new(next.to_string()));
                Ok(ScanPage { keys, next })
            }
            Conn::Cluster(_) => {
                // Cursor: "host:port#cursor" of the primary being scanned. Primaries are
                // visited in sorted order. If that primary is gone (a failover), the scan
                // goes on from the next one in order; like SCAN itself across changes, it
                // may then miss or repeat keys, and it never goes back to a primary it has
                // passed.
                let page = async {
                    let primaries = self.read(|| self.primaries()).await?;
                    let (index, start) = if cursor.is_start() {
                        (0, 0)
                    } else {
                        let (node, at) = cursor.as_str().rsplit_once('#').ok_or_else(bad_cursor)?;
                        let at: u64 = at.parse().map_err(|_| bad_cursor())?;
                        match primaries.iter().position(|p| p == node) {
                            Some(i) => (i, at),
                            None => (primaries.partition_point(|p| p.as_str() < node), 0),
                        }
                    };
                    let Some(node) = primaries.get(index) else {
                        return Ok(ScanPage::default());
                    };
                    let (next, keys) = self
                        .read(|| self.scan_node(Some(node), start, &pattern, count))
                        .await?;
                    let next = if next != 0 {
                        Some(ScanCursor::new(format!("{node}#{next}")))
                    } else {
                        primaries
                            .get(index + 1)
                            .map(|p| ScanCursor::new(format!("{p}#0")))
                    };
                    Ok(ScanPage { keys, next })
                };
                deadline_op(self.response_timeout, page).await
            }
        }
    }

    async fn scan_node(
        &self,
        node: Option<&str>,
        cursor: u64,
        pattern: &str,
        count: usize,
    ) -> Result<(u64, Vec<String>), BackendError> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count);
        let (next, keys): (u64, Vec<Vec<u8>>) = match (&self.conn, node) {
            (Conn::Cluster(c), Some(node)) => {
                let (host, port) = node
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
                    .ok_or_else(bad_cursor)?;
                let routing =
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
                let value = c
                    .clone()
                    .route_command(cmd, routing)
                    .await
                    .map_err(map_err)?;
                redis::from_redis_value(value).map_err(map_parse)?
            }
            _ => self.query(&cmd).await?,
        };
        // Keys that are not UTF-8 were not written by a store; skip them.
        let keys = keys
            .into_iter()
            .filter_map(|k| String::from_utf8(k).ok())
            .collect();
        Ok((next, keys))
    }
}

/// Escapes the glob characters of `MATCH` patterns so a prefix matches literally.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn bad_cursor() -> BackendError {
    BackendError::from_kind(BackendErrorKind::Other).with_detail("malformed scan cursor")
}
