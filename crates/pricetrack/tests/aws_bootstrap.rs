//! `pricetrack aws bootstrap` (feature `aws`) against moto_server: the resources exist
//! afterwards, the output is one line a shell can `eval`, and a second run changes nothing.
#![cfg(feature = "aws")]

use std::process::{Command, Output};

use pricetrack_aws::aws_sdk_sqs::types::QueueAttributeName;
use pricetrack_aws::testing::{MotoServer, unique_name};
use pricetrack_aws::{aws_sdk_dynamodb, aws_sdk_sns, aws_sdk_sqs, schema};

fn bootstrap(moto: &MotoServer, prefix: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pricetrack"))
        .args(["aws", "bootstrap", "--prefix", prefix])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run pricetrack aws bootstrap")
}

/// Evaluates `exports` in sh and reads the three variables back.
fn eval_in_shell(exports: &str) -> [String; 3] {
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            r#"eval "$1" && printf '%s\n%s\n%s\n' "$PRICETRACK_TABLE" "$PRICETRACK_QUEUE_URL" "$PRICETRACK_TOPIC_ARN""#,
        )
        .arg("sh")
        .arg(exports)
        .env_clear()
        .output()
        .expect("run sh");
    assert!(out.status.success(), "sh could not eval the output: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = text.lines().map(str::to_owned);
    [(); 3].map(|()| lines.next().expect("a variable"))
}

#[tokio::test]
async fn bootstrap_creates_the_resources_and_prints_exports_idempotently() {
    let moto = MotoServer::shared().unwrap_or_else(|e| panic!("{e}"));
    let prefix = unique_name("boot");

    let first = bootstrap(moto, &prefix);
    assert!(first.status.success(), "bootstrap failed: {}", String::from_utf8_lossy(&first.stderr));
    let stdout = String::from_utf8(first.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "one line for eval: {stdout}");
    assert!(stdout.starts_with("export PRICETRACK_TABLE="), "{stdout}");

    let [table, queue_url, topic_arn] = eval_in_shell(&stdout);
    assert_eq!(table, format!("{prefix}-jobs"));
    assert!(queue_url.starts_with(moto.endpoint()) && queue_url.ends_with(&format!("/{prefix}-checks")), "{queue_url}");
    assert_eq!(topic_arn, format!("arn:aws:sns:us-east-1:123456789012:{prefix}-alerts"));

    // They exist, with the due index and a redrive policy to the dead-letter queue.
    let config = moto.sdk_config().await;
    let described = aws_sdk_dynamodb::Client::new(&config)
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("the table exists")
        .table
        .expect("description");
    assert!(described.global_secondary_indexes().iter().any(|i| i.index_name() == Some(schema::DUE_INDEX)));
    let sqs = aws_sdk_sqs::Client::new(&config);
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("the queue exists")
        .attributes
        .unwrap_or_default();
    let redrive = attributes.get(&QueueAttributeName::RedrivePolicy).expect("a redrive policy");
    assert!(redrive.contains(&format!("{prefix}-checks-dlq")), "{redrive}");
    sqs.get_queue_url().queue_name(format!("{prefix}-checks-dlq")).send().await.expect("the dead-letter queue exists");
    aws_sdk_sns::Client::new(&config)
        .get_topic_attributes()
        .topic_arn(&topic_arn)
        .send()
        .await
        .expect("the topic exists");

    // Again: same output, nothing new.
    let second = bootstrap(moto, &prefix);
    assert!(second.status.success(), "second run failed: {}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(String::from_utf8(second.stdout).expect("utf-8"), stdout);
}

#[test]
fn bootstrap_refuses_a_bad_prefix_and_an_unreachable_endpoint() {
    let out = Command::new(env!("CARGO_BIN_EXE_pricetrack"))
        .args(["aws", "bootstrap", "--prefix", "no spaces"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--prefix"));

    let out = Command::new(env!("CARGO_BIN_EXE_pricetrack"))
        .args(["aws", "bootstrap"])
        .env_clear()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing to eval on failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: creating the AWS resources"), "{stderr}");
}
