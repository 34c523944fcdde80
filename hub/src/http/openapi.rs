//! The OpenAPI 3.1 description of the hub's HTTP API, served at /openapi.json.
//! Kept beside the router it describes; a test checks every route is here.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

/// A 401: the JSON error and the challenge naming the credential wanted.
fn unauthorized(description: &str) -> Value {
    let mut response = error_response(description);
    response["headers"] = json!({
        "WWW-Authenticate": { "required": true, "schema": { "type": "string" },
            "description": "the credential the route wants: `Bearer` (HQ), `jxc-enroll-token` or `jxc-client-certificate` (agents)" }
    });
    response
}

/// The `x-jxc-protocol` header: exactly the versions the hub accepts.
fn protocol_header() -> Value {
    use jxc_shared::protocol::{MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};
    let versions: Vec<String> = (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION)
        .map(|v| v.to_string())
        .collect();
    json!({ "name": "x-jxc-protocol", "in": "header", "required": true,
            "description": "the sync protocol version the agent speaks",
            "schema": { "type": "string", "enum": versions } })
}

fn hq_get(summary: &str, params: Value, item: Value) -> Value {
    json!({
        "get": {
            "summary": summary,
            "security": [{ "bearer": [] }],
            "parameters": params,
            "responses": {
                "200": { "description": "OK", "content": { "application/json": { "schema": item } } },
                "400": error_response("a parameter is not valid"),
                "401": unauthorized("no or an unknown bearer token")
            }
        }
    })
}

/// `op` with one more documented response.
fn with_response(mut op: Value, status: &str, description: &str) -> Value {
    op["get"]["responses"][status] = error_response(description);
    op
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

pub fn document() -> Value {
    let string = json!({ "type": "string" });
    let decimal = json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$" });
    let nullable_decimal =
        json!({ "type": ["string", "null"], "pattern": "^-?[0-9]+(\\.[0-9]+)?$" });
    let date = json!({ "type": "string", "format": "date" });
    let nullable_string = json!({ "type": ["string", "null"] });
    let stock_policy = json!({
        "type": "object",
        "description": "One (location, SKU) line's stock policy and the inputs it was computed from; quantities and money are decimal strings, null where not known",
        "required": ["site", "kind", "location", "sku", "category", "abc", "xyz", "method", "no_history", "daily_demand", "demand_sd", "lead_time_days", "review_days", "safety_stock", "reorder_point", "order_up_to", "eoq", "on_hand", "in_transit", "position", "days_of_supply", "unit_cost", "order_cost", "holding_rate", "pack_size", "min_order_qty", "stale"],
        "properties": {
            "site": string, "kind": string, "location": string, "sku": string, "category": string,
            "abc": { "enum": ["A", "B", "C"] }, "xyz": { "enum": ["X", "Y", "Z"] }, "method": string,
            "no_history": { "type": "boolean" },
            "daily_demand": decimal, "demand_sd": decimal,
            "lead_time_days": { "type": "integer" }, "review_days": { "type": "integer" },
            "safety_stock": decimal, "reorder_point": decimal, "order_up_to": decimal,
            "eoq": { "type": ["string", "null"] }, "on_hand": decimal, "in_transit": decimal, "position": decimal,
            "days_of_supply": { "type": ["string", "null"] }, "unit_cost": { "type": ["string", "null"] },
            "order_cost": decimal, "holding_rate": decimal,
            "pack_size": { "type": ["string", "null"] }, "min_order_qty": { "type": ["string", "null"] },
            "stale": { "type": "boolean" }
        }
    });
    let plan_policy = with_response(
        with_response(
            hq_get(
                "Stock policy per (location, SKU): ABC/XYZ, forecast daily demand and its error, safety stock, reorder point, order-up-to, EOQ, days of supply, with the inputs",
                json!([
                    query("site", "only this site", string.clone()),
                    query(
                        "location",
                        "only this location id (of site, if given)",
                        string.clone()
                    ),
                    query(
                        "as_of",
                        "judge as of this business day, sales before it (default today)",
                        date.clone()
                    ),
                    query(
                        "service_level",
                        "cycle service level (default plan.service_level, 0.95)",
                        json!({ "type": "number", "exclusiveMinimum": 0.5, "maximum": 0.999 })
                    ),
                    query(
                        "lead_time_days",
                        "every SKU's lead time (default the catalog's)",
                        json!({ "type": "integer", "minimum": 0, "maximum": 366 })
                    ),
                    query(
                        "review_days",
                        "days between reviews (default plan.review_days, 7)",
                        json!({ "type": "integer", "minimum": 0, "maximum": 366 })
                    )
                ]),
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/StockPolicy" } }),
            ),
            "400",
            "a service level or days out of range, or a malformed date",
        ),
        "404",
        "a site or location the hub does not know",
    );
    let mut plan_matrix = plan_policy.clone();
    plan_matrix["get"]["summary"] = json!(
        "The ABC/XYZ matrix of the stock policy: per value class and variability class, the lines, their stock, their daily demand and how many are at or below their reorder point"
    );
    plan_matrix["get"]["responses"]["200"]["content"]["application/json"]["schema"] = json!({
        "type": "array", "items": { "type": "object",
            "required": ["abc", "xyz", "lines", "on_hand", "daily_demand", "at_reorder"],
            "properties": { "abc": { "enum": ["A", "B", "C"] }, "xyz": { "enum": ["X", "Y", "Z"] },
                "lines": { "type": "integer" }, "on_hand": decimal.clone(), "daily_demand": decimal.clone(),
                "at_reorder": { "type": "integer" } } }
    });
    let plan_reorder = with_response(
        with_response(
            hq_get(
                "Reorder suggestions: lines at or below their reorder point, the quantity in whole packs and at least the minimum order, and the source, with the policy inputs",
                json!([
                    query("site", "only this site", string.clone()),
                    query(
                        "as_of",
                        "judge as of this business day (default today)",
                        date.clone()
                    ),
                    query(
                        "service_level",
                        "cycle service level (default 0.95)",
                        json!({ "type": "number", "exclusiveMinimum": 0.5, "maximum": 0.999 })
                    ),
                    query(
                        "lead_time_days",
                        "every SKU's lead time (default the catalog's)",
                        json!({ "type": "integer", "minimum": 0, "maximum": 366 })
                    ),
                    query(
                        "review_days",
                        "days between reviews (default 7)",
                        json!({ "type": "integer", "minimum": 0, "maximum": 366 })
                    )
                ]),
                json!({ "type": "array", "items": { "type": "object",
                    "required": ["site", "location", "sku", "action", "source", "qty", "need", "inputs", "decision"],
                    "properties": { "site": string, "location": string, "sku": string,
                        "action": { "enum": ["transfer", "purchase"] }, "source": string,
                        "source_on_hand": { "type": ["string", "null"] }, "qty": decimal, "need": decimal,
                        "inputs": { "$ref": "#/components/schemas/StockPolicy" },
                        "decision": { "type": ["object", "null"],
                            "description": "a planner's decision on it for this plan day, from the dashboard",
                            "properties": { "decision": { "enum": ["ordered", "dismissed"] },
                                "qty": { "type": ["string", "null"] }, "note": string,
                                "decided_by": string, "decided_at": string } } } } }),
            ),
            "400",
            "a service level or days out of range, or a malformed date",
        ),
        "404",
        "a site the hub does not know",
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "jxc hub",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Consolidated channel inventory. Agents use /v1/enroll (one-time token) and /v1/sync (client certificate); HQ uses the bearer-token endpoints."
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "HQ user token from `jxc-hub user add`" }
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": string } },
                "Product": {
                    "type": "object",
                    "required": ["sku", "name", "unit", "decimals", "gtin", "category", "brand", "lot_tracked"],
                    "properties": {
                        "sku": string, "name": string, "unit": string,
                        "decimals": { "type": "integer", "minimum": 0, "maximum": 6 },
                        "gtin": string, "category": string, "brand": string, "lot_tracked": { "type": "boolean" },
                        "list_price": { "type": ["string", "null"] }, "dealer_price": { "type": ["string", "null"] },
                        "lead_time_days": { "type": ["integer", "null"] },
                        "min_order_qty": { "type": ["string", "null"] }, "pack_size": { "type": ["string", "null"] }
                    }
                },
                "Customer": {
                    "type": "object",
                    "required": ["site", "id", "name", "contact", "phone", "address", "region", "type", "conflicts", "not_updated"],
                    "properties": {
                        "site": string, "id": string, "name": string, "contact": string, "phone": string,
                        "address": string, "region": string, "type": string,
                        "credit_limit": { "type": ["string", "null"] }, "terms_days": { "type": ["integer", "null"] },
                        "conflicts": { "type": "array", "description": "fields two sites edited at once: [field, [values that lost]]" },
                        "not_updated": { "type": "boolean", "description": "a dealer's customer kept from before its policy stopped sharing identities" }
                    }
                },
                "InventoryRow": {
                    "type": "object",
                    "required": ["key", "on_hand", "in_transit", "value", "not_updated", "unvalued", "undeliverable"],
                    "properties": { "key": string, "on_hand": decimal, "in_transit": decimal, "value": decimal, "not_updated": decimal,
                        "unvalued": decimal,
                        "undeliverable": decimal }
                },
                "SalesRow": {
                    "type": "object",
                    "description": "One group: each `by` key under its own name (site, location, region, kind, category, brand, sku, customer, day, week, month), then the figures. Money is of the priced part of the qty only; a money figure is null when none of it is priced (not shared by the dealer, or no price recorded), never 0.",
                    "required": ["qty", "returns", "net_qty", "unpriced_qty", "priced", "revenue", "cogs", "margin", "margin_pct"],
                    "properties": { "qty": decimal, "returns": decimal, "net_qty": decimal, "unpriced_qty": decimal,
                        "priced": { "enum": ["all", "part", "none"] },
                        "revenue": nullable_decimal, "cogs": nullable_decimal, "margin": nullable_decimal, "margin_pct": nullable_decimal },
                    "additionalProperties": string
                },
                "ChannelRow": {
                    "type": "object",
                    "required": ["key", "sell_in", "sell_through", "change", "on_hand", "weeks_of_cover"],
                    "properties": { "key": string, "sell_in": decimal, "sell_through": decimal, "change": decimal,
                        "on_hand": decimal, "weeks_of_cover": nullable_decimal }
                },
                "StockPolicy": stock_policy,
                "SunkRow": {
                    "type": "object",
                    "description": "Slow-moving or sunk stock of one group within a site tier, or (by=line) one location × SKU with its reason, last sale and days of supply",
                    "required": ["tier", "key", "lines", "no_sale_lines", "over_supply_lines", "qty", "value", "unvalued_qty", "dealer_value", "no_dealer_price_qty", "stale_sites"],
                    "properties": { "tier": { "enum": ["hq", "branch", "dealer"] }, "key": string,
                        "location": string, "sku": string,
                        "lines": { "type": "integer", "minimum": 0 }, "no_sale_lines": { "type": "integer", "minimum": 0 },
                        "over_supply_lines": { "type": "integer", "minimum": 0 },
                        "qty": decimal, "value": decimal, "unvalued_qty": decimal, "dealer_value": decimal, "no_dealer_price_qty": decimal,
                        "reason": { "enum": ["no_sale", "over_supply"] }, "last_sale": string, "days_of_supply": decimal,
                        "stale_sites": { "type": "array", "items": string } }
                },
                "Site": {
                    "type": "object",
                    "required": ["id", "kind", "name", "region", "hwm", "unsynced_at_agent", "freshness", "locations"],
                    "properties": {
                        "id": string, "kind": { "enum": ["hq", "branch", "dealer"] }, "name": string, "region": string,
                        "enrolled_at": nullable_string, "revoked_at": nullable_string,
                        "hwm": { "type": "integer", "minimum": 0 },
                        "unsynced_at_agent": { "type": "integer", "minimum": 0 },
                        "last_sync_at": nullable_string,
                        "last_sync_age_secs": { "type": ["integer", "null"] },
                        "freshness": { "enum": ["fresh", "stale", "never"] },
                        "newest_business_at": nullable_string,
                        "clock_skew_ms": { "type": ["integer", "null"] },
                        "locations": { "type": "integer", "minimum": 0 }
                    }
                },
                "Movement": {
                    "type": "object",
                    "required": ["site", "seq", "type", "location", "sku", "lot", "qty", "unit_cost", "occurred_at", "recorded_at"],
                    "properties": {
                        "site": string, "seq": { "type": "integer", "minimum": 1 }, "type": string, "location": string,
                        "sku": string, "lot": string, "qty": decimal, "unit_cost": decimal,
                        "unit_price": nullable_string, "counterparty": nullable_string, "ref": nullable_string,
                        "reason": nullable_string, "transfer_id": nullable_string,
                        "occurred_at": string, "recorded_at": string
                    }
                },
                "Transfer": {
                    "type": "object",
                    "required": ["id", "from", "to", "sku", "lot", "qty", "received", "returned", "in_transit", "disputed", "status", "unit_cost", "sent_at"],
                    "properties": {
                        "id": string, "from": string, "to": string, "sku": string, "lot": string,
                        "qty": decimal, "received": decimal, "returned": decimal, "disputed": decimal,
                        "in_transit": decimal,
                        "status": { "enum": ["in_transit", "partial", "received", "cancelled", "settled", "undeliverable", "disputed"] },
                        "undeliverable": nullable_string,
                        "unit_cost": decimal, "sent_at": string
                    }
                },
                "Quarantined": {
                    "type": "object",
                    "required": ["id", "site", "seq", "kind", "reason", "record", "received_at"],
                    "properties": {
                        "id": { "type": "integer" }, "site": string, "seq": { "type": "integer" },
                        "kind": { "enum": ["refused", "conflict"] }, "reason": string, "record": {}, "received_at": string
                    }
                },
                "Alert": {
                    "type": "object",
                    "required": ["id", "rule", "kind", "site", "location", "sku", "state", "raised_at", "cleared_at",
                                 "message", "figures", "cleared_figures", "undelivered", "last_error",
                                 "acked_by", "acked_at", "ack_note"],
                    "properties": {
                        "id": { "type": "integer" }, "rule": string,
                        "kind": { "enum": ["below-reorder-point", "stock-out", "over-days-of-supply", "stale", "quarantine-grew"] },
                        "site": string,
                        "location": { "type": "string", "description": "empty for a site's alert (stale, quarantine-grew)" },
                        "sku": { "type": "string", "description": "empty for a site's alert" },
                        "state": { "enum": ["open", "cleared"] },
                        "raised_at": string, "cleared_at": nullable_string.clone(),
                        "message": { "type": "string", "description": "what the alert says, in a sentence" },
                        "figures": { "type": "object", "description": "the line's figures when raised: on_hand, in_transit (decimal text), or a site's silent_secs, or a batch's quarantined and accepted" },
                        "cleared_figures": { "type": ["object", "null"], "description": "the same, when it cleared" },
                        "undelivered": { "type": "integer", "description": "messages about it not yet delivered" },
                        "last_error": nullable_string.clone(),
                        "acked_by": { "type": ["string", "null"], "description": "the planner who acknowledged it on the dashboard" },
                        "acked_at": nullable_string.clone(),
                        "ack_note": nullable_string.clone()
                    }
                }
            }
        },
        "paths": {
            "/healthz": { "get": { "summary": "Liveness, without credentials", "responses": { "200": { "description": "the hub is up", "content": { "text/plain": { "schema": string } } } } } },
            "/openapi.json": { "get": { "summary": "This document", "responses": { "200": { "description": "OpenAPI document", "content": { "application/json": { "schema": { "type": "object" } } } } } } },
            "/v1/ca": { "get": { "summary": "The hub's CA certificate (PEM), for agents pinning it by hash", "responses": { "200": { "description": "PEM", "content": { "application/x-pem-file": { "schema": string } } } } } },
            "/v1/enroll": {
                "post": {
                    "summary": "Enroll an agent: a one-time token and a CSR in, a client certificate out",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": {
                        "type": "object", "required": ["token", "csr_pem"],
                        "properties": { "token": string, "csr_pem": string,
                            "doc_actor": { "type": "string", "pattern": "^[0-9a-f]{32}$" },
                            "site": string,
                            "kind": { "type": "string", "enum": ["branch", "dealer", "hq"] },
                            "region": string } } } } },
                    "responses": {
                        "200": { "description": "enrolled", "content": { "application/json": { "schema": {
                            "type": "object", "required": ["site", "kind", "name", "region", "cert_pem", "ca_pem"],
                            "properties": { "site": string, "kind": string, "name": string, "region": string, "cert_pem": string, "ca_pem": string } } } } },
                        "400": error_response("the body is not the expected JSON, or the CSR is not valid, or the agent's site, kind or region is not the token's (the token stays valid)"),
                        "401": unauthorized("the token is unknown, used or expired"),
                        "408": error_response("the body did not arrive within the body timeout"),
                        "413": error_response("the body is larger than 64 KiB")
                    }
                }
            },
            "/v1/sync": {
                "post": {
                    "summary": "Push movements and pull transfers (agents, client certificate required)",
                    "parameters": [protocol_header()],
                    "requestBody": { "required": true, "content": { "application/x-jxc-sync": { "schema": { "type": "string", "format": "binary" } } } },
                    "responses": {
                        "200": { "description": "the batch was applied; the body is the sync response", "content": { "application/x-jxc-sync": { "schema": { "type": "string", "format": "binary" } } } },
                        "400": error_response("a bad protocol version, body or batch"),
                        "401": unauthorized("no client certificate"),
                        "403": error_response("the site is revoked or unknown (checked before the body is read)"),
                        "408": error_response("the body did not arrive within the body timeout"),
                        "413": error_response("the body is larger than 4 MiB"),
                        "503": error_response("every upload slot stayed taken; retry after the Retry-After seconds")
                    }
                }
            },
            "/v1/docs": {
                "post": {
                    "summary": "Sync shared documents: offer Automerge changes and heads, receive what the site lacks (agents, client certificate required)",
                    "parameters": [protocol_header()],
                    "requestBody": { "required": true, "content": { "application/x-jxc-sync": { "schema": { "type": "string", "format": "binary" } } } },
                    "responses": {
                        "200": { "description": "each offer answered: hub heads, missing data, refused changes", "content": { "application/x-jxc-sync": { "schema": { "type": "string", "format": "binary" } } } },
                        "400": error_response("a bad protocol version or body"),
                        "401": unauthorized("no client certificate"),
                        "403": error_response("the site is revoked or unknown (checked before the body is read)"),
                        "408": error_response("the body did not arrive within the body timeout"),
                        "413": error_response("the body is larger than 4 MiB"),
                        "503": error_response("every upload slot stayed taken; retry after the Retry-After seconds")
                    }
                }
            },
            "/v1/directory": {
                "get": {
                    "summary": "Every site the hub knows, with the locations each has reported and whether it shares costs (agents, client certificate required)",
                    "parameters": [{ "name": "if-none-match", "in": "header", "required": false, "schema": string }],
                    "responses": {
                        "200": { "description": "the directory", "content": { "application/json": { "schema": { "type": "object", "required": ["sites"], "properties": {
                            "sites": { "type": "array", "items": { "type": "object",
                                "required": ["id", "kind", "name", "region", "shares_costs", "locations"],
                                "properties": { "id": string, "kind": { "enum": ["hq", "branch", "dealer"] }, "name": string, "region": string,
                                    "shares_costs": { "type": "boolean" }, "locations": { "type": "array", "items": string } } } } } } } } },
                        "304": { "description": "unchanged since the copy named by if-none-match" },
                        "401": error_response("no client certificate"),
                        "403": error_response("the site is revoked or unknown")
                    }
                }
            },
            "/v1/inventory": with_response(hq_get(
                "Consolidated on hand, in transit and value, grouped",
                json!([
                    query("sku", "only this SKU", string.clone()),
                    query("site", "only this site", string.clone()),
                    query("region", "only sites of this region", string.clone()),
                    query("kind", "only sites of this kind", json!({ "enum": ["hq", "branch", "dealer"] })),
                    query("by", "one or more keys, comma-separated: sku, site, location, region, kind, lot (default sku)", string.clone())
                ]),
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/InventoryRow" } })
            ), "404", "an SKU, site or region the hub does not know (the error names the nearest it does)"),
            "/v1/sales": with_response(with_response(hq_get(
                "The sales flow: qty, returns, revenue, cost of goods and gross margin per group, from daily sums",
                json!([
                    query("by", "one or more keys, comma-separated: site, location, region, kind, category, brand, sku, customer, day, week, month (default site)", string.clone()),
                    query("from", "first business day, YYYY-MM-DD", date.clone()),
                    query("to", "business day after the last (exclusive), YYYY-MM-DD", date.clone()),
                    query("site", "only this site", string.clone()),
                    query("region", "only sites of this region", string.clone()),
                    query("kind", "only sites of this kind", json!({ "enum": ["hq", "branch", "dealer"] })),
                    query("category", "only this catalog category", string.clone()),
                    query("sku", "only this SKU", string.clone())
                ]),
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/SalesRow" } })
            ), "404", "a site, region, category or SKU the hub does not know"), "400", "an unknown key, a malformed date, or from not before to"),
            "/v1/channel": with_response(hq_get(
                "Sell-in (transfers received from other sites) against sell-through per dealer or region of dealers",
                json!([
                    query("by", "site or region (default site)", json!({ "enum": ["site", "region"] })),
                    query("from", "first business day (default 28 days before to)", date.clone()),
                    query("to", "business day after the last, exclusive (default tomorrow)", date.clone())
                ]),
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/ChannelRow" } })
            ), "400", "a malformed date, or from not before to"),
            "/v1/plan/sunk": with_response(with_response(hq_get(
                "Slow-moving and sunk stock per site tier: no sale in the window, or more days of supply than it",
                json!([
                    query("by", "site, region, category or line (default site)", json!({ "enum": ["site", "region", "category", "line"] })),
                    query("days", "the window in days (default 90)", json!({ "type": "integer", "minimum": 1, "maximum": 3660 })),
                    query("site", "only this site's stock (404 if unknown)", string.clone()),
                    query("as_of", "judge as of this business day, history before it (default today)", date.clone())
                ]),
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/SunkRow" } })
            ), "400", "an unknown grouping, a window out of range or a malformed date"), "404", "a site the hub does not know"),
            "/v1/plan/forecast": with_response(with_response(hq_get(
                "Daily demand forecast per series for the horizon from as_of, on the sales before it; each series' model chosen by a holdout",
                json!([
                    query("by", "site,category (default), site,sku or location,sku", string.clone()),
                    query("site", "only this site", string.clone()),
                    query("location", "only this location of site (by location,sku)", string.clone()),
                    query("sku", "only this SKU's series (by site,sku or location,sku)", string.clone()),
                    query("category", "only this category's series (by site,category)", string.clone()),
                    query("horizon", "days forecast (default 28)", json!({ "type": "integer", "minimum": 1, "maximum": 366 })),
                    query("as_of", "first day forecast (default today)", date.clone())
                ]),
                json!({ "type": "array", "items": { "type": "object",
                    "required": ["site", "date", "qty", "method", "no_history", "stale"],
                    "properties": { "site": string, "category": string, "sku": string, "location": string,
                        "date": string, "qty": decimal, "method": string,
                        "no_history": { "type": "boolean" }, "stale": { "type": "boolean" } } } })
            ), "400", "an unknown series, a horizon out of range or a malformed date"), "404", "a site the hub does not know"),
            "/v1/plan/backtest": with_response(with_response(hq_get(
                "RMSSE (M5) of the forecast from as_of and of seasonal naive over the horizon after it, per series and overall",
                json!([
                    query("by", "site,category (default), site,sku or location,sku", string.clone()),
                    query("site", "only this site", string.clone()),
                    query("location", "only this location of site (by location,sku)", string.clone()),
                    query("sku", "only this SKU's series (by site,sku or location,sku)", string.clone()),
                    query("category", "only this category's series (by site,category)", string.clone()),
                    query("horizon", "days tested (default 28)", json!({ "type": "integer", "minimum": 1, "maximum": 366 })),
                    query("as_of", "the forecast's first day (default today)", date.clone())
                ]),
                json!({ "type": "object", "required": ["as_of", "horizon", "series", "rmsse", "seasonal_naive_rmsse", "ratio_to_seasonal_naive", "groups"],
                    "properties": { "as_of": string, "horizon": { "type": "integer" }, "series": { "type": "integer" },
                        "rmsse": { "type": ["number", "null"] }, "seasonal_naive_rmsse": { "type": ["number", "null"] },
                        "ratio_to_seasonal_naive": { "type": ["number", "null"] },
                        "groups": { "type": "array", "items": { "type": "object" } } } })
            ), "400", "an unknown series, a horizon out of range or a malformed date"), "404", "a site the hub does not know"),
            "/v1/plan/policy": plan_policy,
            "/v1/plan/reorder": plan_reorder,
            "/v1/plan/matrix": plan_matrix,
            "/v1/sites": hq_get("Enrolled sites and the freshness of their data", json!([]),
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/Site" } })),
            "/v1/movements": hq_get(
                "Movements in (site, seq) order, paged",
                json!([
                    query("site", "only this site", string.clone()),
                    query("location", "only this location (its id at the site, e.g. main)", string.clone()),
                    query("sku", "only this SKU", string.clone()),
                    query("lot", "only this lot (empty: stock without a lot)", string.clone()),
                    query("after", "the `next` cursor of the previous page (SITE:SEQ)",
                        json!({ "type": "string", "pattern": "^(.*:[0-9]{1,19})?$" })),
                    query("limit", "page size", json!({ "type": "integer", "minimum": 1, "maximum": 10000 }))
                ]),
                json!({ "type": "object", "required": ["movements", "next"], "properties": {
                    "movements": { "type": "array", "items": { "$ref": "#/components/schemas/Movement" } },
                    "next": nullable_string } })
            ),
            "/v1/transfers": hq_get(
                "Transfers between sites, with what is still in transit",
                json!([query("open", "only transfers not fully received", json!({ "type": "boolean" }))]),
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/Transfer" } })
            ),
            "/v1/products": hq_get("The HQ catalog", json!([query("category", "only this category", string.clone())]),
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/Product" } })),
            "/v1/customers": hq_get("Customers the sites share with HQ",
                json!([query("site", "only this site's", json!({ "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$" }))]),
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/Customer" } })),
            "/v1/share-policies": hq_get("Each dealer's sharing policy, as the hub enforces it", json!([]),
                json!({ "type": "array", "items": { "type": "object", "required": ["site", "policy", "updated_at"],
                    "properties": { "site": string, "policy": { "type": "object" }, "updated_at": string } } })),
            "/v1/document-refusals": hq_get("Document changes the hub refused, and why", json!([]),
                json!({ "type": "array", "items": { "type": "object",
                    "required": ["hash", "doc", "site", "actor", "reason", "received_at"],
                    "properties": { "hash": string, "doc": string, "site": string, "actor": string, "reason": string, "received_at": string } } })),
            "/v1/alerts": hq_get(
                "Stock alerts 库存预警, newest first: one per rule and line until its condition clears",
                json!([
                    query("open", "only alerts whose condition still holds", json!({ "type": "boolean" })),
                    query("limit", "at most this many (1 to 10000, default 1000)", json!({ "type": "integer", "minimum": 1, "maximum": 10000 }))
                ]),
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/Alert" } })
            ),
            "/v1/quarantine": hq_get("Records the hub would not apply, and why", json!([]),
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/Quarantined" } })),
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "security": [{ "bearer": [] }],
                    "responses": {
                        "200": { "description": "Prometheus text format", "content": { "text/plain": { "schema": string } } },
                        "401": unauthorized("no or an unknown bearer token")
                    }
                }
            }
        }
    })
}
