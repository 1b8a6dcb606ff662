//! The hooks over HTTP (interface.md 7) next to Rust hooks, through the
//! public API: a real HTTP backend in this process (hyper on a loopback
//! port) records every call and answers from a script. What the binary
//! and a Node backend do is in `client-tests/test/hooks.test.mjs`; here,
//! the order of the HTTP hooks among the Rust ones, and server calls.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chat_service::hooks_http::{HookSet, HttpHooks, HttpHooksSettings};
use chat_service::{CallContext, ChatService, ChatServiceError, Flow, Hooks, ServiceOptions};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use socketioxide::SocketIo;

type Log = Arc<Mutex<Vec<String>>>;
type Script = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// Serves `POST /` on a free loopback port: logs `http <hook>` and the
/// body, answers `script(body)` as JSON. Returns the URL and the bodies.
async fn backend(log: Log, script: Script) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let received = bodies.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (log, script, received) = (log.clone(), script.clone(), received.clone());
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let (log, script, received) = (log.clone(), script.clone(), received.clone());
                async move {
                    let bytes = request.into_body().collect().await.unwrap().to_bytes();
                    let body: Value = serde_json::from_slice(&bytes).unwrap();
                    log.lock()
                        .unwrap()
                        .push(format!("http {}", body["hook"].as_str().unwrap()));
                    let answer = script(&body);
                    received.lock().unwrap().push(body);
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(
                        answer.to_string(),
                    ))))
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (url, bodies)
}

async fn start(url: &str, hooks: &str, rust: impl FnOnce(&mut Hooks)) -> ChatService {
    let settings = HttpHooksSettings {
        url: url.to_string(),
        hooks: HookSet::parse(hooks).unwrap(),
        timeout: Duration::from_secs(3),
        token: None,
        max_answer_bytes: 1_000_000,
    };
    let http = HttpHooks::new(&settings).unwrap();
    let (_svc, io) = SocketIo::builder().build_svc();
    let builder = ChatService::builder(ServiceOptions::default()).hooks(|h| {
        rust(h);
        http.install(h);
    });
    tokio::time::timeout(Duration::from_secs(5), builder.start(&io))
        .await
        .unwrap()
        .unwrap()
}

fn bypass() -> CallContext {
    CallContext {
        bypass_permissions: true,
        ..CallContext::default()
    }
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[tokio::test]
async fn http_hooks_run_inside_the_rust_ones_and_see_their_changes() {
    let log: Log = Arc::default();
    let script: Script = Arc::new(|body| match body["hook"].as_str() {
        // The HTTP after-hook replaces the result; the Rust one sees it.
        Some("roomCreate:after") => json!({"result": ["from http"]}),
        _ => json!({}),
    });
    let (url, bodies) = backend(log.clone(), script).await;
    let (before_log, after_log) = (log.clone(), log.clone());
    let service = start(&url, "roomCreate:before,roomCreate:after", |h| {
        h.before("roomCreate", move |mut info| {
            before_log.lock().unwrap().push("rust before".into());
            info.args[0] = json!("renamed");
            async move { Ok(Flow::Continue(Box::new(info))) }
        });
        h.after("roomCreate", move |info| {
            after_log
                .lock()
                .unwrap()
                .push(format!("rust after {}", json!(info.results)));
            async { Ok(None) }
        });
    })
    .await;
    let got = service
        .exec_user_command(bypass(), "roomCreate", vec![json!("r"), json!(false)])
        .await;
    assert_eq!(got, Ok(vec![json!("from http")]));
    assert!(service.has_room("renamed").await.unwrap());
    assert_eq!(
        entries(&log),
        [
            "rust before",
            "http roomCreate:before",
            "http roomCreate:after",
            r#"rust after ["from http"]"#,
        ]
    );
    // A server call: no socket, no user, its bypassPermissions; the
    // arguments as the Rust before-hook left them.
    let bodies = bodies.lock().unwrap();
    assert_eq!(
        bodies[0],
        json!({
            "hook": "roomCreate:before",
            "instanceId": service.instance_id(),
            "id": null,
            "user": null,
            "command": "roomCreate",
            "args": ["renamed", false],
            "bypassPermissions": true,
        })
    );
    assert_eq!(bodies[1]["result"], json!([null]));
}

#[tokio::test]
async fn a_rust_reply_skips_the_http_hooks_and_an_http_error_reaches_the_rust_after_hook() {
    let log: Log = Arc::default();
    let script: Script = Arc::new(|_| json!({"error": {"code": "notAllowed"}}));
    let (url, _) = backend(log.clone(), script).await;
    let after_log = log.clone();
    let service = start(&url, "roomGetOwner:after,listOwnSockets:before", |h| {
        h.before("listOwnSockets", |_| async {
            Ok(Flow::Reply(vec![json!("rust")]))
        });
        h.after("roomGetOwner", move |info| {
            let error = info.error.as_ref().map(ChatServiceError::code);
            after_log
                .lock()
                .unwrap()
                .push(format!("rust after {error:?}"));
            async { Ok(None) }
        });
    })
    .await;
    let got = service
        .exec_user_command(bypass(), "listOwnSockets", vec![])
        .await;
    assert_eq!(got, Ok(vec![json!("rust")]));
    assert!(entries(&log).is_empty(), "{:?}", entries(&log));

    service.add_room("r", Default::default()).await.unwrap();
    let got = service
        .exec_user_command(bypass(), "roomGetOwner", vec![json!("r")])
        .await;
    assert_eq!(got, Err(ChatServiceError::custom("notAllowed", vec![])));
    assert_eq!(
        entries(&log),
        [
            "http roomGetOwner:after",
            r#"rust after Some("notAllowed")"#
        ]
    );
}
