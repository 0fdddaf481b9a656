//! `calls` (written by hand in the sea-orm-cli 2.0 compact format; see `mod.rs`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "calls")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "Text", unique)]
    pub vapi_call_id: String,
    pub calendar_id: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub direction: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub customer_phone: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub status: Option<String>,
    pub status_rank: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub ended_reason: Option<String>,
    pub started_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub duration_seconds: Option<i64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub cost: Option<f64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub summary: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub success_evaluation: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub transcript: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub recording_url: Option<String>,
    pub reported_facts: i32,
    pub transcript_purged_at: Option<DateTimeUtc>,
    pub erased_at: Option<DateTimeUtc>,
    pub listed_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::calendars::Entity",
        from = "Column::CalendarId",
        to = "super::calendars::Column::Id",
        on_update = "Restrict",
        on_delete = "SetNull"
    )]
    Calendars,
}

impl Related<super::calendars::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Calendars.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
