//! The economy over REST (`rest.md` §5.8): wallets and their ledger, the store, inventories,
//! idempotent purchases, and nothing lost or doubled under 1,000 concurrent purchases.

use asobi_services::economy::Note;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Account, TestServer};

/// The catalogue the economy tests sell from.
pub fn catalog() -> asobi_services::economy::Catalog {
    serde_json::from_value(json!({
        "items": {
            "gem": {"name": "Gem"},
            "potion": {"max_stack": 50},
            "sword": {"stackable": false, "metadata": {"damage": 7}},
        },
        "listings": {
            "gems10": {"item": "gem", "quantity": 10, "currency": "gold", "price": 30},
            "sword": {"item": "sword", "currency": "gold", "price": 100},
            "potion40": {"item": "potion", "quantity": 40, "currency": "gold", "price": 1},
            "retired": {"item": "gem", "currency": "gold", "price": 1, "active": false},
            "later": {"item": "gem", "currency": "gold", "price": 1, "valid_from": 4_102_444_800_000_i64},
            "gem_for_crystals": {"item": "gem", "currency": "crystal", "price": 2},
        },
    }))
    .expect("catalogue")
}

pub async fn economy_server() -> TestServer {
    TestServer::start_with(|c| c.economy = catalog()).await
}

/// Grants through the service (there is no REST grant, `rest.md` §5.8).
pub async fn grant(s: &TestServer, player: &Account, currency: &str, amount: i64) {
    s.running()
        .state()
        .economy()
        .grant(
            &player.player_id,
            currency,
            amount,
            &Note::reason("test"),
            None,
        )
        .await
        .expect("grant");
}

pub async fn balance(s: &TestServer, t: &str, currency: &str) -> i64 {
    let r = s.get("/api/v1/wallets", Some(t)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["wallets"]
        .as_array()
        .expect("wallets")
        .iter()
        .find(|w| w["currency"] == currency)
        .map_or(0, |w| w["balance"].as_i64().expect("balance"))
}

#[tokio::test]
async fn wallets_store_and_inventory_follow_the_contract() {
    let s = economy_server().await;
    let a = s.register("shopper").await;
    let t = Some(a.access_token.as_str());
    assert_eq!(
        s.get("/api/v1/wallets", t).await.body,
        json!({"wallets": []})
    );
    grant(&s, &a, "gold", 100).await;
    assert_eq!(balance(&s, &a.access_token, "gold").await, 100);

    // The store shows what is on sale now: not the retired listing, not the future one.
    let r = s.get("/api/v1/store", t).await;
    let ids: Vec<&str> = r.body["listings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["potion40", "gem_for_crystals", "gems10", "sword"],
        "{}",
        r.body
    );
    let gems = &r.body["listings"][2];
    for key in [
        "item_def_id",
        "currency",
        "price",
        "active",
        "valid_from",
        "valid_until",
        "metadata",
    ] {
        assert!(gems.get(key).is_some(), "listing row has {key}: {gems}");
    }
    let r = s.get("/api/v1/store?currency=crystal", t).await;
    assert_eq!(r.body["listings"].as_array().unwrap().len(), 1);

    // Stackable items grow one row; each sword is its own row.
    let r = s
        .post("/api/v1/store/purchase", json!({"listing_id": "gems10"}), t)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["success"], true);
    let gem_row = r.body["item"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["item"]["quantity"], 10);
    assert_eq!(r.body["item"]["item_def_id"], "gem");
    assert_eq!(r.body["item"]["player_id"], a.player_id.as_str());
    assert!(
        r.body["item"]["acquired_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let r = s
        .post("/api/v1/store/purchase", json!({"listing_id": "gems10"}), t)
        .await;
    assert_eq!(
        (
            r.body["item"]["id"].as_str(),
            r.body["item"]["quantity"].as_i64()
        ),
        (Some(gem_row.as_str()), Some(20))
    );
    assert_eq!(balance(&s, &a.access_token, "gold").await, 40);

    // Short of funds: 402 with what was asked; nothing changes.
    let r = s
        .post("/api/v1/store/purchase", json!({"listing_id": "sword"}), t)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYMENT_REQUIRED, "economy.insufficient_funds")
    );
    assert_eq!(r.body["error"]["details"]["balance"], 40);
    assert_eq!(r.body["error"]["details"]["required"], 100);
    for listing in ["retired", "later", "no-such-listing"] {
        let r = s
            .post("/api/v1/store/purchase", json!({"listing_id": listing}), t)
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "economy.listing_inactive"),
            "{listing}"
        );
    }
    let r = s.post("/api/v1/store/purchase", json!({}), t).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "missing_field")
    );
    let r = s
        .post(
            "/api/v1/store/purchase",
            json!({"listing_id": "gem_for_crystals"}),
            t,
        )
        .await;
    assert_eq!(
        r.code(),
        "economy.insufficient_funds",
        "no crystal wallet at all"
    );

    // A stack never exceeds its max_stack: the second 40 potions would make 80 > 50.
    let r = s
        .post(
            "/api/v1/store/purchase",
            json!({"listing_id": "potion40"}),
            t,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s
        .post(
            "/api/v1/store/purchase",
            json!({"listing_id": "potion40"}),
            t,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(r.body["error"]["details"]["reason"], "stack_full");
    assert_eq!(
        balance(&s, &a.access_token, "gold").await,
        39,
        "the refused purchase charged nothing"
    );

    grant(&s, &a, "gold", 200).await;
    for _ in 0..2 {
        let r = s
            .post("/api/v1/store/purchase", json!({"listing_id": "sword"}), t)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["item"]["quantity"], 1);
    }

    // The ledger: newest first, each row's balance_after following from the last.
    let r = s.get("/api/v1/wallets/gold/history", t).await;
    let rows = r.body["transactions"].as_array().unwrap();
    let amounts: Vec<i64> = rows.iter().map(|x| x["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, [-100, -100, 200, -1, -30, -30, 100]);
    let after: Vec<i64> = rows
        .iter()
        .map(|x| x["balance_after"].as_i64().unwrap())
        .collect();
    assert_eq!(after, [39, 139, 239, 39, 40, 70, 100]);
    assert_eq!(rows[0]["reason"], "purchase");
    assert_eq!(rows[0]["reference_type"], "listing");
    assert_eq!(rows[0]["reference_id"], "sword");
    for key in ["id", "wallet_id", "metadata", "inserted_at"] {
        assert!(rows[0].get(key).is_some(), "transaction row has {key}");
    }
    let r = s.get("/api/v1/wallets/gold/history?limit=2", t).await;
    assert_eq!(r.body["transactions"].as_array().unwrap().len(), 2);
    let r = s.get("/api/v1/wallets/silver/history", t).await;
    assert_eq!(r.body, json!({"transactions": []}));

    // Inventory, newest acquired first.
    let r = s.get("/api/v1/inventory", t).await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{}", r.body);
    assert_eq!(items[0]["item_def_id"], "sword");
    assert_eq!(items[3]["item_def_id"], "gem");
    let r = s.get("/api/v1/inventory?limit=1", t).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);

    // Consuming: part of a stack, then the rest (the row goes), then errors.
    let consume = |item: &str, q: Value| json!({"item_id": item, "quantity": q});
    let r = s
        .post("/api/v1/inventory/consume", consume(&gem_row, json!(5)), t)
        .await;
    assert_eq!(r.body, json!({"success": true, "remaining_quantity": 15}));
    let r = s
        .post("/api/v1/inventory/consume", consume(&gem_row, json!(16)), t)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "inventory.insufficient_quantity")
    );
    let r = s
        .post("/api/v1/inventory/consume", consume(&gem_row, json!(15)), t)
        .await;
    assert_eq!(r.body, json!({"success": true, "remaining_quantity": 0}));
    let r = s
        .post("/api/v1/inventory/consume", consume(&gem_row, json!(1)), t)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "inventory.item_not_found")
    );
    for bad in [json!(0), json!(1_000_001), json!("3"), json!(1.5)] {
        let r = s
            .post(
                "/api/v1/inventory/consume",
                consume(&gem_row, bad.clone()),
                t,
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "inventory.invalid_quantity"),
            "{bad}"
        );
    }
    let r = s
        .post("/api/v1/inventory/consume", json!({"quantity": 1}), t)
        .await;
    assert_eq!(r.code(), "inventory.invalid_quantity");
    let b = s.register("bystander").await;
    let sword = items[0]["id"].as_str().unwrap();
    let r = s
        .post(
            "/api/v1/inventory/consume",
            consume(sword, json!(1)),
            Some(&b.access_token),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = s.get("/api/v1/wallets", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_retried_purchase_applies_once() {
    let s = economy_server().await;
    let a = s.register("retrier").await;
    let t = a.access_token.as_str();
    grant(&s, &a, "gold", 1000).await;
    // Twenty copies of one request at once, keyed by header, and then a retry in the body.
    let url = format!("{}/api/v1/store/purchase", s.base);
    let sends = (0..20).map(|_| {
        s.http
            .post(&url)
            .bearer_auth(t)
            .header("Idempotency-Key", "buy-1")
            .json(&json!({"listing_id": "gems10"}))
            .send()
    });
    let replies = futures_util::future::join_all(sends).await;
    let mut items = Vec::new();
    for r in replies {
        let r = r.expect("sent");
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.expect("json");
        items.push(body["item"].clone());
    }
    assert!(
        items.iter().all(|i| *i == items[0]),
        "every retry sees the first answer"
    );
    assert_eq!(items[0]["quantity"], 10);
    let r = s
        .post(
            "/api/v1/store/purchase",
            json!({"listing_id": "gems10", "idempotency_key": "buy-1"}),
            Some(t),
        )
        .await;
    assert_eq!(r.body["item"], items[0]);
    assert_eq!(balance(&s, t, "gold").await, 970, "charged once");
    let r = s.get("/api/v1/wallets/gold/history", Some(t)).await;
    assert_eq!(
        r.body["transactions"].as_array().unwrap().len(),
        2,
        "one grant, one purchase"
    );

    // Another key is another purchase; a non-string key is refused.
    let r = s
        .post(
            "/api/v1/store/purchase",
            json!({"listing_id": "gems10", "idempotency_key": "buy-2"}),
            Some(t),
        )
        .await;
    assert_eq!(r.body["item"]["quantity"], 20);
    let r = s
        .post(
            "/api/v1/store/purchase",
            json!({"listing_id": "gems10", "idempotency_key": 7}),
            Some(t),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_payload")
    );

    // Grants take keys too (Lua and the ops plane use them); a key names one operation.
    let e = s.running().state().economy();
    let note = Note::reason("daily_bonus");
    let w1 = e
        .grant(&a.player_id, "gold", 5, &note, Some("bonus-day-1"))
        .await
        .unwrap();
    let w2 = e
        .grant(&a.player_id, "gold", 5, &note, Some("bonus-day-1"))
        .await
        .unwrap();
    assert_eq!(w1, w2);
    assert_eq!(balance(&s, t, "gold").await, 945);
    let reused = e
        .debit(&a.player_id, "gold", 5, &note, Some("bonus-day-1"))
        .await;
    assert!(matches!(
        reused,
        Err(asobi_services::economy::EconomyError::KeyReused { .. })
    ));
    let other_amount = e
        .grant(&a.player_id, "gold", 6, &note, Some("bonus-day-1"))
        .await;
    assert!(matches!(
        other_amount,
        Err(asobi_services::economy::EconomyError::KeyReused { .. })
    ));
    // A key names one request: the same key for another listing is refused, not answered.
    let r = s
        .post(
            "/api/v1/store/purchase",
            json!({"listing_id": "sword", "idempotency_key": "buy-1"}),
            Some(t),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(
        r.body["error"]["details"]["reason"],
        "idempotency_key_reused"
    );
    // Amounts are positive: a negative debit does not credit, a negative grant does not take.
    for amount in [-500, 0] {
        assert!(matches!(
            e.debit(&a.player_id, "gold", amount, &note, None).await,
            Err(asobi_services::economy::EconomyError::InvalidAmount(_))
        ));
        assert!(matches!(
            e.grant(&a.player_id, "gold", amount, &note, None).await,
            Err(asobi_services::economy::EconomyError::InvalidAmount(_))
        ));
    }
    assert_eq!(balance(&s, t, "gold").await, 945);
}

#[tokio::test]
async fn a_thousand_purchases_against_a_wallet_for_a_hundred() {
    let s = economy_server().await;
    let a = s.register("rush").await;
    let t = a.access_token.as_str();
    grant(&s, &a, "gold", 100 * 30).await;
    let url = format!("{}/api/v1/store/purchase", s.base);
    let sends = (0..1000).map(|_| {
        let req = s
            .http
            .post(&url)
            .bearer_auth(t)
            .json(&json!({"listing_id": "gems10"}));
        async move { req.send().await.expect("sent").status() }
    });
    let statuses = futures_util::future::join_all(sends).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let short = statuses
        .iter()
        .filter(|s| **s == StatusCode::PAYMENT_REQUIRED)
        .count();
    assert_eq!((ok, short), (100, 900), "{statuses:?}");
    assert_eq!(balance(&s, t, "gold").await, 0);

    // The ledger sums to the balance and never dips below zero.
    let r = s
        .get("/api/v1/wallets/gold/history?limit=200", Some(t))
        .await;
    let rows = r.body["transactions"].as_array().unwrap();
    assert_eq!(rows.len(), 101);
    let sum: i64 = rows.iter().map(|x| x["amount"].as_i64().unwrap()).sum();
    assert_eq!(sum, 0);
    assert!(
        rows.iter()
            .all(|x| x["balance_after"].as_i64().unwrap() >= 0)
    );
    let mut afters: Vec<i64> = rows
        .iter()
        .map(|x| x["balance_after"].as_i64().unwrap())
        .collect();
    afters.sort_unstable();
    let expected: Vec<i64> = (0..=100).map(|i| i * 30).collect();
    assert_eq!(
        afters, expected,
        "each purchase saw the balance the one before left"
    );
    let r = s.get("/api/v1/inventory", Some(t)).await;
    assert_eq!(
        r.body["items"][0]["quantity"], 1000,
        "100 purchases of 10 gems"
    );
}

#[tokio::test]
async fn the_operator_changes_the_catalogue_live() {
    const SECRET: &str = "an-operator-secret-of-32-bytes-or-more";
    let s = TestServer::start_with(|c| {
        c.economy = catalog();
        c.ops_secret = Some(SECRET.into());
    })
    .await;
    let a = s.register("ops-shopper").await;
    grant(&s, &a, "gold", 1000).await;
    let ops = Some(SECRET);

    // Operator credentials only: no bearer, a player's token, a wrong secret are all 403.
    for token in [None, Some(a.access_token.as_str()), Some("wrong")] {
        let r = s.get("/api/v1/ops/economy/items", token).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    }
    let unset = economy_server().await;
    let r = unset.get("/api/v1/ops/economy/items", ops).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no ops_secret configured");

    // Lists use the ops envelope, paging, sorting and search.
    let r = s.get("/api/v1/ops/economy/items", ops).await;
    assert_eq!(
        r.body["page"],
        json!({"limit": 50, "offset": 0, "total": 3}),
        "{}",
        r.body
    );
    assert_eq!(r.body["data"][0]["id"], "gem");
    assert_eq!(r.body["data"][0]["source"], "game");
    let r = s
        .get(
            "/api/v1/ops/economy/listings?sort=price&order=DESC&limit=2",
            ops,
        )
        .await;
    let prices: Vec<i64> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["price"].as_i64().unwrap())
        .collect();
    assert_eq!(prices, [100, 30]);
    assert_eq!(r.body["page"]["total"], 6, "inactive listings too");
    let r = s.get("/api/v1/ops/economy/listings?q=GEM", ops).await;
    assert_eq!(
        r.body["page"]["total"], 4,
        "ids or items containing gem: {}",
        r.body
    );
    let r = s.get("/api/v1/ops/economy/listings?sort=secret", ops).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "ops.unknown_sort_field")
    );
    assert_eq!(r.body["field"], "secret", "legacy top-level key");
    let r = s.get("/api/v1/ops/economy/items/sword", ops).await;
    assert_eq!(r.body["data"]["stackable"], false);
    let r = s.get("/api/v1/ops/economy/items/nope", ops).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ops.not_found")
    );

    // A price change and a new listing take effect on the next purchase.
    let r = s
        .put(
            "/api/v1/ops/economy/listings/gems10",
            json!({"item": "gem", "quantity": 10, "currency": "gold", "price": 50}),
            ops,
        )
        .await;
    assert_eq!(r.body["data"]["price"], 50, "{}", r.body);
    let r = s
        .put(
            "/api/v1/ops/economy/listings/flash",
            json!({"item": "sword", "currency": "gold", "price": 1}),
            ops,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let t = Some(a.access_token.as_str());
    let r = s
        .post("/api/v1/store/purchase", json!({"listing_id": "gems10"}), t)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s
        .post("/api/v1/store/purchase", json!({"listing_id": "flash"}), t)
        .await;
    assert_eq!(r.body["item"]["item_def_id"], "sword");
    assert_eq!(balance(&s, &a.access_token, "gold").await, 1000 - 50 - 1);

    // Bad bodies are refused with a reason; nothing changes.
    for body in [
        json!({"item": "gem", "currency": "gold", "price": "cheap"}),
        json!({"item": "no-such-item", "currency": "gold", "price": 1}),
        json!({"item": "gem", "currency": "gold", "price": -5}),
        json!({"item": "gem", "currency": "gold", "price": 1, "colour": "red"}),
    ] {
        let r = s
            .put("/api/v1/ops/economy/listings/gems10", body.clone(), ops)
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_payload"),
            "{body}"
        );
    }
    let r = s
        .put("/api/v1/ops/economy/items/bad%20id", json!({}), ops)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_payload")
    );

    // The game's next sync (a reload) leaves the operator's rows alone.
    s.running()
        .state()
        .economy()
        .sync_catalog(&catalog())
        .await
        .unwrap();
    let r = s.get("/api/v1/ops/economy/listings/gems10", ops).await;
    assert_eq!(r.body["data"]["price"], 50);
    let r = s.get("/api/v1/ops/economy/listings/flash", ops).await;
    assert_eq!(
        r.body["data"]["active"], true,
        "not the game's to switch off"
    );
}
