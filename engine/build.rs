// The migrations are compiled in (`sqlx::migrate!`): a new or changed file
// under `migrations/` must rebuild the engine, which cargo does not know of
// on its own.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
