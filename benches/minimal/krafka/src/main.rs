//! A minimal krafka consumer: BOOTSTRAP TOPIC GROUP N; prints how many value bytes it read.
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(4).map_or(Ok(1000), |s| s.parse())?;
    let kafka = krafka::Kafka::builder(args.get(1).cloned().unwrap_or_else(|| "localhost:9092".into()))
        .connect()
        .await?;
    let consumer = kafka
        .consumer(args.get(3).cloned().unwrap_or_default())
        .auto_offset_reset(krafka::consumer::AutoOffsetReset::Earliest)
        .build()
        .await?;
    consumer.subscribe([args.get(2).cloned().unwrap_or_default()]).await?;
    let (mut count, mut bytes) = (0usize, 0usize);
    while count < n {
        for record in consumer.poll(Duration::from_secs(1)).await? {
            bytes += record.value.as_ref().map_or(0, |v| v.len());
            count += 1;
        }
    }
    println!("{count} records, {bytes} bytes");
    consumer.close().await?;
    Ok(())
}
