//! `metal3ctl delete`: delete honouring finalizers, optionally waiting.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use metal3_provisioning::store::{DeleteOutcome, ObjectKey, Store, StoreError};
use serde_json::Value;

use super::{fail, resolve_kind, StoreOpts, VerbResult};

/// Arguments of `metal3ctl delete`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl delete bmh host-0\n  \
    metal3ctl delete bmh host-0 --wait          # wait up to 60s for the finalizers\n  \
    metal3ctl delete secret host-0-bmc --wait=5m")]
pub struct DeleteArgs {
    /// Kind: baremetalhost (bmh), secret, hardwaredata (hd), ...
    kind: String,
    /// Object name.
    name: String,
    /// Wait until the object is gone (finalizers removed; for a BareMetalHost the engine runs for it); the default timeout is 60s.
    #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, require_equals = true,
          default_missing_value = "60s", value_parser = parse_duration)]
    wait: Option<Duration>,
    #[command(flatten)]
    opts: StoreOpts,
}

/// Parses `30s`, `5m`, `1h`, `500ms` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 30s, 5m, 1h"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("invalid duration {s:?}: expected e.g. 30s, 5m, 1h")),
    }
}

/// Runs `delete`.
pub fn run(args: DeleteArgs) -> VerbResult {
    let info = resolve_kind(&args.kind)?;
    let store = args.opts.open()?;
    let key = ObjectKey::new(info.kind, &args.opts.namespace, &args.name);
    let what = format!("{} {:?}", info.resource(), args.name);
    if info.ext.is_some() {
        let obj = store.get(&key)?;
        if !info.owns(&obj) {
            return Err(StoreError::NotFound { key }.into());
        }
    }
    if let Some(delete) = info.ext.and_then(|e| e.delete) {
        // The kind's controller deletes (e.g. releasing an address) at once.
        println!("{}", delete(&store, &key)?);
        return Ok(ExitCode::SUCCESS);
    }
    match store.delete(&key)? {
        DeleteOutcome::Deleted(_) => {
            println!("{what} deleted");
            return Ok(ExitCode::SUCCESS);
        }
        DeleteOutcome::Pending(obj) => {
            println!(
                "{what} marked for deletion (finalizers: {})",
                finalizers(&obj)
            );
        }
    }
    let Some(timeout) = args.wait else {
        return Ok(ExitCode::SUCCESS);
    };
    if info.kind == "BareMetalHost" {
        // The host's finalizer is the engine's: run it for this host.
        let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
        let settled = crate::host_cmd::settle(store.clone(), std::slice::from_ref(&key), timeout);
        let code = match settled {
            Ok(code) => code,
            Err(e) => {
                let left = store.get(&key).map(|o| finalizers(&o)).unwrap_or_default();
                return Err(fail(format!(
                    "{key}: not deleted (finalizers: {left}): {e}"
                )));
            }
        };
        return match store.get(&key) {
            Err(e) if e.is_not_found() => {
                println!("{what} deleted");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e.into()),
            Ok(obj) => {
                if code == ExitCode::SUCCESS {
                    Err(fail(format!(
                        "{key}: still present (finalizers: {})",
                        finalizers(&obj)
                    )))
                } else {
                    Ok(code)
                }
            }
        };
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let waited = runtime.block_on(async {
        tokio::time::timeout(timeout, async {
            loop {
                // Read the revision first so that a change between the
                // check and the wait is not missed.
                let revision = store.revision()?;
                match store.get(&key) {
                    Err(e) if e.is_not_found() => return Ok(()),
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
                store.wait_for_change(revision).await?;
            }
        })
        .await
    });
    match waited {
        Ok(Ok(())) => {
            println!("{what} deleted");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(e)) => Err(e.into()),
        Err(_) => {
            let left = store.get(&key).map(|o| finalizers(&o)).unwrap_or_default();
            Err(fail(format!(
                "{key}: timed out after {timeout:?} waiting for deletion (finalizers: {left})"
            )))
        }
    }
}

fn finalizers(obj: &Value) -> String {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
    }
}
