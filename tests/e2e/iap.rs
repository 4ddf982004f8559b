//! Store receipts (`rest.md` §5.9) through the production verifiers: Apple StoreKit 2 JWS
//! against a chain generated here (the trusted root is configuration), Google Play against a
//! local endpoint speaking the Play Developer API's documented token and products.get
//! exchanges. A transaction is claimed once and grants what its product is configured to.

use asobi_services::iap::test_support::{TestChain, google_account_json};
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::{get, post};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestServer;
use crate::economy::balance;

const BUNDLE: &str = "com.example.game";

fn products() -> std::collections::BTreeMap<String, asobi_services::economy::Grants> {
    serde_json::from_value(json!({
        "gems100": {"currencies": {"gems": 100}},
        "starter": {"currencies": {"gold": 5}, "items": {"sword": 1}},
        "whale": {"currencies": {"gems": 1_i64 << 52}},
    }))
    .unwrap()
}

fn apple_payload(transaction: &str, product: &str) -> Value {
    json!({
        "transactionId": transaction,
        "originalTransactionId": transaction,
        "bundleId": BUNDLE,
        "productId": product,
        "purchaseDate": 1_767_225_600_000_i64,
        "quantity": 2,
        "type": "Consumable",
        "signedDate": 1_767_225_600_500_i64,
        "environment": "Production",
    })
}

#[tokio::test]
async fn apple_transactions_verify_claim_once_and_grant() {
    let good = TestChain::new(false);
    let expired = TestChain::new(true);
    let stranger = TestChain::new(false);
    let dir = std::env::temp_dir().join(format!("asobi-iap-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let roots = dir.join("roots.pem");
    std::fs::write(&roots, format!("{}{}", good.root_pem, expired.root_pem)).unwrap();
    let s = TestServer::start_with(|c| {
        c.iap.apple_root = Some(roots.clone());
        c.iap.apple_bundle_id = Some(BUNDLE.into());
        c.iap.products = products();
        c.economy =
            serde_json::from_value(json!({"items": {"sword": {"stackable": false}}})).unwrap();
    })
    .await;
    let a = s.register("apple-buyer").await;
    let b = s.register("apple-other").await;
    let ta = Some(a.access_token.as_str());
    let post = |jws: &str| json!({ "signed_transaction": jws });

    let jws = good.sign(&apple_payload("2000000123", "gems100"));
    let r = s.post("/api/v1/iap/apple", post(&jws), ta).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["product_id"], "gems100");
    assert_eq!(r.body["transaction_id"], "2000000123");
    assert_eq!(r.body["original_transaction_id"], "2000000123");
    assert_eq!(r.body["purchase_date"], 1_767_225_600_000_i64);
    assert_eq!(r.body["expires_date"], Value::Null);
    assert_eq!(
        (r.body["quantity"].as_i64(), r.body["type"].as_str()),
        (Some(2), Some("Consumable"))
    );
    assert_eq!(
        (r.body["valid"].as_bool(), r.body["duplicate"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(
        balance(&s, &a.access_token, "gems").await,
        200,
        "100 gems × quantity 2"
    );
    let h = s.get("/api/v1/wallets/gems/history", ta).await;
    assert_eq!(h.body["transactions"][0]["reason"], "iap");
    assert_eq!(h.body["transactions"][0]["reference_type"], "iap_apple");
    assert_eq!(h.body["transactions"][0]["reference_id"], "2000000123");

    // The same player again: a duplicate, nothing granted twice. Another player: 409.
    let r = s.post("/api/v1/iap/apple", post(&jws), ta).await;
    assert_eq!(r.body["duplicate"], true, "{}", r.body);
    assert_eq!(balance(&s, &a.access_token, "gems").await, 200);
    let r = s
        .post("/api/v1/iap/apple", post(&jws), Some(&b.access_token))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "iap.transaction_already_claimed")
    );
    assert_eq!(balance(&s, &b.access_token, "gems").await, 0);

    // Items and currencies of one product arrive together.
    let r = s
        .post(
            "/api/v1/iap/apple",
            post(&good.sign(&apple_payload("2000000124", "starter"))),
            ta,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let inv = s.get("/api/v1/inventory", ta).await;
    assert_eq!(
        inv.body["items"].as_array().unwrap().len(),
        2,
        "two swords: {}",
        inv.body
    );

    // Refusals, each with its reason.
    let refused = |reason: &'static str| {
        move |r: &crate::common::Reply| {
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::UNPROCESSABLE_ENTITY, "iap.verification_failed"),
                "{}",
                r.body
            );
            assert_eq!(r.body["error"]["details"]["reason"], reason, "{}", r.body);
        }
    };
    // A tampered payload: another product under the original signature.
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    let forged = good.sign(&apple_payload("2000000125", "gems100"));
    parts[1] = forged.split('.').nth(1).unwrap().to_owned();
    let r = s
        .post("/api/v1/iap/apple", post(&parts.join(".")), ta)
        .await;
    refused("bad_signature")(&r);
    let r = s
        .post(
            "/api/v1/iap/apple",
            post(&stranger.sign(&apple_payload("9", "gems100"))),
            ta,
        )
        .await;
    refused("untrusted_chain")(&r);
    let r = s
        .post(
            "/api/v1/iap/apple",
            post(&expired.sign(&apple_payload("10", "gems100"))),
            ta,
        )
        .await;
    refused("certificate_expired")(&r);
    let mut other_app = apple_payload("11", "gems100");
    other_app["bundleId"] = json!("com.example.other");
    let r = s
        .post("/api/v1/iap/apple", post(&good.sign(&other_app)), ta)
        .await;
    refused("bundle_mismatch")(&r);
    let r = s.post("/api/v1/iap/apple", post("not-a-jws"), ta).await;
    refused("malformed")(&r);
    let mut sandbox = apple_payload("14", "gems100");
    sandbox["environment"] = json!("Sandbox");
    let r = s
        .post("/api/v1/iap/apple", post(&good.sign(&sandbox)), ta)
        .await;
    refused("wrong_environment")(&r);
    // A product that grants nothing here is refused and left unclaimed (not a 409 later).
    let mystery = good.sign(&apple_payload("15", "mystery"));
    for t in [ta, Some(b.access_token.as_str())] {
        let r = s.post("/api/v1/iap/apple", post(&mystery), t).await;
        refused("unknown_product")(&r);
    }
    // A grant that cannot be applied (2 × 2^52 gems is over the balance cap) rolls the claim
    // back with it: 500 iap.record_failed, and the transaction stays unclaimed.
    let whale = good.sign(&apple_payload("16", "whale"));
    for t in [ta, Some(b.access_token.as_str())] {
        let r = s.post("/api/v1/iap/apple", post(&whale), t).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::INTERNAL_SERVER_ERROR, "iap.record_failed"),
            "{}",
            r.body
        );
    }
    let mut revoked = apple_payload("12", "gems100");
    revoked["revocationDate"] = json!(1_767_225_700_000_i64);
    let r = s
        .post("/api/v1/iap/apple", post(&good.sign(&revoked)), ta)
        .await;
    refused("revoked")(&r);
    let mut no_id = apple_payload("13", "gems100");
    no_id.as_object_mut().unwrap().remove("transactionId");
    let r = s
        .post("/api/v1/iap/apple", post(&good.sign(&no_id)), ta)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "iap.missing_transaction_id"
        )
    );
    let r = s.post("/api/v1/iap/apple", json!({}), ta).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "missing_field")
    );
    assert_eq!(
        balance(&s, &a.access_token, "gems").await,
        200,
        "no refusal granted anything"
    );

    // Google is not configured on this server.
    let r = s
        .post(
            "/api/v1/iap/google",
            json!({"product_id": "gems100", "purchase_token": "t"}),
            ta,
        )
        .await;
    refused("not_configured")(&r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Acknowledgements the local Play Developer API received.
static ACKNOWLEDGED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A local Play Developer API: the OAuth token endpoint (JWT-bearer grant),
/// `purchases.products.get` answering the documented `ProductPurchase` resource, and
/// `purchases.products.acknowledge`.
async fn fake_google() -> std::net::SocketAddr {
    async fn token(form: String) -> (AxumStatus, axum::Json<Value>) {
        // application/x-www-form-urlencoded: the grant type's colons arrive as %3A.
        let field = |name: &str| {
            form.split('&')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .map(|v| v.replace("%3A", ":").replace("%3a", ":"))
        };
        let grant = field("grant_type");
        let assertion_parts = field("assertion").map_or(0, |a| a.split('.').count());
        if grant.as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
            || assertion_parts != 3
        {
            return (
                AxumStatus::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_grant"})),
            );
        }
        (
            AxumStatus::OK,
            axum::Json(
                json!({"access_token": "fake-access", "expires_in": 3600, "token_type": "Bearer"}),
            ),
        )
    }
    async fn purchase(
        Path((package, product, token)): Path<(String, String, String)>,
        headers: HeaderMap,
    ) -> (AxumStatus, axum::Json<Value>) {
        let authorised = headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer fake-access");
        if !authorised {
            return (
                AxumStatus::UNAUTHORIZED,
                axum::Json(json!({"error": {"code": 401}})),
            );
        }
        let mut body = json!({
            "kind": "androidpublisher#productPurchase",
            "purchaseTimeMillis": "1767225600000",
            "purchaseState": 0,
            "consumptionState": 0,
            "orderId": format!("GPA.{token}"),
            "acknowledgementState": 0,
            "productId": product,
            "quantity": 1,
            "regionCode": "JP",
        });
        match (package.as_str(), token.as_str()) {
            (BUNDLE, "pending") => body["purchaseState"] = json!(2),
            (BUNDLE, "no-order") => {
                body.as_object_mut().unwrap().remove("orderId");
            }
            (BUNDLE, t) if t.starts_with("good") => {}
            _ => {
                return (
                    AxumStatus::NOT_FOUND,
                    axum::Json(json!({"error": {"code": 404}})),
                );
            }
        }
        (AxumStatus::OK, axum::Json(body))
    }
    async fn acknowledge(
        Path((_, _, token)): Path<(String, String, String)>,
        headers: HeaderMap,
    ) -> AxumStatus {
        let authorised = headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer fake-access");
        match token.strip_suffix(":acknowledge") {
            Some(t) if authorised => {
                ACKNOWLEDGED.lock().unwrap().push(t.to_owned());
                AxumStatus::OK
            }
            _ => AxumStatus::NOT_FOUND,
        }
    }
    let app = axum::Router::new().route("/token", post(token)).route(
        "/androidpublisher/v3/applications/{package}/purchases/products/{product}/tokens/{token}",
        get(purchase).post(acknowledge),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn google_purchases_verify_against_the_play_api_and_claim_once() {
    let google = fake_google().await;
    let dir = std::env::temp_dir().join(format!("asobi-iap-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let account = dir.join("service-account.json");
    std::fs::write(
        &account,
        google_account_json(&format!("http://{google}/token")),
    )
    .unwrap();
    let s = TestServer::start_with(|c| {
        c.iap.google_service_account = Some(account.clone());
        c.iap.google_package_name = Some(BUNDLE.into());
        c.iap.google_api_base = format!("http://{google}");
        c.iap.products = products();
        c.economy =
            serde_json::from_value(json!({"items": {"sword": {"stackable": false}}})).unwrap();
    })
    .await;
    let a = s.register("google-buyer").await;
    let b = s.register("google-other").await;
    let ta = Some(a.access_token.as_str());
    let buy = |token: &str| json!({"product_id": "gems100", "purchase_token": token});

    let r = s.post("/api/v1/iap/google", buy("good-1"), ta).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({
            "product_id": "gems100", "order_id": "GPA.good-1", "purchase_time": 1_767_225_600_000_i64,
            "consumption_state": 0, "acknowledged": false, "quantity": 1, "valid": true, "duplicate": false,
        })
    );
    assert_eq!(balance(&s, &a.access_token, "gems").await, 100);
    let acknowledged = || {
        ACKNOWLEDGED
            .lock()
            .unwrap()
            .iter()
            .filter(|t| *t == "good-1")
            .count()
    };
    assert_eq!(acknowledged(), 1, "acknowledged once its grant committed");
    let r = s.post("/api/v1/iap/google", buy("good-1"), ta).await;
    assert_eq!(r.body["duplicate"], true);
    assert_eq!(acknowledged(), 1, "a duplicate is not acknowledged again");
    assert_eq!(balance(&s, &a.access_token, "gems").await, 100);
    let r = s
        .post("/api/v1/iap/google", buy("good-1"), Some(&b.access_token))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "iap.transaction_already_claimed")
    );

    for (token, reason) in [("pending", "not_purchased"), ("unknown", "store_rejected")] {
        let r = s.post("/api/v1/iap/google", buy(token), ta).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "iap.verification_failed")
        );
        assert_eq!(r.body["error"]["details"]["reason"], reason, "{token}");
    }
    let r = s.post("/api/v1/iap/google", buy("no-order"), ta).await;
    assert_eq!(
        (r.status, r.code()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "iap.missing_transaction_id"
        )
    );
    let r = s
        .post("/api/v1/iap/google", json!({"product_id": "gems100"}), ta)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "missing_field")
    );
    assert_eq!(balance(&s, &a.access_token, "gems").await, 100);
    let _ = std::fs::remove_dir_all(&dir);
}
