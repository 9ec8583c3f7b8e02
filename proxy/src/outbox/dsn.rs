//! Delivery status notifications (RFC 3464): the bounce the sender gets for
//! recipients that failed for good, sent with the null reverse-path (RFC 5321
//! §4.5.5) so a bounce never bounces.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// One failed recipient.
#[derive(Debug, Clone)]
pub struct Failure {
    pub recipient: String,
    pub diagnostic: String,
}

/// Builds the DSN message for `failures` of the message that `sender` sent,
/// quoting its original header section.
pub fn build(
    hostname: &str,
    sender: &str,
    failures: &[Failure],
    original_headers: &[u8],
    arrival: u64,
) -> Vec<u8> {
    let mut random = [0u8; 8];
    openssl::rand::rand_bytes(&mut random).expect("the system random source works");
    let boundary = format!("dsn-{}", hex::encode(random));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut out = String::new();
    let _ = write!(
        out,
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n\
         To: <{sender}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Date: {}\r\n\
         Message-ID: <{}@{hostname}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated message.\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         This is DANE Mail on {hostname}. Your message could not be delivered\r\n\
         to the following recipients:\r\n\r\n",
        rfc5322_date(now),
        hex::encode(random),
    );
    for failure in failures {
        let _ = write!(
            out,
            "  <{}>: {}\r\n",
            failure.recipient,
            ascii_line(&failure.diagnostic)
        );
    }
    let _ = write!(
        out,
        "\r\n--{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {hostname}\r\n\
         Arrival-Date: {}\r\n",
        rfc5322_date(arrival)
    );
    for failure in failures {
        let status = enhanced_status(&failure.diagnostic).unwrap_or("5.0.0");
        let _ = write!(
            out,
            "\r\nFinal-Recipient: rfc822; {}\r\n\
             Action: failed\r\n\
             Status: {status}\r\n\
             Diagnostic-Code: smtp; {}\r\n",
            failure.recipient,
            ascii_line(&failure.diagnostic)
        );
    }
    let _ = write!(
        out,
        "\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    );
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(original_headers);
    if !original_headers.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

/// The first `d.d.d` enhanced status code in an SMTP diagnostic, if any.
fn enhanced_status(text: &str) -> Option<&str> {
    text.split(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .find(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        })
}

fn ascii_line(text: &str) -> String {
    text.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { ' ' })
        .collect()
}

/// RFC 5322 §3.3 date in UTC.
pub fn rfc5322_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = crate::civil::civil(unix);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[c.weekday as usize],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_names_each_failure_and_quotes_headers() {
        let dsn = build(
            "localhost",
            "me@x.test",
            &[Failure {
                recipient: "bob@x.test".into(),
                diagnostic: "RCPT TO: permanent error (550): 5.1.1 <bob@x.test>: unknown".into(),
            }],
            b"Subject: hello\r\nTo: bob@x.test\r\n\r\n",
            0,
        );
        let text = String::from_utf8(dsn).unwrap();
        assert!(text.contains("Final-Recipient: rfc822; bob@x.test\r\n"));
        assert!(text.contains("Status: 5.1.1\r\n"));
        assert!(text.contains("Content-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\n"));
        assert!(text.contains("report-type=delivery-status"));
        assert!(!text.replace("\r\n", "").contains('\n'), "bare LF");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_867_200),
            "Sat, 28 Nov 2026 12:00:00 +0000"
        );
    }
}
