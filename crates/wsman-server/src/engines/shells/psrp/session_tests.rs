//! What pwsh writes is bounded state: partial fragments count in the output held, the
//! messages open across the pool and the pipelines of a shell are capped, and lines are cut
//! once whatever the reads.

use wsman_principal::Principal;
use wsman_proto::shell::psrp::{DataStream, FragmentHeader, Message, MAX_OPEN, TO_CLIENT};

use super::*;

fn session(limit: usize) -> Session {
    let owner = Principal::service_account("wsmbar").owner_key();
    Session::new(
        "1B3F6A2C-0000-4000-8000-00000000A11C".to_owned(),
        owner,
        "host".to_owned(),
        limit,
        super::super::Compression::default(),
    )
}

/// A fragment of `object` (a PIPELINE_OUTPUT message when it starts one), `blob` bytes long.
fn fragment(object: u64, id: u64, start: bool, end: bool, blob: usize) -> Vec<u8> {
    let data = if start {
        let message = Message {
            destination: TO_CLIENT,
            message_type: message_type::PIPELINE_OUTPUT,
            rpid: Uuid::nil(),
            pid: Uuid::nil(),
            data: vec![b'x'; blob.saturating_sub(40)],
        };
        message.to_bytes()
    } else {
        vec![b'x'; blob]
    };
    let header = FragmentHeader {
        object_id: object,
        fragment_id: id,
        start,
        end,
        blob_len: data.len(),
    };
    header.fragment(&data)
}

/// The line pwsh writes for `data` of `guid`.
fn line(guid: Uuid, data: &[u8]) -> Vec<u8> {
    let packet = Packet::Data {
        stream: DataStream::Default,
        guid,
        data: data.to_vec(),
    };
    packet.to_line().trim_end().as_bytes().to_vec()
}

fn held(session: &Session) -> (usize, usize, usize) {
    let state = session.lock();
    (state.buffered, state.pending, state.open)
}

#[test]
fn partial_fragments_count_in_the_output_held() {
    let s = session(64 * 1024);
    let whole = fragment(1, 0, true, true, 1000);
    s.line(&line(Uuid::nil(), &whole[..600])).unwrap();
    assert_eq!(held(&s), (600, 600, 0));
    s.line(&line(Uuid::nil(), &whole[600..])).unwrap();
    assert_eq!(held(&s), (whole.len(), 0, 0));
    // A released pipeline gives back what its scanner held.
    let pid = Uuid::from_u128(5);
    s.add_pipeline(pid).unwrap();
    let open = fragment(2, 0, true, false, 100);
    let mut data = open.clone();
    data.extend_from_slice(&whole[..300]);
    s.line(&line(pid, &data)).unwrap();
    assert_eq!(held(&s), (whole.len() + open.len() + 300, 300, 1));
    s.remove_pipeline(pid);
    assert_eq!(held(&s), (whole.len(), 0, 0));
}

/// Many pipelines each holding a partial fragment: refused once they reach the output
/// bound, which they would otherwise fill with bytes no Receive can take.
#[test]
fn partial_fragments_past_the_bound_are_refused() {
    let limit = 8 * 1024;
    let s = session(limit);
    let whole = fragment(1, 0, true, true, 4000);
    let mut refused = None;
    for n in 0..100u128 {
        let pid = Uuid::from_u128(n + 1);
        s.add_pipeline(pid).unwrap();
        if let Err(e) = s.line(&line(pid, &whole[..3000])) {
            refused = Some((n, e));
            break;
        }
    }
    let (n, error) = refused.expect("refused");
    assert_eq!(n, 2, "3 x 3000 bytes pass 8 KiB");
    assert!(matches!(error, HostFailure::PendingTooLarge(l) if l == limit));
}

#[test]
fn messages_open_across_the_pool_are_capped() {
    let s = session(1 << 30);
    let mut refused = None;
    for n in 0..100u64 {
        let pid = Uuid::from_u128(u128::from(n) + 1);
        s.add_pipeline(pid).unwrap();
        let data: Vec<u8> = (0..MAX_OPEN as u64 - 1)
            .flat_map(|o| fragment(o, 0, true, false, 50))
            .collect();
        if let Err(e) = s.line(&line(pid, &data)) {
            refused = Some((n, e));
            break;
        }
    }
    let (n, error) = refused.expect("refused");
    assert_eq!(n as usize, MAX_OPEN_PER_POOL / (MAX_OPEN - 1));
    assert!(matches!(error, HostFailure::TooManyOpen));
    assert!(held(&s).2 <= MAX_OPEN_PER_POOL + MAX_OPEN);
}

#[test]
fn pipelines_per_shell_are_capped() {
    let s = session(1024);
    for n in 0..MAX_PIPELINES as u128 {
        s.add_pipeline(Uuid::from_u128(n + 1)).unwrap();
    }
    assert_eq!(
        s.add_pipeline(Uuid::from_u128(u128::MAX)),
        Err(PipelineRefused::TooMany(MAX_PIPELINES))
    );
    assert_eq!(
        s.add_pipeline(Uuid::from_u128(1)),
        Err(PipelineRefused::InUse)
    );
    s.remove_pipeline(Uuid::from_u128(1));
    assert_eq!(s.add_pipeline(Uuid::from_u128(u128::MAX)), Ok(()));
}

#[test]
fn raw_bytes_are_a_protocol_failure() {
    let s = session(1024);
    for garbage in [&b"\x00\xff\xfe garbage"[..], b"<Data>", b"MZ\x90\x00"] {
        assert!(matches!(s.line(garbage), Err(HostFailure::Protocol(_))));
    }
    assert_eq!(held(&s), (0, 0, 0));
}

/// Lines cut across reads come out whole, once each; a line past [`MAX_LINE`] is refused.
#[test]
fn lines_are_cut_across_reads() {
    let text = b"one\ntwo\r\n\nthree and more\nfour";
    for size in 1..text.len() {
        let mut lines = Lines::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        for piece in text.chunks(size) {
            lines
                .feed(piece, |l| {
                    got.push(l.to_vec());
                    Ok(())
                })
                .unwrap();
        }
        let want: [&[u8]; 4] = [b"one", b"two\r", b"", b"three and more"];
        assert_eq!(got, want, "{size}");
        assert_eq!(lines.pending, b"four");
    }
    let mut lines = Lines::default();
    let chunk = vec![b'x'; 64 * 1024];
    let mut result = Ok(());
    for _ in 0..=MAX_LINE / chunk.len() {
        result = lines.feed(&chunk, |_| Ok(()));
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(HostFailure::LineTooLong)));
}
