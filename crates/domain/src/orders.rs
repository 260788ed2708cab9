//! The online order state machine. Pure: which transitions exist and which hold stock.
//!
//! placed → accepted → picked → ready (pickup) or out_for_delivery (delivery) → completed;
//! cancelled from any open state; expired before it leaves the store; refused at hand-over
//! (the age check failed).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    Pickup,
    Delivery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Accepted,
    Picked,
    Ready,
    OutForDelivery,
    Completed,
    Cancelled,
    Expired,
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderAction {
    Accept,
    Pick,
    /// Packed and waiting at the counter (pickup orders).
    Ready,
    /// Handed to a driver (delivery orders).
    Dispatch,
    Complete,
    Cancel,
    Expire,
    /// The customer failed the age check at hand-over.
    Refuse,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::Placed,
        OrderStatus::Accepted,
        OrderStatus::Picked,
        OrderStatus::Ready,
        OrderStatus::OutForDelivery,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::Expired,
        OrderStatus::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Accepted => "accepted",
            OrderStatus::Picked => "picked",
            OrderStatus::Ready => "ready",
            OrderStatus::OutForDelivery => "out_for_delivery",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
            OrderStatus::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// What a customer reads on the tracking page.
    pub fn label(self) -> &'static str {
        match self {
            OrderStatus::Placed => "Order received",
            OrderStatus::Accepted => "Accepted by the store",
            OrderStatus::Picked => "Being packed",
            OrderStatus::Ready => "Ready for pickup",
            OrderStatus::OutForDelivery => "Out for delivery",
            OrderStatus::Completed => "Completed",
            OrderStatus::Cancelled => "Cancelled",
            OrderStatus::Expired => "Expired",
            OrderStatus::Refused => "Not handed over",
        }
    }

    /// Open orders hold their units: the register cannot sell them.
    pub fn holds_stock(self) -> bool {
        matches!(self, OrderStatus::Placed | OrderStatus::Accepted | OrderStatus::Picked | OrderStatus::Ready | OrderStatus::OutForDelivery)
    }
}

impl OrderAction {
    pub fn parse(s: &str) -> Option<OrderAction> {
        use OrderAction::*;
        [Accept, Pick, Ready, Dispatch, Complete, Cancel, Expire, Refuse].into_iter().find(|a| a.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            OrderAction::Accept => "accept",
            OrderAction::Pick => "pick",
            OrderAction::Ready => "ready",
            OrderAction::Dispatch => "dispatch",
            OrderAction::Complete => "complete",
            OrderAction::Cancel => "cancel",
            OrderAction::Expire => "expire",
            OrderAction::Refuse => "refuse",
        }
    }
}

/// The state `action` leads to from `from` for an order of `kind`, or `None` when that
/// transition does not exist.
pub fn next(kind: OrderKind, from: OrderStatus, action: OrderAction) -> Option<OrderStatus> {
    use OrderAction as A;
    use OrderStatus as S;
    Some(match (from, action, kind) {
        (S::Placed, A::Accept, _) => S::Accepted,
        (S::Accepted, A::Pick, _) => S::Picked,
        (S::Picked, A::Ready, OrderKind::Pickup) => S::Ready,
        (S::Picked, A::Dispatch, OrderKind::Delivery) => S::OutForDelivery,
        (S::Ready, A::Complete, OrderKind::Pickup) | (S::OutForDelivery, A::Complete, OrderKind::Delivery) => S::Completed,
        (S::Ready | S::OutForDelivery, A::Refuse, _) => S::Refused,
        (s, A::Cancel, _) if s.holds_stock() => S::Cancelled,
        (S::Placed | S::Accepted | S::Picked | S::Ready, A::Expire, _) => S::Expired,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_paths_and_nothing_leaves_a_final_state() {
        let walk = |kind, actions: &[OrderAction]| actions.iter().try_fold(OrderStatus::Placed, |s, a| next(kind, s, *a));
        use OrderAction::*;
        assert_eq!(walk(OrderKind::Pickup, &[Accept, Pick, Ready, Complete]), Some(OrderStatus::Completed));
        assert_eq!(walk(OrderKind::Delivery, &[Accept, Pick, Dispatch, Complete]), Some(OrderStatus::Completed));
        assert_eq!(walk(OrderKind::Pickup, &[Accept, Pick, Dispatch]), None, "pickup orders are not dispatched");
        assert_eq!(walk(OrderKind::Delivery, &[Accept, Pick, Dispatch, Expire]), None, "an order on the road does not expire");
        assert_eq!(walk(OrderKind::Delivery, &[Accept, Pick, Dispatch, Refuse]), Some(OrderStatus::Refused));
        for s in OrderStatus::ALL.into_iter().filter(|s| !s.holds_stock()) {
            for a in [Accept, Pick, Ready, Dispatch, Complete, Cancel, Expire, Refuse] {
                assert_eq!(next(OrderKind::Pickup, s, a), None, "{s:?} is final");
                assert_eq!(next(OrderKind::Delivery, s, a), None, "{s:?} is final");
            }
        }
    }
}
