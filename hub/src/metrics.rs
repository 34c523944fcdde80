//! Counters the hub exposes at /metrics in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub sync_batches: AtomicU64,
    pub movements_ingested: AtomicU64,
    pub duplicates: AtomicU64,
    pub quarantined: AtomicU64,
    pub conflicts: AtomicU64,
    pub enrollments: AtomicU64,
    pub refused_requests: AtomicU64,
    pub doc_syncs: AtomicU64,
    pub doc_changes_refused: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Renders the counters and, per site, how far behind and how old its data is.
    pub fn render(&self, sites: &[crate::store::SiteRow]) -> String {
        let mut out = String::new();
        let counters = [
            (
                "jxc_http_requests_total",
                "HTTP requests served",
                &self.requests,
            ),
            (
                "jxc_sync_batches_total",
                "Sync requests applied",
                &self.sync_batches,
            ),
            (
                "jxc_movements_ingested_total",
                "Movements applied",
                &self.movements_ingested,
            ),
            (
                "jxc_movements_duplicate_total",
                "Movements received again with the same content",
                &self.duplicates,
            ),
            (
                "jxc_movements_quarantined_total",
                "Records quarantined as malformed or unauthorized",
                &self.quarantined,
            ),
            (
                "jxc_movements_conflict_total",
                "Records whose (site, seq) was held with different content",
                &self.conflicts,
            ),
            (
                "jxc_doc_syncs_total",
                "Document sync requests answered",
                &self.doc_syncs,
            ),
            (
                "jxc_doc_changes_refused_total",
                "Document changes refused (unauthorized writer or actor)",
                &self.doc_changes_refused,
            ),
            (
                "jxc_enrollments_total",
                "Agents enrolled",
                &self.enrollments,
            ),
            (
                "jxc_requests_refused_total",
                "Requests refused for authentication or authorization",
                &self.refused_requests,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP jxc_site_unsynced_movements Movements at the agent not yet at the hub, as of its last sync\n# TYPE jxc_site_unsynced_movements gauge"
        );
        for s in sites {
            let _ = writeln!(
                out,
                "jxc_site_unsynced_movements{{site=\"{}\"}} {}",
                s.id, s.unsynced_at_agent
            );
        }
        let _ = writeln!(
            out,
            "# HELP jxc_site_last_sync_age_seconds Seconds since the site last synced\n# TYPE jxc_site_last_sync_age_seconds gauge"
        );
        for s in sites {
            if let Some(age) = s.last_sync_age_secs {
                let _ = writeln!(
                    out,
                    "jxc_site_last_sync_age_seconds{{site=\"{}\"}} {age}",
                    s.id
                );
            }
        }
        out
    }
}
