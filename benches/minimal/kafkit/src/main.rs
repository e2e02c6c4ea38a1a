//! A minimal kafkit consumer: BOOTSTRAP TOPIC GROUP N; prints how many value bytes it read.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(4).map_or(Ok(1000), |s| s.parse())?;
    let consumer = kafkit::Consumer::builder()
        .bootstrap(args.get(1).map_or("localhost:9092", String::as_str))
        .subscribe([args.get(2).cloned().unwrap_or_default()])
        .group_id(args.get(3).cloned().unwrap_or_default())
        .offset_reset(kafkit::OffsetReset::Earliest)
        .build()?;
    let mut records = consumer.records()?;
    let (mut count, mut bytes) = (0u64, 0usize);
    while count < n {
        let Some(record) = records.next().await else { break };
        bytes += record?.value().map_or(0, <[u8]>::len);
        count += 1;
    }
    println!("{count} records, {bytes} bytes");
    drop(records);
    consumer.close().await?;
    Ok(())
}
