use super::*;
use automerge::ReadDoc;

fn site(s: &str) -> SiteId {
    SiteId::parse(s).unwrap()
}

fn item(sku: &str, name: &str, category: &str, price: &str) -> CatalogItem {
    CatalogItem::from_text(|c| match c {
        "sku" => sku.into(),
        "name" => name.into(),
        "category" => category.into(),
        "list_price" => price.into(),
        "decimals" => "2".into(),
        _ => String::new(),
    })
    .unwrap()
}

#[test]
fn doc_ids_round_trip_and_refuse_nonsense() {
    for s in [
        "catalog/00",
        "catalog/63",
        "customers/BR-1",
        "policy/DL-1",
        "skumap/DL-1",
    ] {
        assert_eq!(DocId::parse(s).unwrap().to_string(), s);
    }
    for bad in [
        "catalog/64",
        "catalog/7",
        "ledger/BR-1",
        "customers/",
        "nothing",
    ] {
        let e = DocId::parse(bad).unwrap_err();
        assert_eq!(e.value, bad, "{e}");
    }
}

#[test]
fn shards_are_stable_and_spread() {
    assert_eq!(catalog_shard("SKU-1"), catalog_shard("SKU-1"));
    let used: std::collections::BTreeSet<_> = (0..5000)
        .map(|i| catalog_shard(&format!("SKU-{i}")))
        .collect();
    assert_eq!(used.len(), CATALOG_SHARDS as usize);
}

#[test]
fn rewriting_an_unchanged_item_adds_no_history() {
    let mut doc = AutoCommit::new();
    let it = item("茶-1", "龙井, \"特级\"", "tea", "12.50");
    assert!(it.write(&mut doc).unwrap() > 0);
    doc.commit();
    assert_eq!(it.write(&mut doc).unwrap(), 0);
    assert!(doc.commit().is_none());
    let read: Vec<_> = CatalogItem::read_all(&doc)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(read, vec![it]);
}

#[test]
fn concurrent_customer_edits_merge_field_by_field_and_show_the_conflict() {
    let hq = hub_actor(b"ca");
    let br = site_actor(b"branch cert");
    let mut base = AutoCommit::new().with_actor(br.clone());
    Customer::set(
        &mut base,
        "C1",
        &[(
            CustomerField::Name,
            CustomerField::Name.value("王五").unwrap(),
        )],
    )
    .unwrap();
    base.commit();
    let mut at_hq = base.fork().with_actor(hq);
    let mut at_branch = base.fork().with_actor(br);
    let limit = |v: &str| CustomerField::CreditLimit.value(v).unwrap();
    Customer::set(
        &mut at_hq,
        "C1",
        &[(CustomerField::CreditLimit, limit("5000"))],
    )
    .unwrap();
    Customer::set(
        &mut at_branch,
        "C1",
        &[
            (CustomerField::CreditLimit, limit("8000")),
            (
                CustomerField::Phone,
                CustomerField::Phone.value("021-555").unwrap(),
            ),
        ],
    )
    .unwrap();
    at_hq.commit();
    at_branch.commit();
    let mut a = at_hq.fork();
    a.merge(&mut at_branch).unwrap();
    let mut b = at_branch.fork();
    b.merge(&mut at_hq).unwrap();
    let (ca, cb) = (
        Customer::read(&a, "C1").unwrap(),
        Customer::read(&b, "C1").unwrap(),
    );
    assert_eq!(ca, cb, "both replicas resolve the same way");
    assert_eq!(ca.phone, "021-555");
    assert_eq!(ca.name, "王五");
    let shown = ca.credit_limit.unwrap().decimal().to_string();
    assert_eq!(ca.conflicts.len(), 1);
    let (field, others) = &ca.conflicts[0];
    assert_eq!(field, "credit_limit");
    let other = if shown == "5000" { "8000" } else { "5000" };
    assert_eq!(others, &vec![other.to_owned()]);
}

fn last_change(doc: &mut AutoCommit) -> ExpandedChange {
    doc.commit();
    doc.get_last_local_change().unwrap().decode()
}

#[test]
fn authorization_follows_the_document_rules() {
    let br = site("BR-1");
    let dl = site("DL-1");
    let mut customers = AutoCommit::new();
    Customer::set(
        &mut customers,
        "C1",
        &[(CustomerField::Name, CustomerField::Name.value("x").unwrap())],
    )
    .unwrap();
    let create = last_change(&mut customers);
    let doc = DocId::Customers(br.clone());
    let branch = Some(SiteKind::Branch);
    assert!(authorize(&doc, branch, Writer::Site(&br), &create).is_ok());
    assert!(authorize(&doc, branch, Writer::Site(&dl), &create).is_err());
    let e = authorize(&doc, branch, Writer::Hub, &create).unwrap_err();
    assert!(e.contains("may not add"), "{e}");

    Customer::set(
        &mut customers,
        "C1",
        &[(CustomerField::TermsDays, ScalarValue::Int(30))],
    )
    .unwrap();
    let terms = last_change(&mut customers);
    assert!(authorize(&doc, branch, Writer::Hub, &terms).is_ok());
    let dealer_doc = DocId::Customers(dl.clone());
    assert!(authorize(&dealer_doc, Some(SiteKind::Dealer), Writer::Hub, &terms).is_err());

    Customer::set(
        &mut customers,
        "C1",
        &[(CustomerField::Phone, ScalarValue::Str("1".into()))],
    )
    .unwrap();
    let phone = last_change(&mut customers);
    let e = authorize(&doc, branch, Writer::Hub, &phone).unwrap_err();
    assert!(e.contains("not phone"), "{e}");

    let mut cat = AutoCommit::new();
    item("A", "a", "", "").write(&mut cat).unwrap();
    let c = last_change(&mut cat);
    assert!(authorize(&DocId::Catalog(3), None, Writer::Hub, &c).is_ok());
    assert!(authorize(&DocId::Catalog(3), None, Writer::Site(&dl), &c).is_err());

    let mut pol = AutoCommit::new();
    SharePolicy::everything().write(&mut pol).unwrap();
    let c = last_change(&mut pol);
    let dealer = Some(SiteKind::Dealer);
    assert!(authorize(&DocId::Policy(dl.clone()), dealer, Writer::Site(&dl), &c).is_ok());
    assert!(authorize(&DocId::Policy(dl.clone()), dealer, Writer::Hub, &c).is_err());
    assert!(authorize(&DocId::Policy(dl.clone()), dealer, Writer::Site(&br), &c).is_err());
    assert!(authorize(&DocId::Policy(br.clone()), branch, Writer::Site(&br), &c).is_err());
}

#[test]
fn policies_round_trip_and_an_empty_one_shares_nothing() {
    let doc = AutoCommit::new();
    assert_eq!(SharePolicy::read(&doc).unwrap(), SharePolicy::default());
    assert!(!SharePolicy::default().shares_stock("A", "tea"));
    let p = SharePolicy {
        stock: StockScope::Selected {
            categories: ["tea, green".to_owned(), "茶".to_owned()].into(),
            skus: ["X-1".to_owned()].into(),
        },
        sell_through: SellThrough::Pseudonym,
        costs_and_prices: false,
        from: NaiveDateExt::date(2026, 1, 31),
    };
    let mut doc = AutoCommit::new();
    p.write(&mut doc).unwrap();
    assert_eq!(SharePolicy::read(&doc).unwrap(), p);
    assert!(
        p.shares_stock("Y", "茶") && p.shares_stock("X-1", "") && !p.shares_stock("Y", "coffee")
    );
    doc.put(automerge::ROOT, "sell_through", "everything")
        .unwrap();
    assert!(
        SharePolicy::read(&doc).is_err(),
        "a damaged policy never widens sharing"
    );
}

struct NaiveDateExt;
impl NaiveDateExt {
    fn date(y: i32, m: u32, d: u32) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
    }
}

#[test]
fn sku_map_round_trips() {
    let mut doc = AutoCommit::new();
    let sku = |s: &str| crate::Sku::parse(s).unwrap();
    set_sku_mapping(&mut doc, &sku("my-7"), &sku("HQ-7")).unwrap();
    assert_eq!(read_sku_map(&doc), vec![(sku("my-7"), sku("HQ-7"))]);
    assert_eq!(doc.length(automerge::ROOT), 1);
}

#[test]
fn heads_pack_and_unpack() {
    let mut doc = AutoCommit::new();
    item("A", "a", "", "").write(&mut doc).unwrap();
    doc.commit();
    let heads = doc.get_heads();
    assert_eq!(unpack_heads(&pack_heads(&heads)), heads);
}

#[test]
fn a_text_object_reads_as_its_string() {
    // Automerge JS 3 stores a plain JS string as a text object.
    let mut doc = AutoCommit::new();
    let c = doc
        .put_object(automerge::ROOT, "C1", automerge::ObjType::Map)
        .unwrap();
    let name = doc
        .put_object(&c, "name", automerge::ObjType::Text)
        .unwrap();
    doc.splice_text(&name, 0, 0, "王五, \"Ltd\"").unwrap();
    assert_eq!(Customer::read(&doc, "C1").unwrap().name, "王五, \"Ltd\"");
}
