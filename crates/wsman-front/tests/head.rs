//! The request-head scanner as the guard runs it: heads counted across any split, bodies
//! skipped by their Content-Length, an upgrade turning the guard off.

use proptest::prelude::*;
use wsman_front::head::{HeadScanner, Verdict};

const LIMIT: usize = 12 * 1024;

fn get(target_bytes: usize) -> Vec<u8> {
    format!(
        "GET /hosts/h/events?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(target_bytes)
    )
    .into_bytes()
}

#[test]
fn heads_are_counted_and_bodies_skipped() {
    let mut scanner = HeadScanner::new(LIMIT);
    // A post whose body (larger than a head may be) is skipped, then a small GET.
    let body = "x".repeat(3 * LIMIT);
    let post = format!(
        "POST /login HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(scanner.scan(post.as_bytes()), Verdict::Pass);
    assert_eq!(scanner.scan(&get(100)), Verdict::Pass);
    assert_eq!(scanner.scan(&get(LIMIT - 100)), Verdict::Pass);
    // A 1 MiB search string.
    assert_eq!(scanner.scan(&get(1 << 20)), Verdict::TooLarge);
    // An upgrade: the guard is off for the connection (WebSocket frames follow).
    let mut upgraded = HeadScanner::new(LIMIT);
    let upgrade = b"GET /hosts/h/terminal/ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(upgraded.scan(upgrade), Verdict::Pass);
    assert_eq!(upgraded.scan(&vec![b'z'; 1 << 20]), Verdict::Pass);
}

proptest! {
    #[test]
    fn heads_under_the_bound_pass_in_any_split(
        sizes in proptest::collection::vec(0usize..LIMIT - 100, 1..4),
        split in 1usize..5000,
    ) {
        let mut bytes = Vec::new();
        for size in &sizes {
            bytes.extend(get(*size));
        }
        let mut scanner = HeadScanner::new(LIMIT);
        for chunk in bytes.chunks(split) {
            prop_assert_eq!(scanner.scan(chunk), Verdict::Pass);
        }
    }
}
