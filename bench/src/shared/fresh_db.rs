//! The database a service benchmark runs on: a fresh PostgreSQL schema when given a
//! `postgres://` URL, the given SQLite file, or a new SQLite file in the temp dir, migrated.

use asobi_services::db::Db;

/// Opens and migrates the benchmark's database; `name` tags the temp file.
pub async fn open(url: Option<&str>, name: &str) -> Result<Db, Box<dyn std::error::Error>> {
    let tag = format!("{:x}", std::process::id());
    let url = match url {
        Some(u) if u.starts_with("postgres") => {
            let admin = Db::connect(u, 1).await?;
            let schema = format!("asobi_bench_{tag}");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(admin.pool())
                .await?;
            admin.close().await;
            let sep = if u.contains('?') { '&' } else { '?' };
            format!("{u}{sep}options[search_path]={schema}")
        }
        Some(u) => u.to_owned(),
        None => format!(
            "sqlite://{}",
            std::env::temp_dir()
                .join(format!("asobi-bench-{name}-{tag}.db"))
                .display()
        ),
    };
    let db = Db::connect(&url, 16).await?;
    db.migrate().await?;
    println!("database: {}", db.backend().name());
    Ok(db)
}
