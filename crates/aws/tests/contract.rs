//! The domain's contract suites, run unchanged against the DynamoDB and SQS adapters on
//! moto_server over real HTTP. Every case gets a fresh table, or a fresh queue with its
//! dead-letter queue.

mod common;

mod job_store {
    use super::common::fresh_job_store;
    pricetrack_domain::job_store_contract_tests!(fresh_job_store());
}

mod check_queue {
    use super::common::fresh_queue;
    pricetrack_domain::check_queue_contract_tests!(fresh_queue());
}
