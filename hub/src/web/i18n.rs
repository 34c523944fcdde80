//! The dashboard's two languages: every text of its pages in English and
//! in simplified Chinese, and numbers and times written for each. Figures
//! are formatted from the API's exact decimal strings (digits grouped, never
//! through a float), so a page never rounds what the API says.

use chrono::{DateTime, FixedOffset};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// `en` or `zh-CN` (also `zh`, any case).
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s == "en" || s.starts_with("en-") {
            Some(Lang::En)
        } else if s == "zh" || s.starts_with("zh-") {
            Some(Lang::ZhCn)
        } else {
            None
        }
    }

    /// The first of the browser's `Accept-Language` choices (by weight, then
    /// order) that is English or Chinese; English when none is.
    pub fn from_accept(header: Option<&str>) -> Lang {
        let mut choices: Vec<(f32, usize, Lang)> = header
            .unwrap_or("")
            .split(',')
            .enumerate()
            .filter_map(|(i, part)| {
                let mut it = part.split(';');
                let lang = Lang::parse(it.next()?)?;
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (q > 0.0).then_some((q, i, lang))
            })
            .collect();
        choices.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        choices.first().map_or(Lang::En, |c| c.2)
    }

    /// The other language, for the switch on every page.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::ZhCn,
            Lang::ZhCn => Lang::En,
        }
    }

    /// The language's own name, as the switch shows it.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "中文",
        }
    }

    pub fn t(self, m: Msg) -> &'static str {
        let (en, zh) = m.texts();
        match self {
            Lang::En => en,
            Lang::ZhCn => zh,
        }
    }

    /// A decimal string (as the API gives it) with its digits grouped by
    /// thousands; anything that is not a plain decimal is returned as is.
    /// Both languages group with `,` and mark decimals with `.`.
    pub fn number(self, s: &str) -> String {
        let (sign, rest) = match s.strip_prefix('-') {
            Some(r) => ("-", r),
            None => ("", s),
        };
        let (int, frac) = match rest.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (rest, None),
        };
        if int.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || frac.is_some_and(|f| !f.bytes().all(|b| b.is_ascii_digit()))
        {
            return s.to_owned();
        }
        let mut out = String::with_capacity(s.len() + int.len() / 3);
        out.push_str(sign);
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if let Some(f) = frac {
            out.push('.');
            out.push_str(f);
        }
        out
    }

    /// An RFC 3339 time in `zone`: `3 Dec 2026 16:32` or `2026年12月3日 16:32`.
    /// Text that is not such a time is returned as is.
    pub fn time(self, rfc3339: &str, zone: FixedOffset) -> String {
        let Ok(t) = DateTime::parse_from_rfc3339(rfc3339) else {
            return rfc3339.to_owned();
        };
        let t = t.with_timezone(&zone);
        match self {
            Lang::En => t.format("%-d %b %Y %H:%M").to_string(),
            Lang::ZhCn => t.format("%Y年%-m月%-d日 %H:%M").to_string(),
        }
    }

    /// An age in seconds: `3 h 5 min`, `2 d 4 h` / `3小时5分`, `2天4小时`.
    pub fn age(self, secs: i64) -> String {
        let secs = secs.max(0);
        let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
        match self {
            Lang::En if d > 0 => format!("{d} d {h} h"),
            Lang::En if h > 0 => format!("{h} h {m} min"),
            Lang::En => format!("{m} min"),
            Lang::ZhCn if d > 0 => format!("{d}天{h}小时"),
            Lang::ZhCn if h > 0 => format!("{h}小时{m}分"),
            Lang::ZhCn => format!("{m}分钟"),
        }
    }
}

/// Every text of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    Title,
    SignIn,
    SignOut,
    UserName,
    Password,
    WrongPassword,
    SessionEnded,
    Overview,
    Sites,
    Users,
    Forbidden,
    Language,
    ChannelStock,
    Tier,
    Region,
    OnHand,
    InTransit,
    Value,
    NotUpdated,
    Unvalued,
    SellThrough,
    Last4Weeks,
    Previous4Weeks,
    Change,
    NetQty,
    Revenue,
    NotShared,
    Freshness,
    Site,
    Kind,
    Name,
    LastSync,
    Age,
    Unsynced,
    ClockSkew,
    Fresh,
    Stale,
    Never,
    Revoked,
    Revoke,
    OpenAlerts,
    NoAlerts,
    Raised,
    Message,
    Role,
    Created,
    CanSignIn,
    Yes,
    No,
    Hq,
    Branch,
    Dealer,
    Locations,
    StaleSites,
    Actions,
    ExportCsv,
    ExportXlsx,
    NoSales,
    Transfers,
    OpenTransfers,
    From,
    To,
    Received,
    Returned,
    Disputed,
    Status,
    Sent,
    Quarantine,
    Reason,
    Record,
    Inventory,
    Movements,
    GroupBy,
    Apply,
    Location,
    Sku,
    Lot,
    Type,
    Qty,
    UnitCost,
    UnitPrice,
    Occurred,
    Counterparty,
    Reference,
    NoAlertsAtAll,
    NewSite,
    NewSiteHelp,
    ValidFor,
    MakeToken,
    TokenFor,
    TokenOnce,
    AckedBy,
    AckedAt,
    Note,
    OpenState,
    ClearedState,
    AllAlertsShown,
    OpenAlertsShown,
    ShowOpen,
    ShowAll,
    Acknowledge,
    Alerts,
    MarkOrdered,
    Dismiss,
    Decision,
    DecidedBy,
    Ordered,
    Dismissed,
    AbcXyz,
    Action,
    Actual,
    AllSites,
    AtReorder,
    ByDay,
    Category,
    ChooseSite,
    Cogs,
    Customer,
    DailyDemand,
    Day,
    DaysOfSupply,
    DaysOfSupplyTitle,
    DealerValue,
    Forecast,
    ForecastFrom,
    ForecastTotal,
    ForecastVsActual,
    FromDay,
    LastSale,
    LeadTime,
    Lines,
    Margin,
    MarginPct,
    Method,
    Month,
    Need,
    NoDealers,
    NoSaleLines,
    NoSaleReason,
    NoSalesInPeriod,
    NoSeries,
    NothingSinking,
    NothingToReorder,
    OrderQty,
    OrderUpTo,
    OverSupplyLines,
    OverSupplyReason,
    PackSize,
    Period,
    Planning,
    PurchaseAction,
    ReorderPoint,
    ReorderSuggestions,
    Returns,
    SafetyStock,
    SalesFlow,
    SeasonalNaive,
    SellIn,
    SellInNote,
    SellInVsThrough,
    SlowAndSunk,
    Source,
    SourceOnHand,
    SunkNote,
    ToDay,
    ToReorder,
    TransferAction,
    UnpricedQty,
    Week,
    WeeksOfCover,
}

impl Msg {
    fn texts(self) -> (&'static str, &'static str) {
        match self {
            Msg::Title => ("jxc HQ", "jxc 总部"),
            Msg::SignIn => ("Sign in", "登录"),
            Msg::SignOut => ("Sign out", "退出"),
            Msg::UserName => ("User name", "用户名"),
            Msg::Password => ("Password", "密码"),
            Msg::WrongPassword => ("Wrong user name or password.", "用户名或密码错误。"),
            Msg::SessionEnded => (
                "Your session has ended: sign in again.",
                "会话已过期，请重新登录。",
            ),
            Msg::Overview => ("Overview", "总览"),
            Msg::Sites => ("Sites", "站点"),
            Msg::Users => ("Users", "用户"),
            Msg::Forbidden => (
                "Your role does not allow this page or action.",
                "您的角色无权访问此页面或操作。",
            ),
            Msg::Language => ("Language", "语言"),
            Msg::ChannelStock => ("Channel stock", "渠道库存"),
            Msg::Tier => ("Tier", "层级"),
            Msg::Region => ("Region", "区域"),
            Msg::OnHand => ("On hand", "在库"),
            Msg::InTransit => ("In transit", "在途"),
            Msg::Value => ("Value at cost", "成本金额"),
            Msg::NotUpdated => ("Not updated (policy)", "未更新（共享策略）"),
            Msg::Unvalued => ("Not valued (policy)", "未计价（共享策略）"),
            Msg::SellThrough => ("Sell-through", "销售流向"),
            Msg::Last4Weeks => ("Last 4 weeks", "近4周"),
            Msg::Previous4Weeks => ("4 weeks before", "前4周"),
            Msg::Change => ("Change", "变化"),
            Msg::NetQty => ("Net qty", "净销量"),
            Msg::Revenue => ("Revenue", "销售额"),
            Msg::NotShared => ("not shared", "未共享"),
            Msg::Freshness => ("Data freshness", "数据新鲜度"),
            Msg::Site => ("Site", "站点"),
            Msg::Kind => ("Kind", "类型"),
            Msg::Name => ("Name", "名称"),
            Msg::LastSync => ("Last sync", "最近同步"),
            Msg::Age => ("Age", "间隔"),
            Msg::Unsynced => ("Unsynced at agent", "代理端未同步"),
            Msg::ClockSkew => ("Clock skew", "时钟偏差"),
            Msg::Fresh => ("fresh", "新鲜"),
            Msg::Stale => ("stale", "过期"),
            Msg::Never => ("never synced", "从未同步"),
            Msg::Revoked => ("revoked", "已吊销"),
            Msg::Revoke => ("Revoke", "吊销"),
            Msg::OpenAlerts => ("Open alerts", "未关闭预警"),
            Msg::NoAlerts => ("No open alerts.", "没有未关闭的预警。"),
            Msg::Raised => ("Raised", "触发时间"),
            Msg::Message => ("Message", "内容"),
            Msg::Role => ("Role", "角色"),
            Msg::Created => ("Created", "创建时间"),
            Msg::CanSignIn => ("Can sign in", "可登录"),
            Msg::Yes => ("yes", "是"),
            Msg::No => ("no", "否"),
            Msg::Hq => ("HQ", "总部"),
            Msg::Branch => ("Branch", "分公司"),
            Msg::Dealer => ("Dealer", "经销商"),
            Msg::Locations => ("Locations", "库位"),
            Msg::StaleSites => ("Sites with stale data", "数据过期的站点"),
            Msg::Actions => ("Actions", "操作"),
            Msg::ExportCsv => ("Download CSV", "导出 CSV"),
            Msg::ExportXlsx => ("Excel", "导出 Excel"),
            Msg::Inventory => ("Inventory", "库存"),
            Msg::Movements => ("Movements", "出入库记录"),
            Msg::GroupBy => ("Group by", "分组"),
            Msg::Apply => ("Show", "查询"),
            Msg::Location => ("Location", "库位"),
            Msg::Sku => ("SKU", "商品编码"),
            Msg::Lot => ("Lot", "批号"),
            Msg::Type => ("Type", "类型"),
            Msg::Qty => ("Qty", "数量"),
            Msg::UnitCost => ("Unit cost", "单位成本"),
            Msg::UnitPrice => ("Unit price", "单价"),
            Msg::Occurred => ("Occurred", "发生时间"),
            Msg::Counterparty => ("Counterparty", "往来方"),
            Msg::Reference => ("Reference", "单号"),
            Msg::Transfers => ("Transfers", "调拨"),
            Msg::OpenTransfers => ("Transfers not settled", "未结调拨"),
            Msg::From => ("From", "调出"),
            Msg::To => ("To", "调入"),
            Msg::Received => ("Received", "已收"),
            Msg::Returned => ("Returned", "已退回"),
            Msg::Disputed => ("Disputed", "有争议"),
            Msg::Status => ("Status", "状态"),
            Msg::Sent => ("Sent", "发出时间"),
            Msg::Quarantine => ("Quarantine", "隔离记录"),
            Msg::Reason => ("Reason", "原因"),
            Msg::Record => ("Record", "记录"),
            Msg::NoSales => ("No sales in these eight weeks.", "这八周没有销售。"),
            Msg::NoAlertsAtAll => ("No alert has been raised.", "还没有触发过预警。"),
            Msg::NewSite => ("Enroll a new site", "登记新站点"),
            Msg::NewSiteHelp => (
                "A one-time token for the site's agent: it enrolls once with it before it runs out.",
                "为站点代理生成一次性令牌：在有效期内使用一次即可完成登记。",
            ),
            Msg::ValidFor => ("Valid for (30m, 24h, 7d)", "有效期（30m、24h、7d）"),
            Msg::MakeToken => ("Make a token", "生成令牌"),
            Msg::TokenFor => ("Enrollment token for", "登记令牌，站点"),
            Msg::TokenOnce => (
                "It is shown only now: give it to the site's IT person, who runs on the site's machine:",
                "令牌只显示这一次：请交给站点的 IT 人员，在站点电脑上运行：",
            ),
            Msg::AckedBy => ("Acknowledged by", "确认人"),
            Msg::AckedAt => ("Acknowledged", "确认时间"),
            Msg::Note => ("Note", "备注"),
            Msg::OpenState => ("open", "未关闭"),
            Msg::ClearedState => ("cleared", "已解除"),
            Msg::AllAlertsShown => ("The latest alerts of every state", "最近的全部预警"),
            Msg::OpenAlertsShown => ("Open alerts", "未关闭的预警"),
            Msg::ShowOpen => ("Show open only", "只看未关闭"),
            Msg::ShowAll => ("Show all", "查看全部"),
            Msg::Acknowledge => ("Acknowledge", "确认处理"),
            Msg::Alerts => ("Alerts", "预警"),
            Msg::MarkOrdered => ("Ordered", "已下单"),
            Msg::Dismiss => ("Dismiss", "忽略"),
            Msg::Decision => ("Decision", "处理"),
            Msg::DecidedBy => ("Decided by", "处理人"),
            Msg::Ordered => ("ordered", "已下单"),
            Msg::Dismissed => ("dismissed", "已忽略"),
            Msg::AbcXyz => ("ABC/XYZ matrix", "ABC/XYZ 矩阵"),
            Msg::Action => ("Action", "建议动作"),
            Msg::Actual => ("Actual", "实际"),
            Msg::AllSites => ("All sites", "全部站点"),
            Msg::AtReorder => ("At or below reorder point", "已到再订货点"),
            Msg::ByDay => ("By day", "按日明细"),
            Msg::Category => ("Category", "品类"),
            Msg::ChooseSite => (
                "Choose a site for its reorder suggestions, ABC/XYZ matrix and days of supply.",
                "选择站点以查看其补货建议、ABC/XYZ 矩阵和可供天数。",
            ),
            Msg::Cogs => ("COGS", "销售成本"),
            Msg::Customer => ("Customer", "客户"),
            Msg::DailyDemand => ("Daily demand", "日需求"),
            Msg::Day => ("Day", "日"),
            Msg::DaysOfSupply => ("Days of supply", "可供天数"),
            Msg::DaysOfSupplyTitle => ("Lines by days of supply", "按可供天数排列的库存"),
            Msg::DealerValue => ("At dealer price", "按经销价"),
            Msg::Forecast => ("Forecast", "预测"),
            Msg::ForecastFrom => ("Forecast from", "预测起始日"),
            Msg::ForecastTotal => ("Forecast / actual qty", "预测量 / 实际量"),
            Msg::ForecastVsActual => ("Forecast against actual", "预测与实际对比"),
            Msg::FromDay => ("From", "开始日期"),
            Msg::LastSale => ("Last sale", "最近销售"),
            Msg::LeadTime => ("Lead time (days)", "提前期（天）"),
            Msg::Lines => ("Lines", "条目数"),
            Msg::Margin => ("Gross margin", "毛利"),
            Msg::MarginPct => ("Margin %", "毛利率 %"),
            Msg::Method => ("Model", "预测模型"),
            Msg::Month => ("Month", "月"),
            Msg::Need => ("Need", "缺口"),
            Msg::NoDealers => (
                "No dealer received or sold goods in this period.",
                "本期没有经销商收货或销售。",
            ),
            Msg::NoSaleLines => ("No sale", "无销售"),
            Msg::NoSaleReason => ("no sale in the window", "窗口内无销售"),
            Msg::NoSalesInPeriod => ("No sales in this period.", "本期没有销售。"),
            Msg::NoSeries => (
                "No sales or stock for this series.",
                "该序列没有销售或库存。",
            ),
            Msg::NothingSinking => ("No slow-moving or sunk stock.", "没有滞销或沉没库存。"),
            Msg::NothingToReorder => (
                "No line is at or below its reorder point.",
                "没有库存低于再订货点。",
            ),
            Msg::OrderQty => ("Order qty", "建议数量"),
            Msg::OrderUpTo => ("Order-up-to", "目标库存"),
            Msg::OverSupplyLines => ("Over-supplied", "供应过量"),
            Msg::OverSupplyReason => ("more supply than the window", "可供天数超过窗口"),
            Msg::PackSize => ("Pack", "包装量"),
            Msg::Period => ("Period", "周期"),
            Msg::Planning => ("Planning", "计划"),
            Msg::PurchaseAction => ("purchase", "采购"),
            Msg::ReorderPoint => ("Reorder point", "再订货点"),
            Msg::ReorderSuggestions => ("Reorder suggestions", "补货建议"),
            Msg::Returns => ("Returns", "退货"),
            Msg::SafetyStock => ("Safety stock", "安全库存"),
            Msg::SalesFlow => ("Sales flow", "销售流向"),
            Msg::SeasonalNaive => ("RMSSE of seasonal naive", "季节性朴素法 RMSSE"),
            Msg::SellIn => ("Sell-in", "进货（入渠道）"),
            Msg::SellInNote => (
                "Sell-in: goods received from other sites; sell-through: what the dealer sold; weeks of cover at this period's rate.",
                "进货：从其他站点调入的货物；销售：经销商售出；覆盖周数按本期销售速度计算。",
            ),
            Msg::SellInVsThrough => ("Sell-in against sell-through", "进货与销售对比"),
            Msg::SlowAndSunk => ("Slow-moving and sunk stock", "滞销与沉没库存"),
            Msg::Source => ("Source", "来源"),
            Msg::SourceOnHand => ("On hand at source", "来源在库"),
            Msg::SunkNote => (
                "Stock with no sale in the last 90 days, or more than 90 days of supply at the rate it sold.",
                "近90天无销售，或按销售速度可供超过90天的库存。",
            ),
            Msg::ToDay => ("To (not included)", "截止日期（不含）"),
            Msg::ToReorder => ("to reorder", "需补货"),
            Msg::TransferAction => ("transfer", "调拨"),
            Msg::UnpricedQty => ("Qty without price", "未计价数量"),
            Msg::Week => ("Week", "周"),
            Msg::WeeksOfCover => ("Weeks of cover", "覆盖周数"),
        }
    }
}

/// The tier's name for a site kind (`hq`, `branch`, `dealer`).
pub fn tier(lang: Lang, kind: &str) -> &str {
    match kind {
        "hq" => lang.t(Msg::Hq),
        "branch" => lang.t(Msg::Branch),
        "dealer" => lang.t(Msg::Dealer),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_first_known_by_weight() {
        assert_eq!(Lang::from_accept(None), Lang::En);
        assert_eq!(
            Lang::from_accept(Some("zh-CN,zh;q=0.9,en;q=0.8")),
            Lang::ZhCn
        );
        assert_eq!(
            Lang::from_accept(Some("de-DE,en-US;q=0.7,zh;q=0.3")),
            Lang::En
        );
        assert_eq!(Lang::from_accept(Some("en;q=0.5, zh-TW")), Lang::ZhCn);
        assert_eq!(Lang::from_accept(Some("fr, de")), Lang::En);
        assert_eq!(Lang::from_accept(Some("zh;q=0, en")), Lang::En);
    }

    #[test]
    fn numbers_are_grouped_from_their_exact_text() {
        let l = Lang::En;
        assert_eq!(l.number("0"), "0");
        assert_eq!(l.number("999"), "999");
        assert_eq!(l.number("1000"), "1,000");
        assert_eq!(l.number("-1234567.0100"), "-1,234,567.0100");
        assert_eq!(
            l.number("123456789012345678901234.5"),
            "123,456,789,012,345,678,901,234.5"
        );
        assert_eq!(l.number("n/a"), "n/a");
        assert_eq!(Lang::ZhCn.number("12345.6"), "12,345.6");
    }

    #[test]
    fn times_and_ages_read_in_each_language() {
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        let t = "2026-12-03T16:32:05.123Z";
        assert_eq!(Lang::En.time(t, cst), "4 Dec 2026 00:32");
        assert_eq!(Lang::ZhCn.time(t, cst), "2026年12月4日 00:32");
        assert_eq!(Lang::En.age(3 * 3600 + 5 * 60), "3 h 5 min");
        assert_eq!(Lang::ZhCn.age(2 * 86_400 + 4 * 3600), "2天4小时");
        assert_eq!(Lang::En.time("garbage", cst), "garbage");
    }
}
