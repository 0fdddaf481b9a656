//! `google_connections` (written by hand in sea-orm-cli's compact format; see `mod.rs`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "google_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub calendar_id: Uuid,
    pub google_calendar_id: String,
    pub status: String,
    pub refresh_token: Vec<u8>,
    pub key_id: String,
    pub scopes: Option<String>,
    pub connected_by: Option<Uuid>,
    pub connected_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_synced_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
