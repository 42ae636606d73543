//! The audit as one self-contained HTML page (`trailwatch audit --format html`): counts by
//! severity and by section, the benchmark summary when asked, and every finding that is not a
//! PASS with its reason and remediation, filtered in the page by account, region, check and
//! status. No network: the style and the filtering script are inline, and the filters are
//! kept in the address (`#account=…&check=…`), so a filtered view can be linked.

use std::collections::BTreeSet;
use std::io::Write;

use super::catalog::CheckId;
use super::compliance::Requirement;
use super::finding::{Finding, Severity, Status};

/// Text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1d2433}
h1{margin:0 0 .2em}h2{margin:1.5em 0 .5em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #d5d9e0;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f2f4f7}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.FAIL{color:#b42318;font-weight:600}.ERROR{color:#b54708;font-weight:600}
.MUTED{color:#667085}.MANUAL{color:#175cd3}.PASS{color:#067647}
.critical{background:#fee4e2}.high{background:#fef0c7}
#filters label{margin-right:1em}
#findings td.reason{max-width:40em}#findings td.fix{max-width:30em;color:#475467}
tr[hidden]{display:none}
";

const SCRIPT: &str = "
(function(){
  var keys=['account','region','check','status'];
  var rows=[].slice.call(document.querySelectorAll('#findings tbody tr'));
  function current(){var v={};keys.forEach(function(k){v[k]=document.getElementById('f-'+k).value;});return v;}
  function apply(){
    var v=current(),shown=0;
    rows.forEach(function(r){
      var ok=keys.every(function(k){return !v[k]||r.dataset[k]===v[k];});
      if(ok){r.removeAttribute('hidden');shown++;}else{r.setAttribute('hidden','');}
    });
    document.getElementById('shown').textContent=shown+' of '+rows.length+' findings shown';
    var h=keys.filter(function(k){return v[k];}).map(function(k){return k+'='+encodeURIComponent(v[k]);}).join('&');
    if(('#'+h)!==location.hash&&(h||location.hash)){history.replaceState(null,'',h?'#'+h:location.pathname);}
  }
  location.hash.replace(/^#/,'').split('&').forEach(function(p){
    var kv=p.split('=');if(keys.indexOf(kv[0])>=0){document.getElementById('f-'+kv[0]).value=decodeURIComponent(kv[1]||'');}
  });
  keys.forEach(function(k){document.getElementById('f-'+k).addEventListener('change',apply);});
  apply();
})();
";

fn select(
    out: &mut dyn Write,
    key: &str,
    label: &str,
    values: &BTreeSet<String>,
) -> std::io::Result<()> {
    write!(
        out,
        "<label>{label} <select id=\"f-{key}\"><option value=\"\">all</option>"
    )?;
    for v in values {
        write!(out, "<option value=\"{0}\">{0}</option>", esc(v))?;
    }
    writeln!(out, "</select></label>")
}

/// Writes the page. `findings` are in report order; `compliance` is the benchmark summary
/// when `--compliance` asked for one.
pub fn write(
    out: &mut dyn Write,
    findings: &[Finding],
    compliance: Option<&[Requirement]>,
    now: chrono::DateTime<chrono::Utc>,
) -> std::io::Result<()> {
    let accounts: BTreeSet<String> = findings.iter().map(|f| f.account.clone()).collect();
    let listed: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status != Status::Pass)
        .collect();
    writeln!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trailwatch: IAM posture</title><style>{STYLE}</style></head><body>"
    )?;
    writeln!(
        out,
        "<h1>IAM posture</h1><p id=\"about\">{} account(s), {} findings, audited {} by trailwatch {}</p>",
        accounts.len(),
        findings.len(),
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        env!("CARGO_PKG_VERSION")
    )?;

    // Failures by severity: what to look at first.
    writeln!(out, "<h2>Failures by severity</h2><table id=\"by-severity\"><tr><th>severity</th><th>FAIL</th><th>MUTED</th></tr>")?;
    for s in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Informational,
    ] {
        let count = |status: Status| {
            findings
                .iter()
                .filter(|f| f.severity == s && f.status == status)
                .count()
        };
        writeln!(
            out,
            "<tr class=\"{s}\"><td>{s}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            count(Status::Fail),
            count(Status::Muted)
        )?;
    }
    writeln!(out, "</table>")?;

    // Every status by section of the catalogue.
    let statuses = [
        Status::Fail,
        Status::Error,
        Status::Manual,
        Status::Muted,
        Status::Pass,
    ];
    write!(
        out,
        "<h2>By section</h2><table id=\"by-section\"><tr><th>section</th>"
    )?;
    for s in statuses {
        write!(out, "<th>{s}</th>")?;
    }
    writeln!(out, "</tr>")?;
    let mut sections: Vec<&str> = CheckId::ALL.iter().map(|c| c.section()).collect();
    sections.dedup();
    for section in sections {
        let here: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.check.section() == section)
            .collect();
        if here.is_empty() {
            continue;
        }
        write!(out, "<tr><td>{}</td>", esc(section))?;
        for s in statuses {
            write!(
                out,
                "<td class=\"n\">{}</td>",
                here.iter().filter(|f| f.status == s).count()
            )?;
        }
        writeln!(out, "</tr>")?;
    }
    writeln!(out, "</table>")?;

    if let Some(reqs) = compliance {
        let title = reqs.first().map_or("", |r| r.benchmark);
        writeln!(
            out,
            "<h2>{}</h2><table id=\"compliance\"><tr><th>requirement</th><th>status</th><th>checks</th><th>FAIL</th><th>MUTED</th><th>PASS</th><th>ERROR</th><th>MANUAL</th></tr>",
            esc(title)
        )?;
        for r in reqs {
            writeln!(
                out,
                "<tr><td>{id}</td><td class=\"{status}\">{status}</td><td>{checks}</td><td class=\"n\">{fail}</td><td class=\"n\">{muted}</td><td class=\"n\">{pass}</td><td class=\"n\">{error}</td><td class=\"n\">{manual}</td></tr>",
                id = esc(&r.requirement),
                status = r.status,
                checks = esc(&r.checks.join(", ")),
                fail = r.fail,
                muted = r.muted,
                pass = r.pass,
                error = r.error,
                manual = r.manual
            )?;
        }
        writeln!(out, "</table>")?;
    }

    writeln!(out, "<h2>Findings</h2><div id=\"filters\">")?;
    let set = |f: fn(&Finding) -> String| listed.iter().map(|x| f(x)).collect::<BTreeSet<_>>();
    select(out, "account", "Account", &set(|f| f.account.clone()))?;
    select(
        out,
        "region",
        "Region",
        &set(|f| f.region.clone().unwrap_or_else(|| "global".into())),
    )?;
    select(
        out,
        "check",
        "Check",
        &set(|f| f.check.as_str().to_string()),
    )?;
    select(out, "status", "Status", &set(|f| f.status.to_string()))?;
    writeln!(
        out,
        "</div><p id=\"shown\">{0} of {0} findings shown</p>",
        listed.len()
    )?;
    writeln!(out, "<table id=\"findings\"><thead><tr><th>status</th><th>severity</th><th>check</th><th>resource</th><th>account</th><th>region</th><th>reason</th><th>remediation</th></tr></thead><tbody>")?;
    for f in &listed {
        let region = f.region.as_deref().unwrap_or("global");
        let mut resource = esc(&f.resource);
        if let Some(r) = &f.requirement {
            resource = format!("{resource} ({})", esc(r));
        }
        let mut reason = esc(&f.reason);
        if let Some(m) = &f.muted {
            reason = format!("{reason} <em>muted: {}</em>", esc(m));
        }
        writeln!(
            out,
            "<tr data-account=\"{account}\" data-region=\"{region}\" data-check=\"{check}\" data-status=\"{status}\"><td class=\"{status}\">{status}</td><td class=\"{severity}\">{severity}</td><td>{check}</td><td>{resource}</td><td>{account}</td><td>{region}</td><td class=\"reason\">{reason}</td><td class=\"fix\">{fix}</td></tr>",
            account = esc(&f.account),
            region = esc(region),
            check = f.check.as_str(),
            status = f.status,
            severity = f.severity,
            fix = esc(&f.remediation),
        )?;
    }
    writeln!(
        out,
        "</tbody></table><script>{SCRIPT}</script></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
