//! What the keyset-paged listings (appointments, calls, the audit log)
//! share: the calendars a reader may see, a time window, and the page
//! bound `(time, id)` past the last row of the previous page.
//!
//! Stored times are whole seconds, so bounds are rounded up to whole seconds
//! (`[from, to)` keeps the same rows), and an instant between seconds
//! equals no stored time.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, EntityTrait, Order, QueryFilter, QueryOrder, Select};
use voice_scheduler_domain::ports::CalendarScope;

use crate::entities::calendars;
use crate::rows::ceil_seconds;

/// Keeps the rows of the calendars in `scope` (`calendar` is the row's
/// calendar column).
pub(crate) fn in_scope<E: EntityTrait>(
    select: Select<E>,
    calendar: E::Column,
    scope: CalendarScope,
) -> Select<E> {
    match scope {
        CalendarScope::All => select,
        CalendarScope::One(id) => select.filter(calendar.eq(id.as_uuid())),
        CalendarScope::OwnedBy(owner) => select.filter(
            calendar.in_subquery(
                Query::select()
                    .column(calendars::Column::Id)
                    .from(calendars::Entity)
                    .and_where(calendars::Column::OwnerId.eq(owner.as_uuid()))
                    .to_owned(),
            ),
        ),
    }
}

/// Keeps the rows whose `time` is in `[from, to)` (either end open when
/// `None`).
pub(crate) fn within<E: EntityTrait>(
    mut select: Select<E>,
    time: E::Column,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Select<E> {
    if let Some(from) = from {
        select = select.filter(time.gte(ceil_seconds(from)));
    }
    if let Some(to) = to {
        select = select.filter(time.lt(ceil_seconds(to)));
    }
    select
}

/// Orders by `(time, id)` in `order` and keeps the rows past `last` in that
/// order: `(time, id) > last` ascending, `< last` descending. The plain
/// bound on `time` beside the row comparison lets every planner start the
/// index range scan there.
pub(crate) fn page<E, I>(
    select: Select<E>,
    time: E::Column,
    id: E::Column,
    order: Order,
    last: Option<(DateTime<Utc>, I)>,
) -> Select<E>
where
    E: EntityTrait,
    I: Into<sea_orm::Value>,
{
    let select = select
        .order_by(time, order.clone())
        .order_by(id, order.clone());
    let Some((last_time, last_id)) = last else {
        return select;
    };
    let stored = ceil_seconds(last_time);
    let ascending = matches!(order, Order::Asc);
    if stored != last_time {
        // No stored time equals an instant between whole seconds.
        return if ascending {
            select.filter(time.gte(stored))
        } else {
            select.filter(time.lt(stored))
        };
    }
    let row = Expr::tuple([
        Expr::col((E::default(), time)),
        Expr::col((E::default(), id)),
    ]);
    let bound = Expr::tuple([Expr::value(last_time), Expr::value(last_id.into())]);
    if ascending {
        select.filter(time.gte(last_time)).filter(row.gt(bound))
    } else {
        select.filter(time.lte(last_time)).filter(row.lt(bound))
    }
}
