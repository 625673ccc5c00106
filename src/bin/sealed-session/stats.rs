//! `stats`: count the envelopes under a prefix by key id (headers only, no key); the
//! progress bar and census JSON here serve `rewrap` too.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sealed_session::rotation::{self, Census, RewrapOptions};
use serde_json::json;

use crate::cli::Stats;
use crate::connection::connect;
use crate::exit::{Exit, Failure};

pub(crate) fn progress_bar(hidden: bool, what: &'static str) -> ProgressBar {
    if hidden || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar.set_message(what);
    bar
}

pub(crate) fn census_json(census: &Census) -> serde_json::Value {
    let by_key: serde_json::Map<String, serde_json::Value> = census
        .by_key_id
        .iter()
        .map(|(id, n)| (id.to_string(), json!(n)))
        .collect();
    json!({
        "total": census.total(),
        "by_key_id": by_key,
        "other_ids": census.other_ids,
        "not_envelopes": census.not_envelopes,
        "owner_indexes": census.owner_indexes,
    })
}

pub(crate) async fn stats(args: &Stats) -> Result<(), Failure> {
    let backend = connect(&args.redis).await?;
    let bar = progress_bar(args.no_progress, "scanning");
    let options = RewrapOptions::default().batch(args.batch);
    let census = rotation::census(&backend, &args.prefix, &options, |c| {
        bar.set_message(format!("{} values scanned", c.total()));
    })
    .await;
    bar.finish_and_clear();
    let census = census?;
    if args.json {
        say!("{}", census_json(&census));
    } else {
        say!("prefix {:?}: {} values", args.prefix, census.total());
        for (id, n) in &census.by_key_id {
            say!("  key {id:>10}: {n}");
        }
        if census.other_ids > 0 {
            say!(
                "  more distinct ids than {} (planted headers?): {}",
                Census::MAX_IDS,
                census.other_ids
            );
        }
        say!("  not envelopes: {}", census.not_envelopes);
        if census.owner_indexes > 0 {
            say!(
                "  owner indexes (not envelopes, not read): {}",
                census.owner_indexes
            );
        }
    }
    let left: Vec<String> = args
        .require_none
        .iter()
        .filter(|id| census.count(**id) > 0)
        .map(|id| format!("{} under key {id}", census.count(*id)))
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::Check,
            format!("envelopes remain: {}", left.join(", ")),
        ))
    }
}
