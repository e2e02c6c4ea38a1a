//! A minimal rdkafka consumer: BOOTSTRAP TOPIC GROUP N; prints how many value bytes it read.
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(4).map_or(Ok(1000), |s| s.parse())?;
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", args.get(1).map_or("localhost:9092", String::as_str))
        .set("group.id", args.get(3).cloned().unwrap_or_default())
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[args.get(2).map_or("", String::as_str)])?;
    let (mut count, mut bytes) = (0u64, 0usize);
    while count < n {
        let message = consumer.recv().await?;
        bytes += message.payload().map_or(0, <[u8]>::len);
        count += 1;
    }
    println!("{count} records, {bytes} bytes");
    Ok(())
}
