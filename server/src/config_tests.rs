//! The configuration's defaults, precedence and refusals.

use super::*;

fn serve(f: impl FnOnce(&mut ServeArgs)) -> ServeArgs {
    let mut s = ServeArgs::default();
    f(&mut s);
    s
}

#[test]
fn defaults_are_valid_and_documented() {
    let c = Config::resolve(&CommonArgs::default(), &ServeArgs::default()).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
    assert_eq!(c.data_dir, PathBuf::from("data"));
    assert_eq!(c.database_url, "sqlite://data/herald.db");
    assert_eq!(c.session_ttl_hours, 12);
    assert!(!c.secure_cookies);
    assert_eq!(
        c.durability,
        herald_engine::store::Durability::Power,
        "a 202 survives a power cut unless the operator chooses otherwise"
    );
    assert_eq!(c.shutdown_grace_secs, 10);
    assert_eq!(c.bad_key_rate_limit, 30);
    assert_eq!(c.delivery_lease_secs, 120);
}

#[test]
fn the_delivery_lease_is_at_least_ten_seconds() {
    let with = |v: &str| {
        Config::resolve(
            &CommonArgs::default(),
            &serve(|s| s.delivery_lease_secs = Some(v.into())),
        )
    };
    assert_eq!(with("10").unwrap().delivery_lease_secs, 10);
    for bad in ["9", "0", "3601", "soon"] {
        let err = with(bad).unwrap_err().to_string();
        assert!(
            err.contains("HERALD_DELIVERY_LEASE_SECS") && err.contains("10 to 3600"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn durability_is_process_or_power() {
    let with = |v: &str| {
        Config::resolve(
            &CommonArgs {
                durability: Some(v.into()),
                ..Default::default()
            },
            &ServeArgs::default(),
        )
    };
    assert_eq!(
        with("process").unwrap().durability,
        herald_engine::store::Durability::Process
    );
    assert_eq!(
        with("power").unwrap().durability,
        herald_engine::store::Durability::Power
    );
    let err = with("disk").unwrap_err().to_string();
    assert!(
        err.contains("HERALD_DURABILITY") && err.contains("process or power"),
        "{err}"
    );
}

#[test]
fn bad_values_name_the_setting_and_what_it_accepts() {
    let err = Config::resolve(
        &CommonArgs::default(),
        &serve(|s| s.listen = Some("nowhere".into())),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`listen`") && err.contains("HERALD_LISTEN") && err.contains("HOST:PORT"),
        "{err}"
    );

    let common = CommonArgs {
        database_url: Some("mysql://x".into()),
        ..Default::default()
    };
    let err = Config::resolve(&common, &ServeArgs::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HERALD_DATABASE_URL") && err.contains("sqlite://"),
        "{err}"
    );

    let err = Config::resolve(
        &CommonArgs::default(),
        &serve(|s| s.admin_password = Some("short".into())),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("HERALD_ADMIN_PASSWORD") && err.contains("at least 8"),
        "{err}"
    );

    let common = CommonArgs {
        log: Some("info,[".into()),
        ..Default::default()
    };
    assert!(
        Config::resolve(&common, &ServeArgs::default())
            .unwrap_err()
            .to_string()
            .contains("HERALD_LOG")
    );

    let err = Config::resolve(
        &CommonArgs::default(),
        &serve(|s| s.session_ttl_hours = Some("0".into())),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("HERALD_SESSION_TTL_HOURS"), "{err}");

    let err = Config::resolve(
        &CommonArgs::default(),
        &serve(|s| s.outbound_allow_cidrs = Some("127.0.0.0/8,intranet".into())),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("HERALD_OUTBOUND_ALLOW_CIDRS") && err.contains("'intranet'"),
        "{err}"
    );
    let err = Config::resolve(
        &CommonArgs::default(),
        &serve(|s| s.api_rate_limit = Some("-5".into())),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("HERALD_API_RATE_LIMIT"), "{err}");
}

#[test]
fn file_settings_apply_and_flags_override_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herald.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:4000\"\ndata_dir = \"/srv/herald\"\nsession_ttl_hours = 2\n",
    )
    .unwrap();
    let common = CommonArgs {
        config: Some(path.clone()),
        ..Default::default()
    };
    let c = Config::resolve(&common, &ServeArgs::default()).unwrap();
    assert_eq!(c.listen.port(), 4000);
    assert_eq!(c.database_url, "sqlite:///srv/herald/herald.db");
    assert_eq!(c.session_ttl_hours, 2);

    let c = Config::resolve(
        &common,
        &serve(|s| s.listen = Some("127.0.0.1:5000".into())),
    )
    .unwrap();
    assert_eq!(c.listen.port(), 5000);
}

#[test]
fn unknown_keys_in_the_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herald.toml");
    std::fs::write(&path, "lisen = \"127.0.0.1:4000\"\n").unwrap();
    let common = CommonArgs {
        config: Some(path),
        ..Default::default()
    };
    let err = Config::resolve(&common, &ServeArgs::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("lisen"), "{err}");
}
