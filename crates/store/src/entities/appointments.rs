//! `appointments` (sea-orm-cli 2.0, compact format; see `mod.rs`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appointments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub calendar_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub confirmation_code: String,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub blocked_until: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub time_zone: String,
    #[sea_orm(column_type = "Text")]
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub customer_name: String,
    #[sea_orm(column_type = "Text")]
    pub customer_phone: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub customer_email: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub purpose: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub channel: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub vapi_call_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub tool_call_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub idempotency_key: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub cancelled_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub cancel_reason: Option<String>,
    pub service_id: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub service_name: Option<String>,
    /// `starts_at` minus the service's buffer before; never `NULL` once
    /// migrated (PostgreSQL: `NOT NULL`), nullable on SQLite only because
    /// SQLite cannot add a `NOT NULL` column without a constant default.
    pub blocked_from: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::calendars::Entity",
        from = "Column::CalendarId",
        to = "super::calendars::Column::Id",
        on_update = "Restrict",
        on_delete = "Restrict"
    )]
    Calendars,
}

impl Related<super::calendars::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Calendars.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
