//! `kafkit offsets`: per partition of a topic the low and high watermarks and, with `--group`, the
//! group's committed offset and lag. The group is never joined (OffsetFetch only).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;

use crate::admin::Admin;
use crate::{Failure, OffsetsArgs, TableFormat, json};

pub(crate) async fn run(args: OffsetsArgs) -> Result<(), Failure> {
    let admin = Admin::new(&args.connect)?;
    let topic = args.topic.as_str();
    let group = args.group.as_deref();
    let (partitions, watermarks, committed) = admin
        .within(async {
            let partitions = admin.partitions(topic).await?;
            let tps: BTreeSet<(String, i32)> = partitions.iter().map(|p| (topic.to_owned(), *p)).collect();
            let watermarks = admin.watermarks(&tps).await?;
            let committed = match group {
                Some(g) => {
                    let wanted = BTreeMap::from([(topic.to_owned(), partitions.clone())]);
                    Some(admin.committed(g, Some(&wanted)).await?)
                }
                None => None,
            };
            Ok((partitions, watermarks, committed))
        })
        .await?;

    let rows: Vec<Row> = partitions
        .iter()
        .map(|&p| {
            let key = (topic.to_owned(), p);
            let (low, high) = watermarks.get(&key).copied().unzip();
            Row {
                partition: p,
                low,
                high,
                committed: committed.as_ref().and_then(|c| c.get(&key).copied()),
            }
        })
        .collect();
    let mut out = Vec::new();
    match args.format {
        TableFormat::Json => {
            for row in &rows {
                out.extend_from_slice(b"{\"topic\":");
                json::string(&mut out, topic);
                out.extend_from_slice(
                    format!(
                        ",\"partition\":{},\"low\":{},\"high\":{}",
                        row.partition,
                        json::opt(row.low),
                        json::opt(row.high)
                    )
                    .as_bytes(),
                );
                if let Some(g) = group {
                    out.extend_from_slice(b",\"group\":");
                    json::string(&mut out, g);
                    out.extend_from_slice(
                        format!(
                            ",\"committed\":{},\"lag\":{}",
                            json::opt(row.committed),
                            json::opt(row.lag())
                        )
                        .as_bytes(),
                    );
                }
                out.extend_from_slice(b"}\n");
            }
        }
        TableFormat::Text => {
            let mut header = vec!["TOPIC", "PARTITION", "LOW", "HIGH"];
            if group.is_some() {
                header.extend(["COMMITTED", "LAG"]);
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    let mut cells = vec![
                        topic.to_owned(),
                        row.partition.to_string(),
                        cell(row.low),
                        cell(row.high),
                    ];
                    if group.is_some() {
                        cells.extend([cell(row.committed), cell(row.lag())]);
                    }
                    cells
                })
                .collect();
            out.extend_from_slice(crate::table::render(&header, &table).as_bytes());
        }
    }
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not an error worth reporting.
    let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
    Ok(())
}

struct Row {
    partition: i32,
    low: Option<i64>,
    high: Option<i64>,
    committed: Option<i64>,
}

impl Row {
    fn lag(&self) -> Option<i64> {
        lag(self.high, self.committed)
    }
}

/// High watermark minus the committed offset, when both are known.
pub(crate) fn lag(high: Option<i64>, committed: Option<i64>) -> Option<i64> {
    Some(high?.saturating_sub(committed?))
}

/// A number, or `-` when there is none.
pub(crate) fn cell(n: Option<i64>) -> String {
    n.map_or_else(|| "-".to_owned(), |n| n.to_string())
}
