//! `pricetrack aws bootstrap` (feature `aws`): the AWS resources of the separate services, for
//! development and tests against moto or a sandbox account. Production resources come from
//! Terraform.

use anyhow::Context;
use pricetrack_aws::bootstrap::{ResourceNames, Resources, bootstrap, shell_exports};

/// Longest prefix accepted: SQS queue names are at most 80 characters and the longest derived
/// name adds `-checks-dlq` (11).
pub const MAX_PREFIX_LEN: usize = 64;

/// Checks a resource-name prefix: 1 to [`MAX_PREFIX_LEN`] ASCII letters, digits, `-` or `_`
/// (valid in table, queue and topic names alike).
pub fn parse_prefix(prefix: &str) -> Result<String, String> {
    let valid = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if valid {
        Ok(prefix.to_owned())
    } else {
        Err(format!("must be 1 to {MAX_PREFIX_LEN} ASCII letters, digits, '-' or '_'"))
    }
}

/// Creates (or finds) the resources named after `prefix` on the endpoint of the SDK's default
/// chain, and returns the `export` line for a shell.
pub async fn bootstrap_resources(prefix: &str) -> anyhow::Result<String> {
    let config = pricetrack_aws::load_sdk_config().await;
    let names = ResourceNames::with_prefix(prefix);
    let resources: Resources = bootstrap(&config, &names)
        .await
        .with_context(|| format!("creating the AWS resources {names:?} (is AWS_ENDPOINT_URL or AWS_REGION set?)"))?;
    tracing::info!(
        table = %resources.table,
        queue_url = %resources.queue_url,
        dead_letter_queue_url = %resources.dead_letter_queue_url,
        topic_arn = %resources.topic_arn,
        "AWS resources are ready"
    );
    Ok(shell_exports(&resources))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_checked() {
        assert_eq!(parse_prefix("pricetrack-dev_1").as_deref(), Ok("pricetrack-dev_1"));
        for bad in ["", "has space", "semi;colon", "dot.ted", &"x".repeat(MAX_PREFIX_LEN + 1)] {
            assert!(parse_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
