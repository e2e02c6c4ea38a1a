//! A minimal rskafka consumer (no group): BOOTSTRAP TOPIC PARTITION N; prints how many value bytes
//! it read from that partition.
use rskafka::client::ClientBuilder;
use rskafka::client::partition::UnknownTopicHandling;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let partition: i32 = args.get(3).map_or(Ok(0), |s| s.parse())?;
    let n: usize = args.get(4).map_or(Ok(1000), |s| s.parse())?;
    let client = ClientBuilder::new(vec![args.get(1).cloned().unwrap_or_else(|| "localhost:9092".into())])
        .build()
        .await?;
    let partition = client
        .partition_client(args.get(2).cloned().unwrap_or_default(), partition, UnknownTopicHandling::Retry)
        .await?;
    let (mut count, mut bytes, mut offset) = (0usize, 0usize, 0i64);
    while count < n {
        let (records, _high_watermark) = partition.fetch_records(offset, 1..1_048_576, 500).await?;
        for r in records {
            bytes += r.record.value.as_ref().map_or(0, Vec::len);
            offset = r.offset + 1;
            count += 1;
        }
    }
    println!("{count} records, {bytes} bytes");
    Ok(())
}
