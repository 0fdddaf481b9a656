//! `calendars` (sea-orm-cli 2.0, compact format; see `mod.rs`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendars")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "Text", unique)]
    pub slug: String,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub time_zone: String,
    pub created_at: DateTimeUtc,
    pub owner_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub working_hours: String,
    pub slot_minutes: i32,
    pub default_duration_minutes: i32,
    pub min_notice_minutes: i32,
    pub horizon_days: i32,
    pub buffer_minutes: i32,
    /// Closed dates, special hours and time off as JSON (see `closures.rs`).
    #[sea_orm(column_type = "Text", nullable)]
    pub closures: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::appointments::Entity")]
    Appointments,
    #[sea_orm(has_many = "super::calendar_routes::Entity")]
    CalendarRoutes,
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::OwnerId",
        to = "super::users::Column::Id",
        on_update = "Restrict",
        on_delete = "SetNull"
    )]
    Users,
}

impl Related<super::appointments::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Appointments.def()
    }
}

impl Related<super::calendar_routes::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CalendarRoutes.def()
    }
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
