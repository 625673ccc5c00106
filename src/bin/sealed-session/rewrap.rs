//! `rewrap`: re-seal under the primary key the envelopes under older keys, in place in
//! Redis, with a report of what was done and what was left alone.

use std::time::Duration;

use sealed_session::rotation::{self, RewrapOptions, RewrapReport};
use sealed_session::{FilePermissions, KeyringConfig, KeyringSealer};
use serde_json::json;

use crate::cli::Rewrap;
use crate::connection::connect;
use crate::exit::Failure;
use crate::stats::{census_json, progress_bar};

fn report_json(report: &RewrapReport, dry_run: bool, primary: u32) -> serde_json::Value {
    json!({
        "dry_run": dry_run,
        "primary": primary,
        "found": census_json(&report.found),
        "skipped": report.skipped,
        "too_large": report.too_large,
        "resealed": report.resealed,
        "resealed_without_expiry": report.resealed_without_expiry,
        "changed_meanwhile": report.changed_meanwhile,
        "refused": report.refused,
    })
}

pub(crate) async fn rewrap(args: &Rewrap, files: FilePermissions) -> Result<(), Failure> {
    let config = KeyringConfig::read_with(&args.config, files)?;
    let keyring = config.resolve()?;
    let primary = keyring.primary_id();
    let sealer = KeyringSealer::new(keyring);
    let backend = connect(&args.redis).await?;
    let bar = progress_bar(args.no_progress, "scanning");
    let options = RewrapOptions::default()
        .batch(args.batch)
        .dry_run(args.dry_run)
        .max_envelope_len(args.max_envelope_len)
        .absolute_lifetime(args.absolute_lifetime.map(Duration::from_secs));
    let verb = if args.dry_run {
        "to re-seal"
    } else {
        "re-sealed"
    };
    let started = std::time::Instant::now();
    let report = rotation::rewrap(&backend, &sealer, &args.prefix, &options, |r| {
        bar.set_message(format!("{} scanned, {} {verb}", r.scanned(), r.resealed));
    })
    .await;
    bar.finish_and_clear();
    let report = report?;
    if args.json {
        say!("{}", report_json(&report, args.dry_run, primary));
        return Ok(());
    }
    let secs = started.elapsed().as_secs_f64();
    say!(
        "prefix {:?}: {} values scanned in {secs:.1} s{}",
        args.prefix,
        report.scanned(),
        if args.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    say!(
        "  under primary key {primary}: {}",
        report.found.count(primary)
    );
    say!("  {verb}: {}", report.resealed);
    say!(
        "  changed meanwhile (left alone): {}",
        report.changed_meanwhile
    );
    for (kind, n) in &report.refused {
        say!("  refused ({kind}, left alone): {n}");
    }
    let others = report.skipped.saturating_sub(report.found.count(primary));
    if others > 0 {
        say!(
            "  under retired, unknown or newer keys (left alone): {others}; see `stats` for the ids"
        );
    }
    if report.too_large > 0 {
        say!(
            "  larger than --max-envelope-len (left alone): {}",
            report.too_large
        );
    }
    say!("  not envelopes: {}", report.found.not_envelopes);
    if report.resealed_without_expiry > 0 && args.absolute_lifetime.is_none() {
        say!(
            "  {} {verb} without an absolute expiry, as they were stored: if the store has an \
             absolute lifetime, rerun with --absolute-lifetime SECONDS (the store also sets one \
             when it next loads each of them)",
            report.resealed_without_expiry
        );
    }
    Ok(())
}
