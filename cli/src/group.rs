//! `kafkit group describe`: a group's state, protocol and members with their assigned partitions,
//! and per partition the committed offset, high watermark and lag. The group is never joined
//! (FindCoordinator, DescribeGroups, OffsetFetch and ListOffsets only).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;

use kafkit::wire::{Assignment, DescribedGroup};

use crate::admin::{Admin, Tp};
use crate::offsets::{cell, lag};
use crate::{Failure, GroupDescribeArgs, TableFormat, json};

/// One member as printed.
struct Member {
    member_id: String,
    group_instance_id: Option<String>,
    client_id: String,
    host: String,
    /// `None` when the assignment could not be read (not the consumer protocol, or malformed).
    partitions: Option<Vec<Tp>>,
}

pub(crate) async fn describe(args: GroupDescribeArgs) -> Result<(), Failure> {
    let admin = Admin::new(&args.connect)?;
    let group = args.group.as_str();
    if group.is_empty() {
        return Err(Failure::usage("the group id must not be empty"));
    }
    let (coordinator, described, members, committed, watermarks) = admin
        .within(async {
            let (coordinator, described) = admin.describe(group).await?;
            let members = members(&described);
            let committed = admin.committed(group, None).await?;
            let mut partitions: BTreeSet<Tp> = committed.keys().cloned().collect();
            partitions.extend(
                members
                    .iter()
                    .flat_map(|m| m.partitions.iter().flatten())
                    .cloned(),
            );
            let watermarks = if partitions.is_empty() {
                BTreeMap::new()
            } else {
                admin.watermarks(&partitions).await?
            };
            Ok((coordinator, described, members, committed, watermarks))
        })
        .await?;

    let owner: BTreeMap<&Tp, &str> = members
        .iter()
        .flat_map(|m| {
            m.partitions
                .iter()
                .flatten()
                .map(move |tp| (tp, m.member_id.as_str()))
        })
        .collect();
    let mut partitions: BTreeSet<&Tp> = committed.keys().collect();
    partitions.extend(owner.keys().copied());
    let rows: Vec<Row<'_>> = partitions
        .into_iter()
        .map(|tp| {
            let committed = committed.get(tp).copied();
            let high = watermarks.get(tp).map(|(_, high)| *high);
            Row {
                tp,
                committed,
                high,
                lag: lag(high, committed),
                member: owner.get(tp).copied(),
            }
        })
        .collect();

    let coordinator_addr = admin.broker_addr(coordinator);
    let mut out = Vec::new();
    match args.format {
        TableFormat::Json => write_json(&mut out, &described, coordinator, &members, &rows),
        TableFormat::Text => {
            let text = write_text(
                &described,
                coordinator,
                coordinator_addr.as_deref(),
                &members,
                &rows,
            );
            out.extend_from_slice(text.as_bytes());
        }
    }
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not an error worth reporting.
    let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
    Ok(())
}

/// One partition the group has committed or been assigned.
struct Row<'a> {
    tp: &'a Tp,
    committed: Option<i64>,
    high: Option<i64>,
    lag: Option<i64>,
    member: Option<&'a str>,
}

/// The members, with assignments decoded (consumer protocol) where possible.
fn members(described: &DescribedGroup) -> Vec<Member> {
    let consumer = described.protocol_type.as_str() == "consumer";
    described
        .members
        .iter()
        .map(|m| {
            let partitions = if consumer {
                match Assignment::decode(m.member_assignment.clone()) {
                    Ok(a) => {
                        let mut tps: Vec<Tp> = a
                            .partitions
                            .iter()
                            .flat_map(|tp| tp.partitions.iter().map(|p| (tp.topic.to_string(), *p)))
                            .collect();
                        tps.sort();
                        tps.dedup();
                        Some(tps)
                    }
                    Err(e) => {
                        eprintln!(
                            "kafkit: warning: the assignment of member {} cannot be read: {e}",
                            m.member_id
                        );
                        None
                    }
                }
            } else {
                None
            };
            Member {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(ToString::to_string),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                partitions,
            }
        })
        .collect()
}

/// `topic:0,1 other:3`.
fn partition_list(tps: &[Tp]) -> String {
    let mut by_topic: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (t, p) in tps {
        by_topic.entry(t.as_str()).or_default().push(p.to_string());
    }
    if by_topic.is_empty() {
        return "(none)".to_owned();
    }
    by_topic
        .iter()
        .map(|(t, ps)| format!("{t}:{}", ps.join(",")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn write_text(
    described: &DescribedGroup,
    coordinator: i32,
    coordinator_addr: Option<&str>,
    members: &[Member],
    rows: &[Row<'_>],
) -> String {
    let mut out = String::new();
    let coordinator = match coordinator_addr {
        Some(addr) => format!("{coordinator} ({addr})"),
        None => coordinator.to_string(),
    };
    let summary = [
        ("group", described.group_id.to_string()),
        ("state", described.group_state.to_string()),
        ("protocol type", or_dash(&described.protocol_type).to_owned()),
        ("assignor", or_dash(&described.protocol_data).to_owned()),
        ("coordinator", coordinator),
    ];
    for (k, v) in summary {
        out.push_str(&format!("{k:<14}{v}\n"));
    }
    out.push('\n');
    if members.is_empty() {
        out.push_str(&format!(
            "members: none (the group is {}: no consumer is running in it)\n",
            described.group_state
        ));
    } else {
        out.push_str(&format!("members: {}\n", members.len()));
        let table: Vec<Vec<String>> = members
            .iter()
            .map(|m| {
                vec![
                    m.member_id.clone(),
                    m.group_instance_id.clone().unwrap_or_else(|| "-".to_owned()),
                    m.client_id.clone(),
                    m.host.clone(),
                    m.partitions
                        .as_deref()
                        .map_or_else(|| "(unknown)".to_owned(), partition_list),
                ]
            })
            .collect();
        out.push_str(&crate::table::render(
            &["MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "PARTITIONS"],
            &table,
        ));
    }
    out.push('\n');
    if rows.is_empty() {
        out.push_str("offsets: none committed, none assigned\n");
    } else {
        out.push_str("offsets:\n");
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.tp.0.clone(),
                    r.tp.1.to_string(),
                    cell(r.committed),
                    cell(r.high),
                    cell(r.lag),
                    r.member.unwrap_or("-").to_owned(),
                ]
            })
            .collect();
        out.push_str(&crate::table::render(
            &["TOPIC", "PARTITION", "COMMITTED", "HIGH", "LAG", "MEMBER-ID"],
            &table,
        ));
    }
    out
}

/// One JSON object on one line.
fn write_json(
    out: &mut Vec<u8>,
    described: &DescribedGroup,
    coordinator: i32,
    members: &[Member],
    rows: &[Row<'_>],
) {
    let empty_as_null = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    out.extend_from_slice(b"{\"group\":");
    json::string(out, &described.group_id);
    out.extend_from_slice(b",\"state\":");
    json::string(out, &described.group_state);
    out.extend_from_slice(b",\"protocol_type\":");
    json::opt_string(out, empty_as_null(&described.protocol_type).as_deref());
    out.extend_from_slice(b",\"protocol\":");
    json::opt_string(out, empty_as_null(&described.protocol_data).as_deref());
    out.extend_from_slice(format!(",\"coordinator\":{coordinator},\"members\":[").as_bytes());
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"member_id\":");
        json::string(out, &m.member_id);
        out.extend_from_slice(b",\"group_instance_id\":");
        json::opt_string(out, m.group_instance_id.as_deref());
        out.extend_from_slice(b",\"client_id\":");
        json::string(out, &m.client_id);
        out.extend_from_slice(b",\"host\":");
        json::string(out, &m.host);
        out.extend_from_slice(b",\"partitions\":");
        match &m.partitions {
            None => out.extend_from_slice(b"null"),
            Some(tps) => {
                out.push(b'[');
                for (j, (t, p)) in tps.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"topic\":");
                    json::string(out, t);
                    out.extend_from_slice(format!(",\"partition\":{p}}}").as_bytes());
                }
                out.push(b']');
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"offsets\":[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"topic\":");
        json::string(out, &r.tp.0);
        out.extend_from_slice(
            format!(
                ",\"partition\":{},\"committed\":{},\"high\":{},\"lag\":{},\"member_id\":",
                r.tp.1,
                json::opt(r.committed),
                json::opt(r.high),
                json::opt(r.lag)
            )
            .as_bytes(),
        );
        json::opt_string(out, r.member);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}\n");
}
