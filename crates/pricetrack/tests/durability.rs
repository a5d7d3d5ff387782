//! The single-process mode loses nothing: `pricetrack backup` during a burst of writes gives a
//! copy with every job acknowledged before it began (restored and served by a new tracker,
//! `integrity_check` ok); `kill -9` during a burst loses no acknowledged job; an unwritable data
//! directory is a clear error at start; a full disk (a page limit) is a 503, never a 500.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PRICETRACK: &str = env!("CARGO_BIN_EXE_pricetrack");
const SECRET: &str = "durability-test-secret-0123456789abcdef-0123456789";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

struct Tracker {
    child: Child,
    base: String,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tracker {
    async fn start(data_dir: &Path) -> Tracker {
        let port = free_port();
        let child = Command::new(PRICETRACK)
            .arg("serve")
            .env("PRICETRACK_LISTEN", format!("127.0.0.1:{port}"))
            .env("PRICETRACK_DATA_DIR", data_dir)
            .env("PRICETRACK_JWT_SECRET", SECRET)
            .env("PRICETRACK_BROWSER_TABS", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pricetrack serve");
        let tracker = Tracker { child, base: format!("http://127.0.0.1:{port}/api/v1") };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await
                && r.status().is_success()
            {
                return tracker;
            }
            assert!(Instant::now() < deadline, "pricetrack serve did not become ready within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A signed-in client (signing up first when `new`).
    async fn client(&self, new: bool) -> reqwest::Client {
        let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
        let credentials = json!({"email": "ada@example.com", "password": "correct horse"});
        if new {
            let r = client.post(format!("{}/signup", self.base)).json(&credentials).send().await.expect("signup");
            assert_eq!(r.status(), 201);
        }
        let r = client.post(format!("{}/signin", self.base)).json(&credentials).send().await.expect("signin");
        assert_eq!(r.status(), 200);
        client
    }

    async fn job_ids(&self, client: &reqwest::Client) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/jobs?limit=100", self.base);
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page: Value = client.get(url).send().await.expect("list").json().await.expect("list JSON");
            for job in page["jobs"].as_array().expect("jobs") {
                ids.insert(job["id"].as_str().expect("id").to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return ids,
            }
        }
    }
}

/// Creates jobs one after another until `stop`; every acknowledged (201) id goes to `acked`.
async fn burst(base: String, client: reqwest::Client, acked: Arc<Mutex<Vec<String>>>, stop: Arc<Mutex<bool>>) {
    let mut n = 0u32;
    while !*stop.lock().expect("stop") {
        n += 1;
        let body = json!({"url": format!("https://shop.example/item/{n}"), "target_price": "10", "currency": "EUR"});
        let Ok(response) = client.post(format!("{base}/jobs")).json(&body).send().await else { return };
        if response.status() != 201 {
            return;
        }
        let Ok(job) = response.json::<Value>().await else { return };
        acked.lock().expect("acked").push(job["id"].as_str().expect("id").to_owned());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_during_writes_then_restore_and_kill_9_loses_nothing() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start(data_dir.path()).await;
    let client = tracker.client(true).await;

    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(Mutex::new(false));
    let writer = tokio::spawn(burst(tracker.base.clone(), client.clone(), Arc::clone(&acked), Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_millis(700)).await;

    // A backup while the burst goes on.
    let before_backup: BTreeSet<String> = acked.lock().expect("acked").iter().cloned().collect();
    assert!(!before_backup.is_empty(), "the burst wrote jobs before the backup");
    let backup_file = data_dir.path().join("backup.db");
    let out = Command::new(PRICETRACK)
        .args(["backup", backup_file.to_str().expect("utf-8 path")])
        .env("PRICETRACK_DATA_DIR", data_dir.path())
        .output()
        .expect("run pricetrack backup");
    assert!(out.status.success(), "backup failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(backup_file.is_file());
    pricetrack_embedded::check_integrity(&backup_file).await.expect("the backup passes integrity_check");
    // A second backup to the same file is refused, never overwritten.
    let again = Command::new(PRICETRACK)
        .args(["backup", backup_file.to_str().expect("utf-8 path")])
        .env("PRICETRACK_DATA_DIR", data_dir.path())
        .output()
        .expect("run pricetrack backup");
    assert!(!again.status.success());

    // kill -9 in the middle of the burst.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = tracker.child.id().to_string();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().expect("kill").success());
    *stop.lock().expect("stop") = true;
    let _ = writer.await;
    drop(tracker);
    let acknowledged: BTreeSet<String> = acked.lock().expect("acked").iter().cloned().collect();
    assert!(acknowledged.len() > before_backup.len(), "writes went on during the backup");

    // Restarted on the same data: every acknowledged job is there.
    let tracker = Tracker::start(data_dir.path()).await;
    let client = tracker.client(false).await;
    let after_kill = tracker.job_ids(&client).await;
    let lost: Vec<_> = acknowledged.difference(&after_kill).collect();
    assert!(lost.is_empty(), "kill -9 lost acknowledged jobs: {lost:?}");
    drop(tracker);
    pricetrack_embedded::check_integrity(&data_dir.path().join("pricetrack.db"))
        .await
        .expect("integrity after kill -9");

    // Restore the backup as the README says: its file in place of pricetrack.db.
    let restored_dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&backup_file, restored_dir.path().join("pricetrack.db")).expect("restore");
    let tracker = Tracker::start(restored_dir.path()).await;
    let client = tracker.client(false).await;
    let restored = tracker.job_ids(&client).await;
    let missing: Vec<_> = before_backup.difference(&restored).collect();
    assert!(missing.is_empty(), "the backup lacks jobs acknowledged before it began: {missing:?}");
}

#[test]
fn an_unwritable_data_dir_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write");
    let out = Command::new(PRICETRACK)
        .arg("serve")
        .env("PRICETRACK_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("PRICETRACK_DATA_DIR", file.join("data"))
        .env("PRICETRACK_BROWSER_TABS", "0")
        .output()
        .expect("run serve");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error:") && stderr.contains("data"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_503_and_the_database_stays_sound() {
    use pricetrack_domain::ports::JobStore;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pricetrack.db");
    // Create and migrate without a limit, then reopen under a quota a little above its size.
    let db = pricetrack_embedded::Database::open(&path).await.expect("open");
    db.close().await;
    let pages = u32::try_from(std::fs::metadata(&path).expect("size").len() / 4096).expect("pages") + 40;
    let db = pricetrack_embedded::Database::open_with_page_limit(&path, Some(pages)).await.expect("open limited");
    let jobs = db.jobs();
    let user = pricetrack_domain::UserId::new();
    let mut stored = 0;
    let mut full = None;
    for _ in 0..5000 {
        let job = pricetrack_domain::testing::sample_job(user, chrono::Utc::now());
        match jobs.create(&job).await {
            Ok(()) => stored += 1,
            Err(e) => {
                full = Some(e);
                break;
            }
        }
    }
    let error = full.expect("the quota fills up");
    assert!(matches!(error, pricetrack_domain::ports::StoreError::Backend(_)), "{error:?}");
    assert!(stored > 0);
    db.close().await;
    pricetrack_embedded::check_integrity(&path).await.expect("sound after a full disk");
    let db = pricetrack_embedded::Database::open(&path).await.expect("reopen");
    let mut listed = 0;
    let mut cursor = None;
    loop {
        let page =
            db.jobs().list(user, &pricetrack_domain::ports::PageRequest { limit: 100, cursor }).await.expect("list");
        listed += page.items.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, stored, "every stored job is still there");
}
