//! Property tests: whatever bytes arrive, the client's response decoding, the simulator's
//! request handling and the signature check answer with a value or an error, never a panic.
//! (The long fuzzing runs of the reliability work build on these.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use lunanode_operator::{
    lunanode::{response::interpret, sign, types::VmInfo},
    sim::{SimConfig, Simulator, router},
};
use proptest::prelude::*;
use tower::ServiceExt;

fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        ".{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::hash_map("[a-z_]{1,10}", inner, 0..6)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn response_decoding_never_panics(status in 100u16..600, body in ".{0,400}", retry in proptest::option::of(".{0,12}")) {
        let _ = interpret(status, retry.as_deref(), &body);
    }

    #[test]
    fn typed_decoding_of_any_json_never_panics(value in any_json()) {
        let body = serde_json::json!({"success": "yes", "info": value.clone(), "extra": value, "vms": [], "images": {}});
        let _ = interpret(200, None, &body.to_string());
        let _ = serde_json::from_value::<VmInfo>(body);
    }

    #[test]
    fn signature_check_never_panics(req in ".{0,200}", nonce in ".{0,20}", signature in ".{0,160}") {
        prop_assert!(!sign::verify(b"key", "vm/list/", &req, &nonce, &signature) || signature.len() == 128);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_simulator_answers_any_request(
        path in "/api/[a-z0-9_-]{0,12}/[a-z0-9_-]{0,12}/?",
        body in proptest::collection::vec(any::<u8>(), 0..600),
        form in proptest::option::of(("req=.{0,80}", "&signature=[0-9a-f]{0,128}", "&nonce=[0-9-]{0,12}")),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let sim = Simulator::new(SimConfig::default().with_account("abcdefghijklmnop", "k".repeat(128)));
            let bytes = match &form {
                Some((req, signature, nonce)) => format!("{req}{signature}{nonce}").into_bytes(),
                None => body.clone(),
            };
            let request = axum::http::Request::post(path.as_str())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(bytes))
                .unwrap();
            let response = router(sim).oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 4 << 20).await.unwrap();
            // Every answer is an HTTP response; API answers are the JSON envelope.
            if status == 200 {
                let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert!(value.get("success").is_some(), "{value}");
            }
        });
    }
}
