//! The Cluster client sends a pipeline only when all its keys share one hash slot, and it
//! does not list the primaries: so for a batch that spans slots, and for a listing that must
//! reach every primary, the topology is read here from `CLUSTER SLOTS` and keys are grouped
//! by the primary that owns their slot, leaving whatever was redirected to the client's own
//! routing.

use std::collections::BTreeMap;

use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::SingleNodeRoutingInfo;
use redis::{Cmd, Pipeline, Value};

use super::RedisBackend;
use super::errors::{map_err, task_failed, unexpected};
use crate::error::{BackendError, BackendErrorKind};

impl RedisBackend {
    /// Sends one single-key command per key as one pipeline per primary, concurrently: keys
    /// are grouped by the node that `CLUSTER SLOTS` says owns their slot (the keys of one
    /// scan page all live on one node, so such a page normally costs one pipeline after the
    /// `CLUSTER SLOTS` query). With the client built without retries, a pipeline in which
    /// any command is redirected (`MOVED`, `ASK`: the topology changed meanwhile) comes
    /// back as one error; its keys are returned by index for the caller to send one by one
    /// through the client's own routing, as are keys of a slot no primary serves. The
    /// other commands of such a pipeline may have run, so callers only use this for reads
    /// and for compare-and-swaps, which change nothing but the exact value they expect.
    pub(super) async fn cluster_pipelines(
        &self,
        conn: &ClusterConnection,
        todo: Vec<(usize, &str, Cmd)>,
    ) -> Result<(Vec<(usize, Value)>, Vec<usize>), BackendError> {
        let ranges = self.read(|| self.slot_ranges()).await?;
        let mut groups: BTreeMap<(String, u16), (Vec<usize>, Pipeline)> = BTreeMap::new();
        let mut rest = Vec::new();
        for (i, key, cmd) in todo {
            let slot = key_slot(key.as_bytes());
            match ranges
                .iter()
                .find(|(lo, hi, _, _)| (*lo..=*hi).contains(&slot))
            {
                Some((_, _, host, port)) => {
                    let (indices, pipe) =
                        groups.entry((host.clone(), *port)).or_insert_with(|| {
                            let mut pipe = redis::pipe();
                            pipe.ignore_errors();
                            (Vec::new(), pipe)
                        });
                    indices.push(i);
                    pipe.add_command(cmd);
                }
                None => rest.push(i),
            }
        }
        let mut set = tokio::task::JoinSet::new();
        for ((host, port), (indices, pipe)) in groups {
            let mut conn = conn.clone();
            set.spawn(async move {
                let count = indices.len();
                let routing = SingleNodeRoutingInfo::ByAddress { host, port };
                let replies = conn.route_pipeline(pipe, 0, count, routing).await;
                (indices, replies)
            });
        }
        let mut answered = Vec::new();
        while let Some(done) = set.join_next().await {
            let (indices, replies) = done.map_err(task_failed)?;
            match replies {
                Ok(replies) if replies.len() == indices.len() => {
                    answered.extend(indices.into_iter().zip(replies));
                }
                Ok(_) => return Err(unexpected("pipeline", &Value::Nil)),
                Err(e) if matches!(e.code(), Some("MOVED" | "ASK")) => rest.extend(indices),
                Err(e) => return Err(map_err(e)),
            }
        }
        Ok((answered, rest))
    }

    /// The primaries of the Cluster as `host:port`, sorted, from `CLUSTER SLOTS` (an empty
    /// map or a primary without a routable endpoint is an error there: a listing must not
    /// pass over a node in silence).
    pub(super) async fn primaries(&self) -> Result<Vec<String>, BackendError> {
        let mut nodes: Vec<String> = self
            .slot_ranges()
            .await?
            .into_iter()
            .map(|(_, _, host, port)| format!("{host}:{port}"))
            .collect();
        nodes.sort();
        nodes.dedup();
        Ok(nodes)
    }

    /// The slot ranges of the Cluster and the primary serving each, from `CLUSTER SLOTS`.
    async fn slot_ranges(&self) -> Result<Vec<(u16, u16, String, u16)>, BackendError> {
        let slots: Vec<Value> = self
            .query(&redis::cmd("CLUSTER").arg("SLOTS").clone())
            .await?;
        let mut nodes = Vec::new();
        for range in slots {
            // [start, end, [host, port, id, ...], replicas...]
            let Value::Array(items) = range else {
                return Err(unexpected("CLUSTER SLOTS", &range));
            };
            let bound = |i: usize| match items.get(i) {
                Some(Value::Int(n)) => u16::try_from(*n).ok(),
                _ => None,
            };
            let (Some(lo), Some(hi)) = (bound(0), bound(1)) else {
                return Err(unexpected("CLUSTER SLOTS", &Value::Nil));
            };
            let Some(Value::Array(primary)) = items.get(2) else {
                return Err(unexpected("CLUSTER SLOTS", &Value::Nil));
            };
            let host = match primary.first() {
                Some(Value::BulkString(h)) => String::from_utf8_lossy(h).into_owned(),
                _ => String::new(),
            };
            let port = match primary.get(1) {
                Some(Value::Int(p)) => u16::try_from(*p).ok(),
                _ => None,
            };
            match port {
                Some(port) if !host.is_empty() && host != "?" => {
                    nodes.push((lo, hi, host, port));
                }
                _ => {
                    return Err(BackendError::from_kind(BackendErrorKind::Server)
                        .with_detail("a cluster primary has no routable endpoint"));
                }
            }
        }
        if nodes.is_empty() {
            return Err(BackendError::from_kind(BackendErrorKind::Server)
                .with_detail("the cluster reports no slots"));
        }
        Ok(nodes)
    }
}

/// The Cluster hash slot of a key: CRC-16/XMODEM of the key, or of its hash tag (the text
/// between the first `{` and the next `}`, when not empty), modulo 16384.
fn key_slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let after = key.get(open + 1..)?;
            let close = after.iter().position(|&b| b == b'}')?;
            after.get(..close).filter(|tag| !tag.is_empty())
        })
        .unwrap_or(key);
    let mut crc: u16 = 0;
    for &byte in tagged {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16_384
}

#[cfg(test)]
mod tests {
    use super::key_slot;

    /// Expected values from `CLUSTER KEYSLOT` on redis-server 7.0.15.
    #[test]
    fn key_slots_match_the_server() {
        for (key, slot) in [
            ("123456789", 12739),
            ("foo", 12182),
            ("bar", 5061),
            ("{user1000}.following", 3443),
            ("foo{}{bar}", 8363),
            ("foo{{bar}}zap", 4015),
            (
                "sess:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
                10986,
            ),
        ] {
            assert_eq!(key_slot(key.as_bytes()), slot, "{key}");
        }
    }
}
