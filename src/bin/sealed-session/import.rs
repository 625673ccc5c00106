//! `import`: the sessions of an Express application sealed ahead of the switch, so that its
//! users' cookies keep working (see `docs/MIGRATION.md`).

use std::time::{Duration, Instant};

use sealed_session::migrate::{
    ConnectRedis, ConnectRedisCrypto, ImportOptions, ImportReport, Importer, LegacySource,
};
use sealed_session::{FilePermissions, Json, KeyringConfig, RedisBackend, StoreBuilder};
use serde_json::{Map, Value, json};

use crate::cli::{Import, LegacyStore};
use crate::connection::connect;
use crate::exit::{Exit, Failure};
use crate::keys::{SecretFlags, read_secret};
use crate::stats::progress_bar;

fn report_json(report: &ImportReport, args: &Import, seconds: f64) -> Value {
    json!({
        "dry_run": args.dry_run,
        "from": from_name(args.from),
        "scanned": report.scanned,
        "converted": report.converted,
        "already_migrated": report.already_migrated,
        "refused": report.refused,
        "tampered": report.tampered,
        "skipped": report.skipped,
        "seconds": seconds,
    })
}

fn from_name(from: LegacyStore) -> &'static str {
    match from {
        LegacyStore::ConnectRedis => "connect-redis",
        LegacyStore::ConnectRedisCrypto => "connect-redis-crypto",
    }
}

pub(crate) async fn import(args: &Import, files: FilePermissions) -> Result<(), Failure> {
    let config = KeyringConfig::read_with(&args.config, files)?;
    let keyring = config.resolve()?;
    let primary = keyring.primary_id();
    let backend = connect(&args.redis).await?;
    let legacy = match &args.legacy_url {
        Some(url) => RedisBackend::connect(url).await?,
        None => backend.clone(),
    };
    // The imported entries are JSON whatever the application's codec; the store's codec
    // is never used by the import.
    let store: sealed_session::Store<Map<String, Value>, RedisBackend> =
        StoreBuilder::with_codec(backend, Json)
            .keyring(keyring)
            .prefix(args.prefix.clone())
            .absolute_lifetime(Duration::from_secs(args.absolute_lifetime))
            .max_envelope_len(args.max_envelope_len)
            .build()?;
    let source = match args.from {
        LegacyStore::ConnectRedis => {
            if args.legacy_secret_env.is_some() || args.legacy_secret_file.is_some() {
                return Err(Failure::new(
                    Exit::Usage,
                    "connect-redis records are not encrypted: --legacy-secret-* is for \
                     --from connect-redis-crypto",
                ));
            }
            LegacySource::new(legacy, ConnectRedis)
        }
        LegacyStore::ConnectRedisCrypto => {
            if let Some(options) = &args.legacy_options {
                let options: Map<String, Value> = serde_json::from_str(options).map_err(|_| {
                    Failure::new(Exit::Usage, "--legacy-options must be a JSON object")
                })?;
                if options.contains_key("secret") {
                    return Err(Failure::new(
                        Exit::Usage,
                        "leave `secret` out of --legacy-options (the command line is visible \
                         to other users); give it with --legacy-secret-env or \
                         --legacy-secret-file",
                    ));
                }
                if let Some(prefix) = options.get("prefix").and_then(Value::as_str)
                    && prefix != args.legacy_prefix
                {
                    return Err(Failure::new(
                        Exit::Usage,
                        "the store's `prefix` option differs from --legacy-prefix",
                    ));
                }
                ConnectRedisCrypto::check_options(&options)
                    .map_err(|e| Failure::new(Exit::Usage, e.to_string()))?;
            }
            let secret = read_secret(
                args.legacy_secret_env.as_ref(),
                args.legacy_secret_file.as_ref(),
                &SecretFlags {
                    env_flag: "--legacy-secret-env",
                    file_flag: "--legacy-secret-file",
                    what: "connect-redis-crypto secret",
                },
                files,
            )?;
            LegacySource::new(legacy, ConnectRedisCrypto::new(&*secret)?)
        }
    }
    .with_prefix(args.legacy_prefix.clone())
    .max_record_len(args.max_record_len);

    let bar = progress_bar(args.no_progress, "scanning");
    let mut options = ImportOptions::default();
    options.dry_run = args.dry_run;
    options.batch = args.batch;
    options.rolling = args.rolling;
    let started = Instant::now();
    let verb = if args.dry_run {
        "to convert"
    } else {
        "converted"
    };
    let report = Importer::new(&store, &source)
        .import_all(&options, |r| {
            bar.set_message(format!(
                "{} scanned, {} {verb}, {} refused",
                r.scanned, r.converted, r.refused
            ));
        })
        .await;
    bar.finish_and_clear();
    let report = report?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        say!("{}", report_json(&report, args, seconds));
    } else {
        let rate = if seconds > 0.0 {
            report.scanned as f64 / seconds
        } else {
            0.0
        };
        say!(
            "{} {:?} into {:?} under primary key {primary}: {} keys scanned in {seconds:.1} s \
             ({rate:.0}/s){}",
            from_name(args.from),
            args.legacy_prefix,
            args.prefix,
            report.scanned,
            if args.dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            }
        );
        say!("  {verb}: {}", report.converted);
        say!("  already migrated: {}", report.already_migrated);
        say!(
            "  refused (left in place): {}{}",
            report.refused,
            if report.tampered > 0 {
                format!(
                    ", of which {} failed their integrity check (changed, or sealed under \
                     another secret)",
                    report.tampered
                )
            } else {
                String::new()
            }
        );
        say!(
            "  skipped (expired, gone, or this store's own keys): {}",
            report.skipped
        );
    }
    if report.refused > 0 {
        return Err(Failure::new(
            Exit::Check,
            format!(
                "{} legacy records were refused and left in place; their users will start a \
                 new session",
                report.refused
            ),
        ));
    }
    Ok(())
}
