//! Certificates: those on load balancer listeners must be renewed before they expire, and
//! expired IAM server certificates must not be kept.

use super::Eval;
use crate::audit::catalog::CheckId;
use crate::audit::finding::Status;
use crate::audit::inventory::Inventory;

pub fn evaluate(ev: &mut Eval, inv: &Inventory) {
    match &inv.server_certificates {
        None => {}
        Some(Err(e)) => ev.error(&[CheckId::ServerCertificateExpired], &ev.root_arn(), e),
        Some(Ok(certs)) => {
            for c in certs {
                let expired = c.expiration.is_some_and(|t| t < ev.now);
                let reason = match c.expiration {
                    Some(t) if expired => format!(
                        "expired {} days ago ({})",
                        ev.days_since(t),
                        t.format("%Y-%m-%d")
                    ),
                    Some(t) => format!("expires {}", t.format("%Y-%m-%d")),
                    None => "no expiration date".into(),
                };
                ev.verdict(CheckId::ServerCertificateExpired, expired, &c.arn, reason);
            }
        }
    }
    let within = ev.settings.certificate_expiry_days;
    for region in &inv.regions {
        match &region.listener_certificates {
            None => {}
            Some(Err(e)) => {
                let arn = ev.root_arn();
                ev.regional_error(CheckId::ElbCertificateRotation, &arn, &region.region, e)
            }
            Some(Ok(listeners)) => {
                for l in listeners {
                    let f = match &l.expires {
                        Err(e) => ev.push(
                            CheckId::ElbCertificateRotation,
                            Status::Error,
                            &l.listener_arn,
                            format!("certificate {}: {e}", l.certificate_arn),
                        ),
                        Ok(None) => ev.push(
                            CheckId::ElbCertificateRotation,
                            Status::Error,
                            &l.listener_arn,
                            format!("certificate {} has no expiration date", l.certificate_arn),
                        ),
                        Ok(Some(t)) => {
                            let left = (*t - ev.now).num_days();
                            let reason = if left < 0 {
                                format!(
                                    "{} listener certificate {} expired {} days ago ({})",
                                    l.protocol,
                                    l.certificate_arn,
                                    -left,
                                    t.format("%Y-%m-%d")
                                )
                            } else {
                                format!("{} listener certificate {} expires in {left} days ({}; threshold {within} days)", l.protocol, l.certificate_arn, t.format("%Y-%m-%d"))
                            };
                            ev.verdict(
                                CheckId::ElbCertificateRotation,
                                left < within,
                                &l.listener_arn,
                                reason,
                            )
                        }
                    };
                    f.region = Some(region.region.clone());
                }
            }
        }
    }
}
