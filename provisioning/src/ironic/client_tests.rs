use super::*;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[test]
fn negotiates_highest_known_microversion() {
    let v = |s| Microversion::parse(s).unwrap();
    assert_eq!(Microversion::negotiate(v("1.115")), Some(v("1.110")));
    assert_eq!(Microversion::negotiate(v("1.109")), Some(v("1.109")));
    assert_eq!(Microversion::negotiate(v("1.100")), Some(v("1.95")));
    assert_eq!(Microversion::negotiate(v("1.94")), Some(v("1.93")));
    assert_eq!(Microversion::negotiate(v("1.90")), Some(v("1.89")));
    assert_eq!(Microversion::negotiate(v("1.88")), None);
    assert_eq!(Microversion::parse("1.x"), None);
    assert_eq!(v("1.110").to_string(), "1.110");
}

#[test]
fn error_message_unwraps_json_inside_json() {
    let body = r#"{"error_message": "{\"faultstring\": \"Node abc could not be found.\", \"debuginfo\": null}"}"#;
    assert_eq!(
        error_message_from_body(body),
        "Node abc could not be found."
    );
    assert_eq!(
        error_message_from_body(r#"{"error_message": {"faultstring": "x"}}"#),
        "x"
    );
    assert_eq!(
        error_message_from_body(r#"{"error_message": "plain"}"#),
        "plain"
    );
    assert_eq!(
        error_message_from_body("<html>oops</html>"),
        "<html>oops</html>"
    );
}

#[test]
fn config_from_env_lookup() {
    let env: HashMap<&str, &str> = [
        ("IRONIC_ENDPOINT", "https://ironic:6385/v1/"),
        ("IRONIC_INSECURE", "true"),
        ("IRONIC_CACERT_FILE", "/ca.pem"),
        ("IRONIC_CLIENT_TIMEOUT", "2m"),
        ("DEPLOY_KERNEL_URL", "http://i/k"),
        ("DEPLOY_ISO_URL", "http://i/iso"),
        ("IRONIC_USERNAME", "u"),
        ("IRONIC_PASSWORD", "pw-secret"),
    ]
    .into_iter()
    .collect();
    let cfg = IronicConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
    assert_eq!(normalize_endpoint(&cfg.endpoint), "https://ironic:6385");
    assert!(cfg.insecure);
    assert_eq!(cfg.ca_file, Some(PathBuf::from("/ca.pem")));
    assert_eq!(cfg.timeout, Duration::from_secs(120));
    assert_eq!(cfg.deploy_images.kernel.as_deref(), Some("http://i/k"));
    assert_eq!(cfg.deploy_images.ramdisk, None);
    assert_eq!(cfg.deploy_images.iso.as_deref(), Some("http://i/iso"));
    assert!(matches!(&cfg.auth, Auth::HttpBasic { username, .. } if username == "u"));
    assert!(!format!("{cfg:?}").contains("pw-secret"));

    let missing = IronicConfig::from_lookup(|_| None).unwrap_err();
    assert!(missing.to_string().contains("IRONIC_ENDPOINT"), "{missing}");
    let bad = IronicConfig::from_lookup(|k| match k {
        "IRONIC_ENDPOINT" => Some("http://x".into()),
        "IRONIC_CLIENT_TIMEOUT" => Some("soon".into()),
        _ => None,
    })
    .unwrap_err();
    assert!(bad.to_string().contains("IRONIC_CLIENT_TIMEOUT"), "{bad}");
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("45"), Some(Duration::from_secs(45)));
}

#[test]
fn auth_from_metal3_auth_root_dir() {
    let dir = std::env::temp_dir().join(format!("m3-ironic-auth-{}", std::process::id()));
    assert_eq!(Auth::from_dir(&dir).unwrap(), Auth::NoAuth);
    std::fs::create_dir_all(dir.join("ironic")).unwrap();
    std::fs::write(dir.join("ironic/username"), "admin\n").unwrap();
    std::fs::write(dir.join("ironic/password"), "pw\n").unwrap();
    assert_eq!(
        Auth::from_dir(&dir).unwrap(),
        Auth::HttpBasic {
            username: "admin".into(),
            password: "pw".into()
        }
    );
    std::fs::remove_file(dir.join("ironic/password")).unwrap();
    let err = Auth::from_dir(&dir).unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn provision_target_bodies() {
    assert_eq!(
        ProvisionTarget::Active {
            configdrive: Some(json!({"meta_data": {}})),
            deploy_steps: vec![json!({"step": "x"})],
        }
        .body(),
        json!({"target": "active", "configdrive": {"meta_data": {}}, "deploy_steps": [{"step": "x"}]})
    );
    assert_eq!(
        ProvisionTarget::Active {
            configdrive: None,
            deploy_steps: vec![]
        }
        .body(),
        json!({"target": "active"})
    );
    assert_eq!(
        ProvisionTarget::Clean {
            clean_steps: vec![]
        }
        .body(),
        json!({"target": "clean", "clean_steps": []})
    );
    assert_eq!(PowerTarget::SoftOff.as_str(), "soft power off");
    assert_eq!(
        node_path("ns~h 1", "/validate"),
        "/v1/nodes/ns~h%201/validate"
    );
}

/// A loopback HTTP server answering each connection with the next canned
/// response; records the request heads it saw.
async fn canned_server(
    responses: Vec<(u16, String)>,
) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        for (status, body) in responses {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 8192];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            seen2
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).to_string());
            let resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    });
    (format!("http://{addr}"), seen)
}

fn root(max: &str) -> (u16, String) {
    (
        200,
        json!({"versions": [{"id": "v1", "version": max, "min_version": "1.1"}]}).to_string(),
    )
}

fn fast_cfg(endpoint: &str) -> IronicConfig {
    let mut cfg = IronicConfig::new(endpoint);
    cfg.conflict_delay = Duration::from_millis(10);
    cfg.conflict_retries = 2;
    cfg
}

#[tokio::test]
async fn refuses_too_old_server_naming_its_max() {
    let (url, _) = canned_server(vec![root("1.81")]).await;
    let err = IronicClient::connect(&fast_cfg(&url)).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("up to 1.81") && msg.contains("1.89"), "{msg}");
}

#[tokio::test]
async fn retries_locked_node_then_gives_up() {
    let locked = json!({"error_message": json!({"faultstring": "Node n1 is locked by host h, please retry after the current operation is completed."}).to_string()}).to_string();
    let (url, seen) = canned_server(vec![
        root("1.99"),
        (409, locked.clone()),
        (
            200,
            json!({"uuid": "n1", "provision_state": "enroll"}).to_string(),
        ),
        (409, locked.clone()),
        (409, locked.clone()),
        (409, locked),
    ])
    .await;
    let c = IronicClient::connect(&fast_cfg(&url)).await.unwrap();
    assert_eq!(c.microversion(), Microversion(1, 95));
    let n = c.get_node("n1").await.unwrap();
    assert_eq!(n.provision_state, "enroll");
    // Two retries allowed: three 409s in a row surface as an error.
    let err = c.get_node("n1").await.unwrap_err();
    assert!(err.is_conflict());
    let msg = err.to_string();
    assert!(
        msg.contains("GET /v1/nodes/n1") && msg.contains("is locked by host"),
        "{msg}"
    );
    assert!(msg.contains(&url), "{msg}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 6);
    assert!(
        seen[1]
            .to_ascii_lowercase()
            .contains("x-openstack-ironic-api-version: 1.95"),
        "{}",
        seen[1]
    );
}

#[tokio::test]
async fn basic_auth_header_sent_and_not_in_debug() {
    let (url, seen) = canned_server(vec![root("1.89")]).await;
    let mut cfg = fast_cfg(&url);
    cfg.auth = Auth::HttpBasic {
        username: "admin".into(),
        password: "pw".into(),
    };
    let c = IronicClient::connect(&cfg).await.unwrap();
    assert_eq!(c.microversion(), Microversion(1, 89));
    // base64("admin:pw")
    assert!(seen.lock().unwrap()[0].contains("YWRtaW46cHc="));
    assert!(!format!("{c:?}").contains("\"pw\""));
}

#[tokio::test]
async fn transport_error_names_endpoint_and_call() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = IronicClient::connect(&fast_cfg(&format!("http://127.0.0.1:{port}")))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("GET /"),
        "{msg}"
    );
}

/// Serves `GET /` then node GETs slowly, recording the most requests in flight.
async fn slow_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let max2 = max_seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (in_flight, max_seen) = (in_flight.clone(), max2.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if head.starts_with("GET / ") {
                    root("1.89").1
                } else {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max_seen.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    json!({"uuid": "n1"}).to_string()
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), max_seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_budget_bounds_requests_in_flight() {
    use std::sync::atomic::Ordering;
    // Budget 1 serialises; budget 3 must let them overlap (at least two at
    // once; exact overlap depends on scheduling), proving the check can fail.
    for budget in [1, 3] {
        let (url, max_seen) = slow_server().await;
        let mut cfg = fast_cfg(&url);
        cfg.max_concurrent_requests = budget;
        let c = IronicClient::connect(&cfg).await.unwrap();
        let calls = (0..3).map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.get_node("n1").await })
        });
        for h in calls.collect::<Vec<_>>() {
            h.await.unwrap().unwrap();
        }
        let seen = max_seen.load(Ordering::SeqCst);
        if budget == 1 {
            assert_eq!(seen, 1);
        } else {
            assert!(
                (2..=budget).contains(&seen),
                "budget {budget}: {seen} in flight"
            );
        }
    }
}
