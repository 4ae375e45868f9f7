//! What the benchmarks share.

use sqlx::Connection;

/// A PostgreSQL database of its own, created beside an existing one and
/// dropped at the end, so a benchmark never touches real data.
pub struct FreshDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl FreshDatabase {
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!(
            "ishara_bench_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let mut admin = sqlx::PgConnection::connect(admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        Ok(Self {
            admin_url: admin_url.into(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    pub async fn drop(self) -> anyhow::Result<()> {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await?;
        Ok(())
    }
}
