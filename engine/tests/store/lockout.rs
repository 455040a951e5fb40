//! Sign-in lockout by address and by account.

use super::*;

/// Failed sign-ins count per address and per account: the address is locked
/// at its threshold, an old failure outside the window starts the count again,
/// and the account locks once every address's failures reach its own.
#[tokio::test]
async fn failed_sign_ins_lock_the_address_then_the_account() {
    use herald_engine::store::LockoutPolicy;
    for b in backends().await {
        let u = b
            .store
            .create_user(user("locked@x.io", Role::Viewer), &audit())
            .await
            .unwrap();
        let policy = LockoutPolicy {
            client_threshold: 3,
            client_window: Duration::minutes(15),
            account_threshold: 5,
            account_lock: Duration::minutes(1),
            account_max_lock: Duration::minutes(30),
        };
        let t0 = Utc::now();
        for i in 0..2 {
            let locks = b
                .store
                .record_failed_login(u.id, "10.0.0.1", t0 + Duration::seconds(i), &policy)
                .await
                .unwrap_or_else(|e| panic!("{}: failure {i}: {e}", b.name));
            assert_eq!(locks.client_locked_until, None, "{}: failure {i}", b.name);
        }
        let third = b
            .store
            .record_failed_login(u.id, "10.0.0.1", t0 + Duration::seconds(2), &policy)
            .await
            .unwrap();
        assert!(
            third.client_locked_until.is_some(),
            "{}: the third locks the address",
            b.name
        );
        let state = b
            .store
            .client_login_state(u.id, "10.0.0.1", t0 + Duration::seconds(3), &policy)
            .await
            .unwrap();
        assert!(state.locked_until.is_some(), "{}", b.name);
        // Outside the window the address's count starts again.
        let later = t0 + Duration::hours(1);
        let fresh = b
            .store
            .record_failed_login(u.id, "10.0.0.1", later, &policy)
            .await
            .unwrap();
        assert_eq!(fresh.client_locked_until, None, "{}: a new window", b.name);
        // The account has now failed 4 times; a fifth from another address locks it.
        let fifth = b
            .store
            .record_failed_login(u.id, "10.0.0.2", later, &policy)
            .await
            .unwrap();
        assert!(
            fifth.account_locked_until.is_some(),
            "{}: the account locks",
            b.name
        );
    }
}
