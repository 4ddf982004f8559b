//! Issue 19: sign-in with identity providers, link/unlink and guest upgrade (`rest.md`
//! §5.1–5.2), through the production code against local providers: an OpenID Connect issuer
//! publishing discovery and keys as Google, Apple, Microsoft and Discord do, and an endpoint
//! speaking the Steam Web API's `AuthenticateUserTicket`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use asobi_server::Config;
use asobi_services::signin::test_support::TestKey;
use asobi_services::signin::{HookFuture, ProviderConfig, SignInHook, Verified};
use axum::extract::{Query, State};
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Account, TestServer};

/// A local OpenID provider: discovery at `/.well-known/openid-configuration`, keys at
/// `/jwks`, and ID tokens signed with the first published key.
struct Idp {
    base: String,
    /// The discovery document's `issuer` (may hold `{tenantid}`).
    issuer: String,
    keys: Arc<Mutex<Vec<Arc<TestKey>>>>,
    jwks_hits: Arc<AtomicU64>,
}

#[derive(Clone)]
struct IdpState {
    issuer: String,
    base: String,
    keys: Arc<Mutex<Vec<Arc<TestKey>>>>,
    jwks_hits: Arc<AtomicU64>,
}

impl Idp {
    /// Issuer `<base><issuer_path>`, publishing `key`.
    async fn start(issuer_path: &str, key: TestKey) -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = IdpState {
            issuer: format!("{base}{issuer_path}"),
            base: base.clone(),
            keys: Arc::new(Mutex::new(vec![Arc::new(key)])),
            jwks_hits: Arc::new(AtomicU64::new(0)),
        };
        async fn discovery(State(s): State<IdpState>) -> axum::Json<Value> {
            axum::Json(json!({
                "issuer": s.issuer,
                "jwks_uri": format!("{}/jwks", s.base),
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            }))
        }
        async fn jwks(State(s): State<IdpState>) -> axum::Json<Value> {
            s.jwks_hits.fetch_add(1, Ordering::SeqCst);
            let keys: Vec<Value> = s.keys.lock().unwrap().iter().map(|k| k.jwk()).collect();
            axum::Json(json!({ "keys": keys }))
        }
        let mut app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks));
        // Issuers with a path publish discovery under it (Keycloak's realms).
        if !issuer_path.is_empty() && !issuer_path.contains('{') {
            app = app.route(
                &format!("{issuer_path}/.well-known/openid-configuration"),
                get(discovery),
            );
        }
        let app = app.with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Idp {
            base,
            issuer: state.issuer,
            keys: state.keys,
            jwks_hits: state.jwks_hits,
        }
    }

    /// The provider settings an operator would write for this issuer.
    fn config(&self, client_id: &str) -> ProviderConfig {
        ProviderConfig {
            discovery_url: Some(format!("{}/.well-known/openid-configuration", self.base)),
            client_ids: vec![client_id.to_owned()],
            ..ProviderConfig::default()
        }
    }

    /// Publishes only `key` from now on (a rotation).
    fn rotate(&self, key: TestKey) {
        *self.keys.lock().unwrap() = vec![Arc::new(key)];
    }

    fn hits(&self) -> u64 {
        self.jwks_hits.load(Ordering::SeqCst)
    }

    /// Standard claims for `sub`, valid for ten minutes, for audience `aud`.
    fn claims(&self, aud: &str, sub: &str) -> Value {
        let now = asobi_server::time::now_ms() / 1000;
        json!({"iss": self.issuer, "aud": aud, "sub": sub, "iat": now, "exp": now + 600})
    }

    /// `claims` signed with the published key.
    fn sign(&self, claims: &Value) -> String {
        self.keys.lock().unwrap()[0].sign(claims)
    }
}

/// A local Steam Web API: app 480, key `steam-key`; ticket `deadbeef` is SteamID
/// 76561197960287930, any other is refused with Steam's error object.
async fn fake_steam() -> String {
    async fn authenticate(
        Query(q): Query<HashMap<String, String>>,
    ) -> (StatusCode, axum::Json<Value>) {
        if q.get("key").map(String::as_str) != Some("steam-key") {
            return (StatusCode::FORBIDDEN, axum::Json(json!({})));
        }
        let answer = match (
            q.get("appid").map(String::as_str),
            q.get("ticket").map(String::as_str),
        ) {
            (Some("480"), Some("deadbeef")) => json!({"response": {"params": {
                "result": "OK", "steamid": "76561197960287930", "ownersteamid": "76561197960287930",
                "vacbanned": false, "publisherbanned": false}}}),
            _ => json!({"response": {"error": {"errorcode": 101, "errordesc": "Invalid ticket"}}}),
        };
        (StatusCode::OK, axum::Json(answer))
    }
    let app = axum::Router::new().route(
        "/ISteamUserAuth/AuthenticateUserTicket/v1/",
        get(authenticate),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// A studio's own tokens: `studio:<id>` is player `<id>`.
struct StudioHook;

impl SignInHook for StudioHook {
    fn verify<'a>(&'a self, token: &'a str) -> HookFuture<'a> {
        Box::pin(async move {
            match token.strip_prefix("studio:") {
                Some(id) => Ok(Verified {
                    uid: id.to_owned(),
                    display_name: Some(format!("Studio {id}")),
                }),
                None => Err("not a studio token".to_owned()),
            }
        })
    }
}

/// Every provider at once: the four named OIDC ones, a custom issuer signing ES256, Steam
/// and the studio hook.
struct Providers {
    google: Idp,
    apple: Idp,
    microsoft: Idp,
    discord: Idp,
    corp: Idp,
}

async fn providers() -> (Providers, String) {
    let p = Providers {
        google: Idp::start("", TestKey::rsa(0, "g1")).await,
        apple: Idp::start("", TestKey::rsa(0, "a1")).await,
        microsoft: Idp::start("/{tenantid}/v2.0", TestKey::rsa(1, "m1")).await,
        discord: Idp::start("", TestKey::rsa(1, "d1")).await,
        corp: Idp::start("/realms/game", TestKey::ec("c1")).await,
    };
    (p, fake_steam().await)
}

fn configure(c: &mut Config, p: &Providers, steam: &str) {
    let mut google = p.google.config("web.apps.googleusercontent.com");
    // Rotation is tested here: a new key id may be fetched at once.
    google.key_refresh_min_secs = 0;
    c.auth_providers.insert("google".into(), google);
    c.auth_providers
        .insert("apple".into(), p.apple.config("com.studio.game"));
    c.auth_providers
        .insert("microsoft".into(), p.microsoft.config("ms-client"));
    c.auth_providers
        .insert("discord".into(), p.discord.config("discord-client"));
    let mut corp = p.corp.config("game");
    corp.issuer = Some(p.corp.issuer.clone());
    corp.discovery_url = None;
    c.auth_providers.insert("corp".into(), corp);
    // Pinned to an issuer the discovery document does not name: never trusted.
    let mut pinned = p.corp.config("game");
    pinned.issuer = Some(p.corp.base.clone());
    pinned.discovery_url = None;
    c.auth_providers.insert("pinned".into(), pinned);
    c.auth_providers.insert(
        "steam".into(),
        ProviderConfig {
            app_id: Some(480),
            web_api_key: Some("steam-key".into()),
            api_url: Some(steam.to_owned()),
            ..ProviderConfig::default()
        },
    );
    c.auth_providers.insert(
        "facebook".into(),
        ProviderConfig {
            enabled: false,
            issuer: Some("https://www.facebook.com".into()),
            client_ids: vec!["fb".into()],
            ..ProviderConfig::default()
        },
    );
}

async fn server(p: &Providers, steam: &str, adjust: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_game(
        asobi_server::Game::default().sign_in("studio", StudioHook),
        |c| {
            configure(c, p, steam);
            adjust(c);
        },
    )
    .await
}

async fn oauth(s: &TestServer, provider: &str, token: &str) -> crate::common::Reply {
    s.post(
        "/api/v1/auth/oauth",
        json!({"provider": provider, "token": token}),
        None,
    )
    .await
}

#[tokio::test]
async fn each_provider_signs_in_and_creates_the_player_once() {
    let (p, steam) = providers().await;
    let s = server(&p, &steam, |_| {}).await;
    let mut ms = p.microsoft.claims("ms-client", "ms-user-1");
    ms["iss"] = json!(p.microsoft.issuer.replace("{tenantid}", "tenant-42"));
    ms["tid"] = json!("tenant-42");
    let mut google = p
        .google
        .claims("web.apps.googleusercontent.com", "1234567890");
    google["name"] = json!("Gail Google");
    let cases = [
        ("google", p.google.sign(&google), "google_34567890_"),
        (
            "apple",
            p.apple
                .sign(&p.apple.claims("com.studio.game", "001234.abcdef.0042")),
            "apple_cdef0042_",
        ),
        ("microsoft", p.microsoft.sign(&ms), "microsoft_msuser1_"),
        (
            "discord",
            p.discord
                .sign(&p.discord.claims("discord-client", "80351110224678912")),
            "discord_24678912_",
        ),
        (
            "corp",
            p.corp.sign(&p.corp.claims("game", "e-7")),
            "corp_e7_",
        ),
        ("steam", "deadbeef".to_owned(), "steam_60287930_"),
        ("studio", "studio:alice".to_owned(), "studio_alice_"),
    ];
    for (provider, token, prefix) in cases {
        let first = oauth(&s, provider, &token).await;
        assert_eq!(first.status, StatusCode::OK, "{provider}: {}", first.body);
        assert_eq!(first.body["created"], true, "{provider}");
        let username = first.body["username"].as_str().unwrap();
        assert!(username.starts_with(prefix), "{provider}: {username}");
        assert_eq!(username.len(), prefix.len() + 4, "{provider}: 4 hex digits");
        for key in ["player_id", "access_token", "refresh_token"] {
            assert!(first.body[key].is_string(), "{provider}: {key}");
        }
        // The same identity signs in to the same player, and creates nothing.
        let again = oauth(&s, provider, &token).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.body["player_id"], first.body["player_id"]);
        assert!(again.body.get("created").is_none(), "{provider}");
        let me = s
            .get(
                &format!(
                    "/api/v1/players/{}",
                    first.body["player_id"].as_str().unwrap()
                ),
                again.body["access_token"].as_str(),
            )
            .await;
        assert_eq!(me.status, StatusCode::OK);
        if provider == "google" {
            assert_eq!(me.body["display_name"], "Gail Google");
        }
        if provider == "studio" {
            assert_eq!(me.body["display_name"], "Studio alice");
        }
    }
}

#[tokio::test]
async fn bad_tokens_are_refused_with_the_reason() {
    let (p, steam) = providers().await;
    let s = server(&p, &steam, |_| {}).await;
    let aud = "web.apps.googleusercontent.com";
    let now = asobi_server::time::now_ms() / 1000;
    let forged = TestKey::rsa(1, "g1").sign(&p.google.claims(aud, "u"));
    let mut expired = p.google.claims(aud, "u");
    expired["exp"] = json!(now - 3600);
    expired["iat"] = json!(now - 7200);
    let mut future = p.google.claims(aud, "u");
    future["nbf"] = json!(now + 3600);
    let mut foreign = p.google.claims(aud, "u");
    foreign["iss"] = json!("https://accounts.example.com");
    let mut no_sub = p.google.claims(aud, "u");
    no_sub.as_object_mut().unwrap().remove("sub");
    let cases = [
        ("google", forged, "bad_signature"),
        (
            "google",
            p.google.sign(&p.google.claims("someone-else", "u")),
            "wrong_audience",
        ),
        ("google", p.google.sign(&expired), "expired"),
        ("google", p.google.sign(&future), "not_yet_valid"),
        ("google", p.google.sign(&foreign), "wrong_issuer"),
        ("google", p.google.sign(&no_sub), "missing_subject"),
        // Apple's keys do not sign for Google.
        (
            "google",
            p.apple.sign(&p.google.claims(aud, "u")),
            "unknown_key",
        ),
        ("google", "not.a-token".to_owned(), "malformed"),
        ("steam", "0bad".to_owned(), "denied"),
        ("steam", "xyz".to_owned(), "malformed"),
        ("studio", "someone else's".to_owned(), "denied"),
        (
            "pinned",
            p.corp.sign(&p.corp.claims("game", "c")),
            "provider_unavailable",
        ),
    ];
    for (provider, token, reason) in cases {
        let r = oauth(&s, provider, &token).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "auth.provider_rejected"),
            "{reason}: {}",
            r.body
        );
        assert_eq!(r.body["error"]["details"]["reason"], reason, "{}", r.body);
    }
    // A nonce given must be the token's.
    let mut with_nonce = p.google.claims(aud, "u");
    with_nonce["nonce"] = json!("n-1");
    let token = p.google.sign(&with_nonce);
    for (nonce, status) in [("n-2", StatusCode::UNAUTHORIZED), ("n-1", StatusCode::OK)] {
        let r = s
            .post(
                "/api/v1/auth/oauth",
                json!({"provider": "google", "token": token, "nonce": nonce}),
                None,
            )
            .await;
        assert_eq!(r.status, status, "{}", r.body);
    }
    // Unknown and disabled providers; missing fields.
    for provider in ["myspace", "facebook"] {
        let r = oauth(&s, provider, "x").await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "auth.unsupported_provider")
        );
    }
    let r = s
        .post("/api/v1/auth/oauth", json!({"provider": "google"}), None)
        .await;
    assert_eq!(r.code(), "missing_field");
    // The server kept serving throughout.
    let ok = oauth(
        &s,
        "google",
        &p.google.sign(&p.google.claims(aud, "still-fine")),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn keys_are_fetched_once_and_again_only_for_a_new_key_id() {
    let (p, steam) = providers().await;
    let s = server(&p, &steam, |_| {}).await;
    let aud = "web.apps.googleusercontent.com";
    for i in 0..5 {
        let r = oauth(
            &s,
            "google",
            &p.google.sign(&p.google.claims(aud, &format!("u{i}"))),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(p.google.hits(), 1, "fetched once, not per request");

    // Google rotates: a token signed with the new key is accepted after one fetch.
    p.google.rotate(TestKey::rsa(1, "g2"));
    let r = oauth(&s, "google", &p.google.sign(&p.google.claims(aud, "after"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(p.google.hits(), 2);

    // With the default minimum interval, made-up key ids cost no fetch at all.
    let ok = oauth(&s, "corp", &p.corp.sign(&p.corp.claims("game", "c"))).await;
    assert_eq!(ok.status, StatusCode::OK);
    for i in 0..5 {
        let stranger = TestKey::ec(&format!("made-up-{i}")).sign(&p.corp.claims("game", "c"));
        let r = oauth(&s, "corp", &stranger).await;
        assert_eq!(r.body["error"]["details"]["reason"], "unknown_key");
    }
    assert_eq!(p.corp.hits(), 1);
}

#[tokio::test]
async fn closed_registration_refuses_new_players_but_not_known_identities() {
    let (p, steam) = providers().await;
    let aud = "web.apps.googleusercontent.com";
    let token = p.google.sign(&p.google.claims(aud, "known"));
    let s = server(&p, &steam, |_| {}).await;
    assert_eq!(oauth(&s, "google", &token).await.status, StatusCode::OK);
    let database = s.database_url.clone();
    let mut s = s;
    s.stop().await;
    let s = TestServer::start_on_with_game(database, Vec::new(), Vec::new(), |c| {
        configure(c, &p, &steam);
        c.registration = asobi_server::config::Registration::Closed;
    })
    .await;
    let r = oauth(
        &s,
        "google",
        &p.google.sign(&p.google.claims(aud, "newcomer")),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "auth.registration_closed")
    );
    assert_eq!(oauth(&s, "google", &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn identities_link_and_unlink_but_never_the_last_one() {
    let (p, steam) = providers().await;
    let s = server(&p, &steam, |_| {}).await;
    let aud = "web.apps.googleusercontent.com";
    let google = p.google.sign(&p.google.claims(aud, "g-77"));
    let discord = p.discord.sign(&p.discord.claims("discord-client", "d-77"));
    let link = |token: &str, provider: &str, bearer: &str| {
        let body = json!({"provider": provider, "token": token});
        let bearer = bearer.to_owned();
        let s = &s;
        async move { s.post("/api/v1/auth/link", body, Some(&bearer)).await }
    };
    let unlink = |provider: &str, bearer: &str| {
        let path = format!("/api/v1/auth/unlink?provider={provider}");
        let bearer = bearer.to_owned();
        let s = &s;
        async move { s.delete(&path, Some(&bearer)).await }
    };

    // A password player links Google, then signs in with it.
    let pw = s.register("linker").await;
    let r = link(&google, "google", &pw.access_token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"provider": "google", "provider_uid": "g-77", "linked": true})
    );
    let r = oauth(&s, "google", &google).await;
    assert_eq!(r.body["player_id"], pw.player_id.as_str());
    assert!(r.body.get("created").is_none());
    // Linking it again is fine; to someone else it is taken.
    assert_eq!(
        link(&google, "google", &pw.access_token).await.status,
        StatusCode::OK
    );
    let other = s.register("other_one").await;
    let r = link(&google, "google", &other.access_token).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "auth.provider_already_linked")
    );
    // The password remains, so Google can go.
    let r = unlink("google", &pw.access_token).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (StatusCode::OK, json!({"success": true}))
    );
    let r = unlink("google", &pw.access_token).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "auth.identity_not_found")
    );
    let r = s
        .delete("/api/v1/auth/unlink", Some(&pw.access_token))
        .await;
    assert_eq!(r.code(), "missing_field");

    // A player made by Discord has nothing else: Discord cannot go until Google is linked.
    let made = oauth(&s, "discord", &discord).await;
    let token = made.body["access_token"].as_str().unwrap().to_owned();
    let r = unlink("discord", &token).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "auth.last_auth_method")
    );
    assert_eq!(link(&google, "google", &token).await.status, StatusCode::OK);
    assert_eq!(unlink("discord", &token).await.status, StatusCode::OK);
    let r = oauth(&s, "google", &google).await;
    assert_eq!(r.body["player_id"], made.body["player_id"]);
    // Bad tokens are refused on link as on sign-in.
    let r = link("junk", "google", &token).await;
    assert_eq!(r.code(), "auth.provider_rejected");
    let r = s
        .post(
            "/api/v1/auth/link",
            json!({"provider": "google", "token": google}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_guest_upgrades_and_every_earlier_token_is_revoked() {
    use base64::Engine;
    let s = TestServer::start_with(|c| {
        c.guest_auth = true;
        c.guest_pepper = Some("a pepper of at least thirty-two bytes".into());
    })
    .await;
    let secret = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
    let g = s
        .post(
            "/api/v1/auth/guest",
            json!({"device_id": "phone", "device_secret": secret}),
            None,
        )
        .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let guest = Account::from(&g.body);
    let mut ws = s.ws_as(&guest).await;

    let upgrade = |body: Value| {
        s.post(
            "/api/v1/auth/guest/upgrade",
            body,
            Some(&guest.access_token),
        )
    };
    let r = upgrade(json!({"username": "x", "password": "password-123"})).await;
    assert_eq!(r.code(), "validation_failed");
    assert!(r.body["fields"]["username"].is_array(), "{}", r.body);
    let r = upgrade(json!({"username": "grown_up"})).await;
    assert_eq!(r.code(), "missing_field");
    s.register("taken_name").await;
    let r = upgrade(json!({"username": "taken_name", "password": "password-123"})).await;
    assert_eq!(r.code(), "auth.username_taken");

    let r = upgrade(json!({"username": "grown_up", "password": "password-123"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["upgraded"], true);
    assert_eq!(r.body["username"], "grown_up");
    assert_eq!(r.body["player_id"], guest.player_id.as_str());
    // The guest's socket closes, its tokens are dead, the new pair works.
    let closed = ws.closed().await;
    assert_eq!(closed.reason, "session_revoked", "{closed:?}");
    let me = format!("/api/v1/players/{}", guest.player_id);
    assert_eq!(
        s.get(&me, Some(&guest.access_token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r2 = s
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": guest.refresh_token}),
            None,
        )
        .await;
    assert_eq!(r2.status, StatusCode::UNAUTHORIZED);
    let fresh = r.body["access_token"].as_str().unwrap();
    let profile = s.get(&me, Some(fresh)).await;
    assert_eq!(profile.body["display_name"], "grown_up");
    let login = s
        .post(
            "/api/v1/auth/login",
            json!({"username": "grown_up", "password": "password-123"}),
            None,
        )
        .await;
    assert_eq!(login.body["player_id"], guest.player_id.as_str());
    // Only once; the device no longer signs in.
    let r = s
        .post(
            "/api/v1/auth/guest/upgrade",
            json!({"username": "again", "password": "password-123"}),
            Some(fresh),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "guest.not_unclaimed")
    );
    let r = s
        .post(
            "/api/v1/auth/guest",
            json!({"device_id": "phone", "device_secret": secret}),
            None,
        )
        .await;
    assert_eq!(r.code(), "guest.already_upgraded");
}
