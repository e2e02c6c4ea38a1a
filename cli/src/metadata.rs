//! `kafkit metadata`: brokers, topics, partitions and leaders.

use std::fmt::Write as _;
use std::time::Duration;

use crate::{Failure, MetadataArgs};

pub(crate) async fn run(args: MetadataArgs) -> Result<(), Failure> {
    // From a file, consumer-only keys are skipped; given as -X they are a usage error.
    let admin = crate::admin::Admin::new(&args.connect)?;
    let (pool, brokers, timeout) = (admin.pool(), admin.brokers(), admin.timeout());
    let topics: Vec<&str> = args.topics.iter().map(String::as_str).collect();
    let wanted = (!topics.is_empty()).then_some(&topics[..]);
    let md = match tokio::time::timeout(timeout, pool.metadata(wanted)).await {
        Ok(Ok(md)) => md,
        Ok(Err(e)) => {
            return Err(Failure::fatal(format!(
                "metadata from {brokers}: {e}{}",
                if e.kind() == kafkit::ErrorKind::Authentication {
                    ""
                } else {
                    " (is a broker running there?)"
                }
            )));
        }
        Err(_) => {
            return Err(Failure::fatal(format!(
                "no metadata from {brokers} within {timeout:?}: check --brokers and that a broker is running"
            )));
        }
    };

    let mut out = String::new();
    let _ = writeln!(out, "cluster {}", md.cluster_id().unwrap_or("(no id)"));
    let controller = md.controller_id();
    let _ = writeln!(out, "brokers:");
    for b in md.brokers() {
        let is_controller = if controller == Some(b.node_id) {
            "  (controller)"
        } else {
            ""
        };
        let rack = b
            .rack
            .as_deref()
            .map(|r| format!("  rack {r}"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {}  {}{rack}{is_controller}", b.node_id, b.addr());
    }
    let _ = writeln!(out, "topics:");
    for t in md.topics() {
        if let Some(err) = t.error {
            let _ = writeln!(out, "  {}  error {err}", t.name);
            continue;
        }
        let internal = if t.is_internal { "  (internal)" } else { "" };
        let _ = writeln!(out, "  {}  {} partitions{internal}", t.name, t.partitions.len());
        for p in &t.partitions {
            let leader = p.leader.map(|l| l.to_string()).unwrap_or_else(|| "none".into());
            let error = p.error.map(|e| format!("  error {e}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "    partition {}  leader {leader}  replicas {:?}  isr {:?}{error}",
                p.partition, p.replicas, p.isr
            );
        }
    }
    print!("{out}");
    Ok(())
}

/// `HOST:PORT[,HOST:PORT]` into its addresses; an empty list is a usage error.
pub(crate) fn split_brokers(brokers: &str) -> Result<Vec<String>, Failure> {
    let addrs: Vec<String> = brokers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if addrs.is_empty() {
        return Err(Failure::usage("--brokers needs at least one HOST:PORT"));
    }
    Ok(addrs)
}

/// A positive, finite number of seconds.
pub(crate) fn seconds(flag: &str, secs: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Failure::usage(format!("{flag} must be a positive number of seconds, not {secs}")))
}
