//! End-to-end tests of the agent as real processes: concurrent writers, and a
//! SIGKILL in the middle of a bulk import.

use jxc_e2e::{Site, write_movements, write_products};
use std::time::Duration;

#[test]
fn an_import_and_sales_from_another_process_both_succeed() {
    let site = Site::new("BJ01", &["main", "shop"]);
    let products = site.dir.path().join("products.csv");
    write_products(&products, 200);
    site.ok(&["product", "import", products.to_str().unwrap()]);
    site.ok(&[
        "opening",
        "--location",
        "shop",
        "--sku",
        "SKU-00001",
        "--qty",
        "100",
        "--cost",
        "3",
    ]);
    let file = site.dir.path().join("big.csv");
    write_movements(&file, "main", 200, 150_000);

    let import = site.spawn(&["import", file.to_str().unwrap()]);
    assert!(
        site.wait_until_writing(Duration::from_secs(30)),
        "the import never started writing"
    );
    // Record sales while the import holds the write lock; each must wait its
    // turn, not fail with "database is locked".
    for _ in 0..20 {
        site.ok(&[
            "sell",
            "--location",
            "shop",
            "--sku",
            "SKU-00001",
            "--qty",
            "1",
        ]);
    }
    let out = import.wait();
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(site.movement_count(), 1 + 20 + 200 + 150_000);
    let stock = site.stock();
    let shop = stock.iter().find(|r| r.0 == "shop").expect("shop row");
    assert_eq!(shop.3, "80");
    // 750 sales of 0.5 per SKU: 1000 - 375.
    assert!(
        stock.iter().filter(|r| r.0 == "main").all(|r| r.3 == "625"),
        "{stock:?}"
    );
    site.ok(&["verify"]);
}

#[test]
fn sigkill_during_an_import_leaves_nothing_half_written() {
    let site = Site::new("BJ01", &["main"]);
    let products = site.dir.path().join("products.csv");
    write_products(&products, 500);
    site.ok(&["product", "import", products.to_str().unwrap()]);
    site.ok(&[
        "receive",
        "--location",
        "main",
        "--sku",
        "SKU-00000",
        "--qty",
        "5",
        "--cost",
        "1",
    ]);
    let file = site.dir.path().join("big.csv");
    write_movements(&file, "main", 500, 400_000);

    let import = site.spawn(&["import", file.to_str().unwrap()]);
    // Kill once the import is writing: mid-transaction, whatever the machine's speed.
    assert!(
        site.wait_until_writing(Duration::from_secs(30)),
        "the import never started writing"
    );
    import.kill9();

    // Either none of the file or (had it finished) all of it, never a part.
    let n = site.movement_count();
    assert!(
        n == 1 || n == 1 + 500 + 400_000,
        "half-written import: {n} movements"
    );
    site.ok(&["verify"]);
    // The ledger still takes writes, and the same import can be run again.
    site.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "SKU-00000",
        "--qty",
        "2",
    ]);
    if n == 1 {
        site.ok(&["import", file.to_str().unwrap()]);
        assert_eq!(site.movement_count(), 2 + 500 + 400_000);
    }
    site.ok(&["verify"]);
}
