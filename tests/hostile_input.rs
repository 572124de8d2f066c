//! Random bytes, a 16 MiB line, half a message and bad requests on the socket: each gets
//! an error or a closed connection, and the daemon keeps serving everyone else.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use common::TestDaemon;

fn still_serving(d: &TestDaemon) {
    let v = d
        .client()
        .call("version", serde_json::json!({}))
        .expect("version");
    assert_eq!(v["protocol"], 1);
}

#[test]
fn garbage_oversize_and_half_messages_affect_only_their_sender() {
    let d = TestDaemon::start();
    let before = d.baseline();

    // Random bytes (a fixed xorshift stream, so failures reproduce), with newlines.
    let mut s = UnixStream::connect(&d.socket).expect("connect");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let junk: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    s.write_all(&junk).expect("write junk");
    s.write_all(b"\n").expect("newline");
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    assert!(
        reply.contains("\"ok\":false"),
        "junk got no error reply: {reply:.200}"
    );
    // One error per non-empty line, all delivered although we shut down our writing side
    // first (a half-close still gets its replies).
    let lines = junk
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(reply.lines().count(), lines, "a reply for every junk line");
    still_serving(&d);

    // A 16 MiB line: an error naming the limit, then the connection closes.
    let mut s = UnixStream::connect(&d.socket).expect("connect");
    let big = vec![b'a'; 16 << 20];
    let writer = {
        let mut s = s.try_clone().expect("clone");
        std::thread::spawn(move || {
            let _ = s.write_all(&big);
        })
    };
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    assert!(reply.contains("exceeds 1048576 bytes"), "{reply:.300}");
    writer.join().expect("writer");
    still_serving(&d);

    // Half a message, left hanging: others are served meanwhile.
    let mut half = UnixStream::connect(&d.socket).expect("connect");
    half.write_all(br#"{"v":1,"id":1,"method":"li"#)
        .expect("half");
    still_serving(&d);
    // ...and when it is completed, it is answered.
    half.write_all(b"st\"}\n").expect("rest");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&half), &mut line).expect("reply");
    assert!(line.contains("\"ok\":true"), "{line}");
    drop(half);

    // Well-formed JSON that is wrong in every way, each error naming what was wrong.
    let mut c = d.client();
    let cases: &[(&str, &str)] = &[
        (
            r#"{"v":1,"id":5,"method":"create","params":{"args":["true"],"bogus":1}}"#,
            "unknown field `bogus`",
        ),
        (
            r#"{"v":2,"id":6,"method":"list"}"#,
            "unsupported protocol version 2",
        ),
        (
            r#"{"v":1,"id":7,"method":"explode"}"#,
            "unknown method \\\"explode",
        ),
        (
            r#"{"v":1,"id":8,"method":"create","params":{"args":[]}}"#,
            "a command is required",
        ),
        (
            r#"{"v":1,"id":9,"method":"create","params":{"args":["true"],"name":"../x"}}"#,
            "invalid container name",
        ),
        (
            r#"{"v":1,"id":10,"method":"kill","params":{"id":"nope","signal":"NOPE"}}"#,
            "unknown signal",
        ),
        (
            r#"{"v":1,"id":11,"method":"inspect","params":{"id":"nope"}}"#,
            "no such container: nope",
        ),
        (
            r#"{"v":1,"id":12,"method":"create","params":{"args":["true"],"env":["NOEQUALS"]}}"#,
            "not KEY=VALUE",
        ),
        (
            r#"{"v":1,"id":13,"method":"create","params":{"args":["true"],"cwd":"relative"}}"#,
            "absolute path",
        ),
        (r#"{"v":1,"id":14}"#, "missing field `method`"),
        (
            r#"{"v":1,"id":15,"method":"list","params":{"all":true}}"#,
            "unknown field `all`",
        ),
        (
            r#"{"v":1,"id":16,"method":"create","params":{"args":["true"],"log_path":"/dev/null"}}"#,
            "not a regular file",
        ),
        (
            r#"{"v":1,"id":17,"method":"resize","params":{"id":"x","rows":0,"cols":80}}"#,
            "no such container",
        ),
        // The log is opened after the init has its job: the init is killed and reaped,
        // and the reply is the log's error, still a bad request.
        (
            r#"{"v":1,"id":18,"method":"create","params":{"args":["true"],"tty":true,"log_path":"/nonexistent-ringmon/c.log"}}"#,
            r#""code":"bad_request","message":"log_path: openat /nonexistent-ringmon/c.log: No such file or directory"#,
        ),
    ];
    let mut raw = UnixStream::connect(&d.socket).expect("connect");
    let mut reader = std::io::BufReader::new(raw.try_clone().expect("clone"));
    for (req, want) in cases {
        raw.write_all(req.as_bytes()).expect("write");
        raw.write_all(b"\n").expect("nl");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).expect("reply");
        assert!(
            line.contains("\"ok\":false") && line.contains(want),
            "{req} -> {line}"
        );
    }
    drop((raw, reader));
    c.call("version", serde_json::json!({}))
        .expect("still fine");
    drop(c);
    d.assert_back_to(&before);
}
