//! CRI log records: formatting (hot path) and parsing (the CLI's `logs`).
//!
//! Every chunk of output is split at newlines: a complete line becomes an `F` record, a
//! trailing fragment without a newline becomes a `P` record at once (like conmon), so an
//! interactive prompt reaches the log without waiting for a newline. Joining a run of `P`
//! records with the `F` that follows gives back the original bytes exactly.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Caches the date-and-seconds part of the timestamp, which changes once a second.
#[derive(Default)]
pub struct Clock {
    cached_sec: i64,
    prefix: [u8; 20], // "2006-01-02T15:04:05."
}

impl Clock {
    /// Writes `2006-01-02T15:04:05.123456789Z` for the given time.
    pub fn write_timestamp(&mut self, sec: i64, nsec: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp(sec, nsec));
    }

    fn timestamp(&mut self, sec: i64, nsec: u32) -> [u8; 30] {
        if sec != self.cached_sec || self.prefix[0] == 0 {
            self.prefix = date_prefix(sec);
            self.cached_sec = sec;
        }
        let mut ts = [0u8; 30];
        ts[..20].copy_from_slice(&self.prefix);
        let mut n = nsec;
        for d in ts[20..29].iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        ts[29] = b'Z';
        ts
    }

    /// Writes "<timestamp> <stream> " into `buf`; returns its length.
    fn header(&mut self, sec: i64, nsec: u32, stream: Stream, buf: &mut [u8; HEADER_MAX]) -> usize {
        buf[..30].copy_from_slice(&self.timestamp(sec, nsec));
        buf[30] = b' ';
        let name = stream.as_str().as_bytes();
        buf[31..31 + name.len()].copy_from_slice(name);
        buf[31 + name.len()] = b' ';
        32 + name.len()
    }

    pub fn now() -> (i64, u32) {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (d.as_secs() as i64, d.subsec_nanos())
    }
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn date_prefix(sec: i64) -> [u8; 20] {
    let days = sec.div_euclid(86_400);
    let rem = sec.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem / 60) % 60, rem % 60);
    let s = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.");
    let mut out = [0u8; 20];
    out.copy_from_slice(&s.as_bytes()[..20]);
    out
}

/// Longest record header: "<30-byte timestamp> stdout " (the tag and its space follow).
const HEADER_MAX: usize = 30 + 1 + 6 + 1;

/// Appends the CRI records for one chunk of output to `out`; returns the bytes appended.
///
/// Every record of a chunk carries the chunk's timestamp, so the header is formatted once
/// and copied per line; lines are found with `memchr` (SIMD), not byte by byte.
pub fn format_chunk(
    clock: &mut Clock,
    (sec, nsec): (i64, u32),
    stream: Stream,
    chunk: &[u8],
    out: &mut Vec<u8>,
) -> usize {
    let start = out.len();
    if chunk.is_empty() {
        return 0;
    }
    let mut header = [0u8; HEADER_MAX];
    let hlen = clock.header(sec, nsec, stream, &mut header);
    let header = &header[..hlen];
    let mut line_start = 0;
    for nl in memchr::memchr_iter(b'\n', chunk) {
        // header + "F " + line + '\n'
        out.extend_from_slice(header);
        out.extend_from_slice(b"F ");
        out.extend_from_slice(&chunk[line_start..=nl]);
        line_start = nl + 1;
    }
    if line_start < chunk.len() {
        out.extend_from_slice(header);
        out.extend_from_slice(b"P ");
        out.extend_from_slice(&chunk[line_start..]);
        out.push(b'\n');
    }
    out.len() - start
}

/// One parsed record.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub timestamp: &'a str,
    pub stream: Stream,
    pub partial: bool,
    pub content: &'a [u8],
}

/// Parses one record line (without its trailing newline).
pub fn parse_line(line: &[u8]) -> Result<Record<'_>, String> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let ts = parts.next().ok_or("empty record")?;
    let stream = parts.next().ok_or("record has no stream field")?;
    let tag = parts.next().ok_or("record has no F/P tag")?;
    let content = parts.next().unwrap_or(&[]);
    let timestamp = std::str::from_utf8(ts).map_err(|_| "timestamp is not UTF-8")?;
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        other => {
            return Err(format!(
                "unknown stream {:?}",
                String::from_utf8_lossy(other)
            ))
        }
    };
    let partial = match tag {
        b"P" => true,
        b"F" => false,
        other => return Err(format!("unknown tag {:?}", String::from_utf8_lossy(other))),
    };
    Ok(Record {
        timestamp,
        stream,
        partial,
        content,
    })
}

/// Reassembles the original output from a log: content of P records is joined to what
/// follows; F records end a line with '\n'. Calls `emit(stream, timestamp, bytes)`.
pub fn reassemble(log: &[u8], mut emit: impl FnMut(Stream, &str, &[u8])) -> Result<(), String> {
    for line in log.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let rec = parse_line(line)?;
        if rec.partial {
            emit(rec.stream, rec.timestamp, rec.content);
        } else {
            let mut v = Vec::with_capacity(rec.content.len() + 1);
            v.extend_from_slice(rec.content);
            v.push(b'\n');
            emit(rec.stream, rec.timestamp, &v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn timestamp_is_rfc3339_nano_utc() {
        let mut c = Clock::default();
        let mut out = Vec::new();
        c.write_timestamp(1_475_712_629, 669_794_202, &mut out);
        assert_eq!(out, b"2016-10-06T00:10:29.669794202Z");
        out.clear();
        c.write_timestamp(951_782_400, 5, &mut out); // leap day 2000-02-29
        assert_eq!(out, b"2000-02-29T00:00:00.000000005Z");
    }

    #[test]
    fn lines_and_fragments() {
        let mut c = Clock::default();
        let mut out = Vec::new();
        format_chunk(&mut c, (0, 0), Stream::Stdout, b"a\nbc\nde", &mut out);
        let s = String::from_utf8(out).expect("utf8");
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with(" stdout F a"));
        assert!(lines[1].ends_with(" stdout F bc"));
        assert!(lines[2].ends_with(" stdout P de"));
    }

    #[test]
    fn parse_rejects_garbage_with_a_reason() {
        assert!(parse_line(b"ts stdin F x").unwrap_err().contains("stream"));
        assert!(parse_line(b"ts stdout X x").unwrap_err().contains("tag"));
        assert!(parse_line(b"ts").is_err());
    }

    proptest! {
        #[test]
        fn reassemble_inverts_format(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..200), 0..20)) {
            let mut c = Clock::default();
            let mut log = Vec::new();
            let mut orig = Vec::new();
            for ch in &chunks {
                format_chunk(&mut c, (1_700_000_000, 1), Stream::Stderr, ch, &mut log);
                orig.extend_from_slice(ch);
            }
            let mut back = Vec::new();
            reassemble(&log, |s, _, b| { assert_eq!(s, Stream::Stderr); back.extend_from_slice(b) })
                .expect("parse");
            prop_assert_eq!(back, orig);
        }

        #[test]
        fn parse_never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_line(&line);
        }

        #[test]
        fn dates_match_days(days in 0i64..200_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && (1..=31).contains(&d) && y >= 1970);
        }
    }
}
