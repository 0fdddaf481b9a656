//! `oauth_states` (written by hand in sea-orm-cli's compact format; see `mod.rs`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub digest: String,
    pub user_id: Uuid,
    pub calendar_id: Uuid,
    pub google_calendar_id: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub code_verifier: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
