//! What the managed VMs cost, and the opt-in budget that keeps them under a monthly amount
//! (`--max-monthly-cost`): a create or a resize that would bring the VMs' total over it is
//! refused with `BudgetExceeded` and looked at again every minute, so that it goes ahead by
//! itself once other VMs are deleted or made smaller. Prices are the plans' (`plan list`), in
//! USD a month; what a VM costs is in its `status.atProvider.monthlyCost`.
//!
//! The total is that of every LunaVM the operator serves, whatever its account or namespace,
//! each at the price its status shows — and, for five minutes after this process let it have a
//! plan (a create or an upsize checked here), at least at that plan's price: long enough for
//! the new VM or plan to show in its status, short enough that a create refused by the API or
//! a resize that did not happen stops counting. A VM whose create is under way when the
//! operator restarts counts once its status shows its price.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{controller::accounts::Account, telemetry::metrics::Metrics};

/// How often an account's credit is read (`billing credit`): one call an hour per account in
/// use, whatever the number of objects.
pub const CREDIT_INTERVAL: Duration = Duration::from_secs(3600);

/// Days in a month, on average: what a monthly cost is divided by for a daily one.
const DAYS_PER_MONTH: f64 = 30.44;

/// When an account's credit was last read (per-account state).
#[derive(Debug, Default)]
pub struct CreditRead(tokio::sync::Mutex<Option<Instant>>);

/// The account's credit, read when the last read is older than [`CREDIT_INTERVAL`] (else
/// `None`): sets `lunanode_account_credit_usd` and, with `monthly` (what the account's managed
/// VMs cost a month, worked out only then), `lunanode_account_credit_days`. Returns the credit and the days it covers
/// when that is under `min_days`, for a warning. A failed read is logged and tried again at the
/// next interval: the credit is never worth a failed reconcile.
pub async fn read_credit(
    account: &Account,
    metrics: &Metrics,
    monthly: impl FnOnce() -> f64,
    min_days: f64,
) -> Option<(f64, f64)> {
    let memo = account.state::<CreditRead>();
    // Another reconcile reading it now: nothing to wait for.
    let Ok(mut last) = memo.0.try_lock() else {
        return None;
    };
    if last.is_some_and(|at| at.elapsed() < CREDIT_INTERVAL) {
        return None;
    }
    *last = Some(Instant::now());
    let credit = match account.client.billing_credit().await {
        Ok(credit) => credit,
        Err(error) => {
            tracing::warn!(%error, account = %account.log_id(), "reading the account's credit failed");
            return None;
        }
    };
    let account_label = account.log_id();
    metrics.credit(&account_label, credit);
    // Nothing that costs: the credit lasts for ever.
    let days = credit_days(credit, monthly()).unwrap_or(f64::INFINITY);
    metrics.credit_days(&account_label, days);
    (days < min_days).then_some((credit, days))
}

/// How many days `credit` covers at `monthly` a month (`None` when nothing costs).
pub fn credit_days(credit: f64, monthly: f64) -> Option<f64> {
    (monthly > 0.0).then(|| credit / (monthly / DAYS_PER_MONTH))
}

/// How soon a refused create or resize is looked at again (no cloud call: the plan prices are
/// cached for an hour).
pub const BUDGET_RETRY: Duration = Duration::from_secs(60);

/// How long a VM counts at least at the price of a plan it was let have.
pub const SHARE_HOLD: Duration = Duration::from_secs(300);

/// The budget and what it has let each VM cost.
#[derive(Debug, Default)]
pub struct Budget {
    /// The most the VMs may cost together, in USD a month; `None`: no budget.
    limit: Option<f64>,
    /// The monthly price of the plan each VM (by UID) was last let have, and when.
    allowed: Mutex<HashMap<String, (f64, Instant)>>,
}

/// A refusal: what the VMs would cost together, and the budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Exceeded {
    /// The VMs' monthly total with the change.
    pub total: f64,
    /// The budget.
    pub limit: f64,
}

impl Exceeded {
    /// The condition message for a VM that asked for a plan of `price` a month.
    pub fn message(&self, price: f64) -> String {
        format!(
            "this plan costs ${price:.2}/month and would bring the managed VMs to ${:.2}/month, over the budget of ${:.2}/month (--max-monthly-cost); looked at again every minute",
            self.total, self.limit
        )
    }
}

impl Budget {
    /// A budget of `limit` USD a month (`None`: none).
    pub fn new(limit: Option<f64>) -> Self {
        Self {
            limit,
            allowed: Mutex::default(),
        }
    }

    /// Whether a budget is set.
    pub fn is_set(&self) -> bool {
        self.limit.is_some()
    }

    /// Lets VM `uid` have a plan of `price` a month, or refuses: `others` are every other VM
    /// (UID, the price its status shows). What is let is remembered for [`SHARE_HOLD`], so that
    /// two creates checked one after the other each count the first before its status shows a
    /// price. One lock covers the check and the record.
    pub fn allow(
        &self,
        uid: &str,
        price: f64,
        others: &[(String, Option<f64>)],
    ) -> Result<(), Exceeded> {
        self.allow_at(uid, price, others, Instant::now())
    }

    fn allow_at(
        &self,
        uid: &str,
        price: f64,
        others: &[(String, Option<f64>)],
        now: Instant,
    ) -> Result<(), Exceeded> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let mut allowed = self
            .allowed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        allowed.retain(|_, (_, at)| now.saturating_duration_since(*at) < SHARE_HOLD);
        let others_total: f64 = others
            .iter()
            .filter(|(other, _)| other != uid)
            .map(|(other, shown)| {
                let share = allowed.get(other).map(|(share, _)| *share);
                shown.unwrap_or(0.0).max(share.unwrap_or(0.0))
            })
            .sum();
        let total = others_total + price;
        // A cent of slack: prices are rounded to the cent, their sums are not.
        if total > limit + 0.005 {
            return Err(Exceeded { total, limit });
        }
        allowed.insert(uid.to_owned(), (price, now));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn others(list: &[(&str, Option<f64>)]) -> Vec<(String, Option<f64>)> {
        list.iter()
            .map(|(uid, price)| ((*uid).to_owned(), *price))
            .collect()
    }

    #[test]
    fn the_credit_covers_days_at_the_monthly_cost() {
        assert_eq!(credit_days(100.0, 0.0), None);
        let days = credit_days(30.44, 30.44).unwrap_or_default();
        assert!((days - 30.44).abs() < 1e-9, "{days}");
        let days = credit_days(7.0, 30.44 * 2.0).unwrap_or_default();
        assert!((days - 3.5).abs() < 1e-9, "{days}");
    }

    #[test]
    fn no_budget_allows_anything() {
        let budget = Budget::new(None);
        assert!(!budget.is_set());
        assert_eq!(budget.allow("a", 1e9, &others(&[("b", Some(1e9))])), Ok(()));
    }

    #[test]
    fn the_total_with_the_new_plan_must_fit() {
        let budget = Budget::new(Some(20.0));
        let listed = others(&[("b", Some(7.0)), ("c", None)]);
        assert_eq!(budget.allow("a", 13.0, &listed), Ok(()));
        let refused = budget.allow("d", 0.01, &others(&[("a", None), ("b", Some(7.0))]));
        assert_eq!(
            refused,
            Err(Exceeded {
                total: 20.01,
                limit: 20.0
            })
        );
        let message = refused.err().map(|e| e.message(0.01)).unwrap_or_default();
        assert!(message.contains("$20.01/month") && message.contains("$20.00/month"));
    }

    #[test]
    fn a_vm_counts_at_least_at_what_it_was_let_have_for_a_while() {
        let budget = Budget::new(Some(10.0));
        let start = Instant::now();
        assert_eq!(budget.allow_at("a", 6.0, &[], start), Ok(()));
        // `a` shows no price yet: it still counts at 6.
        let a_unpriced = others(&[("a", None)]);
        assert!(budget.allow_at("b", 6.0, &a_unpriced, start).is_err());
        // A resize of `a` itself replaces its own share.
        assert_eq!(
            budget.allow_at("a", 9.0, &others(&[("b", None)]), start),
            Ok(())
        );
        // Its status shows more than its share: the status counts.
        assert!(
            budget
                .allow_at("c", 2.0, &others(&[("a", Some(9.5))]), start)
                .is_err()
        );
        // Five minutes on, a share no status confirms (a refused create) no longer counts.
        let later = start + SHARE_HOLD;
        assert_eq!(budget.allow_at("b", 6.0, &a_unpriced, later), Ok(()));
    }
}
