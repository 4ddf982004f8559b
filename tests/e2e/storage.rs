//! Storage properties: credentials never stored in clear, and migrations safe under
//! concurrent starts.

use asobi_server::db::Db;
use sqlx::Row;

use crate::common::{TestServer, fresh_database};

#[tokio::test]
async fn tokens_and_passwords_are_stored_only_as_hashes() {
    let s = TestServer::start().await;
    let pia = s.register("piano").await;
    let db = s.running().state().db();
    let count = |sql: &'static str, arg: String| async move {
        sqlx::query(sql)
            .bind(arg)
            .fetch_one(db.pool())
            .await
            .unwrap()
            .try_get::<i64, _>(0)
            .unwrap()
    };
    for token in [&pia.access_token, &pia.refresh_token] {
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM access_tokens WHERE token_hash = $1",
                token.clone()
            )
            .await,
            0
        );
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = $1",
                token.clone()
            )
            .await,
            0
        );
    }
    let digest = asobi_server::auth::secrets::token_hash(&pia.access_token);
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM access_tokens WHERE token_hash = $1",
            digest
        )
        .await,
        1
    );
    let row = sqlx::query("SELECT password_hash FROM players WHERE id = $1")
        .bind(&pia.player_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    let hash: String = row.try_get(0).unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("password-123"));
}

#[tokio::test]
async fn concurrent_starts_migrate_once() {
    let (url, dir) = fresh_database().await;
    let starts = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let db = Db::connect(&url, 2).await.unwrap();
            db.migrate().await.map(|()| db)
        })
    });
    let results = futures_util::future::join_all(starts).await;
    let postgres = url.starts_with("postgres");
    let mut ok = Vec::new();
    for r in results {
        match r.unwrap() {
            Ok(db) => ok.push(db),
            // SQLite has no cross-connection migration lock; one embedded process migrates.
            Err(e) => assert!(
                !postgres,
                "every concurrent start succeeds on PostgreSQL: {e}"
            ),
        }
    }
    assert!(!ok.is_empty());
    let db = &ok[0];
    db.migrate().await.expect("migrating again is a no-op");
    let applied: i64 = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/sqlite"))
        .unwrap()
        .count();
    assert_eq!(
        applied as usize, files,
        "each migration applied exactly once"
    );
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}
