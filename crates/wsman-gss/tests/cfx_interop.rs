//! Our own RFC 4121 sealing against MIT's, both roles, both AES-SHA1 enctypes: contexts are
//! established in-process against a real MIT KDC (scripts/kdc.sh), and every token our code
//! makes is opened by libgssapi's `gss_unwrap_iov`/`gss_unwrap` and the other way round. The
//! session key's enctype is read back with `klist -e`, not taken from our code.
//! One test function: it switches `KRB5_CONFIG` per enctype, which no other test may see.
#![cfg(feature = "kerberos")]
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use libgssapi::context::{ClientCtx, SecurityContext, ServerCtx};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::util::{GssIov, GssIovType};
use wsman_gss::{
    AcceptStep, GssError, InitStep, InitiatorMechanism, KerberosAcceptor, KerberosContext,
    KerberosInitiator, KerberosInitiatorContext,
};
use wsman_test::kdc::Kdc;

mod common;
use common::{mit_krb5_client, mit_wrap_iov};

const ENCTYPES: [&str; 2] = ["aes256-cts-hmac-sha1-96", "aes128-cts-hmac-sha1-96"];

/// Sizes around the AES block and the confounder, around the size from which messages are
/// sealed on two threads (64 KiB of confounder, data and header copy) and the 32 KiB blocks of
/// the unsealing pipeline, and large bodies.
const SIZES: [usize; 24] = [
    0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 65_503, 65_504, 65_505, 65_536, 98_303,
    98_321, 131_071, 500_000, 512_000, 1_000_003,
];

#[test]
fn our_tokens_and_mits_open_each_other_for_both_roles_and_enctypes() {
    let Some(kdc) = Kdc::start() else { return };
    kdc.export_to_process();
    let base_config = std::fs::read_to_string(kdc.var("KRB5_CONFIG")).unwrap();
    let work = tempfile::tempdir().unwrap();
    for enctype in ENCTYPES {
        let config = work.path().join(format!("krb5-{enctype}.conf"));
        let ccache = work.path().join(format!("ccache-{enctype}"));
        std::fs::write(&config, config_for(&base_config, enctype, &ccache)).unwrap();
        std::env::set_var("KRB5_CONFIG", &config);
        std::env::set_var("KRB5CCNAME", format!("FILE:{}", ccache.display()));
        kinit(&kdc, &config, &ccache);

        initiator_role(&kdc, enctype);
        acceptor_role(&kdc, enctype);
        refusals(&kdc);

        let listing = klist(&kdc, &config, &ccache);
        let service_line = listing
            .lines()
            .skip_while(|line| !line.contains(&format!("HTTP/{}", kdc.host())))
            .find(|line| line.contains("Etype"))
            .unwrap_or_else(|| panic!("no HTTP ticket in klist -e:\n{listing}"));
        assert!(
            service_line.contains(&format!("Etype (skey, tkt): {enctype}")),
            "session key of {enctype} expected: {service_line}"
        );
        mit_sealing_into_buffers(&kdc, enctype);
    }
}

/// With `WSMAN_GSS_MIT_SEALING` our contexts seal through MIT; sealing into and opening into
/// a buffer takes that path too (the pieces joined, the result appended). The variable is
/// set only for this step: this file's one test runs alone in its process.
fn mit_sealing_into_buffers(kdc: &Kdc, enctype: &str) {
    std::env::set_var("WSMAN_GSS_MIT_SEALING", "1");
    let acceptor = KerberosAcceptor::from_keytab(&kdc.keytab()).unwrap();
    let (mut client, mut server) = mit_client_our_server(kdc, &acceptor);
    std::env::remove_var("WSMAN_GSS_MIT_SEALING");
    assert!(!server.seals_natively(), "{enctype}: MIT seals");
    for size in [1, 4_096, 98_321, 500_000] {
        let message = pattern(size, 5);
        let label = format!("{enctype} {size}");
        into_buffers_both_ways(
            &mut client,
            &mut server,
            &message,
            size / 2,
            &message,
            &label,
            "MIT",
        );
    }
}

/// Our acceptor, libgssapi's initiator.
fn acceptor_role(kdc: &Kdc, enctype: &str) {
    let acceptor = KerberosAcceptor::from_keytab(&kdc.keytab()).unwrap();
    let (mut client, mut server) = mit_client_our_server(kdc, &acceptor);
    assert!(
        server.seals_natively(),
        "{enctype}: the acceptor seals natively"
    );
    for size in SIZES {
        let request = pattern(size, 1);
        let (header, data) = mit_wrap(&mut client, &request);
        assert_eq!(
            server.unwrap(&header, &data).unwrap(),
            request,
            "{enctype} {size} in"
        );
        let response = pattern(size, 2);
        let (header, data) = server.wrap(&response).unwrap();
        assert_eq!(
            data.len(),
            size,
            "the data part is as long as the plaintext"
        );
        assert_eq!(
            mit_unwrap(&mut client, &header, &data),
            response,
            "{enctype} {size} out"
        );
        // Sealed into and opened into a body already holding bytes, from pieces cut anywhere.
        let label = format!("{enctype} {size}");
        into_buffers_both_ways(
            &mut client,
            &mut server,
            &response,
            size / 3,
            &request,
            &label,
            "into",
        );
        // Whole tokens (CredSSP's form, bounded by MAX_TOKEN_LEN) both ways.
        if size > 16 * 1024 {
            continue;
        }
        let token = server.wrap_token(&response).unwrap();
        assert_eq!(client.unwrap(&token).unwrap().to_vec(), response);
        let token = client.wrap(true, &request).unwrap().to_vec();
        assert_eq!(server.unwrap_token(&token).unwrap(), request);
    }
}

/// Our acceptor seals `outgoing` (given in two pieces cut at `cut`) into a body and opens MIT's
/// sealing of `incoming` into a buffer, both already holding bytes; MIT must read ours and we
/// must read MIT's. Failures name `label` and `how`.
fn into_buffers_both_ways(
    client: &mut ClientCtx,
    server: &mut KerberosContext,
    outgoing: &[u8],
    cut: usize,
    incoming: &[u8],
    label: &str,
    how: &str,
) {
    let (first, second) = outgoing.split_at(cut);
    let (header, data) = sealed_after_prefix(|body| server.wrap_into(&[first, second], body));
    assert_eq!(
        mit_unwrap(client, &header, &data),
        outgoing,
        "{label} out, {how}"
    );
    let (header, data) = mit_wrap(client, incoming);
    let opened = opened_after_prefix(|body| server.unwrap_into(&header, &data, body));
    assert!(opened == incoming, "{label} in, {how}");
}

/// Our initiator, libgssapi's acceptor.
fn initiator_role(kdc: &Kdc, enctype: &str) {
    let (mut client, mut server) = our_client_mit_server(kdc);
    assert!(
        client.seals_natively(),
        "{enctype}: the initiator seals natively"
    );
    for size in SIZES {
        let request = pattern(size, 3);
        let (header, data) = client.wrap(&request).unwrap();
        assert_eq!(data.len(), size);
        assert_eq!(
            mit_unwrap(&mut server, &header, &data),
            request,
            "{enctype} {size} out"
        );
        let response = pattern(size, 4);
        let (header, data) = mit_wrap(&mut server, &response);
        assert_eq!(
            client.unwrap(&header, &data).unwrap(),
            response,
            "{enctype} {size} in"
        );
        let (header, data) = mit_wrap(&mut server, &response);
        let opened = opened_after_prefix(|body| client.unwrap_into(&header, &data, body));
        assert!(opened == response, "{enctype} {size} in, into");
        let (header, data) = sealed_after_prefix(|body| client.wrap_into(&[&request], body));
        assert_eq!(
            mit_unwrap(&mut server, &header, &data),
            request,
            "{enctype} {size} out, into"
        );
    }
}

/// A flipped bit anywhere, a replayed, reordered or truncated token: refused, and the
/// context is unusable afterwards.
fn refusals(kdc: &Kdc) {
    let acceptor = KerberosAcceptor::from_keytab(&kdc.keytab()).unwrap();
    let message = pattern(100, 5);
    let (mut probe_client, _) = mit_client_our_server(kdc, &acceptor);
    let (header, data) = mit_wrap(&mut probe_client, &message);
    let whole: Vec<u8> = header.iter().chain(data.iter()).copied().collect();
    for position in 0..whole.len() {
        let (mut client, mut server) = mit_client_our_server(kdc, &acceptor);
        let (header, data) = mit_wrap(&mut client, &message);
        let mut damaged: Vec<u8> = header.iter().chain(data.iter()).copied().collect();
        damaged[position] ^= 0x10;
        let (damaged_header, damaged_data) = damaged.split_at(header.len());
        let refused = server.unwrap(damaged_header, damaged_data);
        assert!(refused.is_err(), "a flipped bit at {position} was accepted");
        assert!(matches!(
            server.unwrap(&header, &data),
            Err(GssError::State(_))
        ));
    }

    let (mut client, mut server) = mit_client_our_server(kdc, &acceptor);
    let (header, data) = mit_wrap(&mut client, &message);
    server.unwrap(&header, &data).unwrap();
    assert!(matches!(
        server.unwrap(&header, &data),
        Err(GssError::Unwrap(_))
    ));

    let (mut client, mut server) = mit_client_our_server(kdc, &acceptor);
    let first = mit_wrap(&mut client, &message);
    let second = mit_wrap(&mut client, &message);
    assert!(server.unwrap(&second.0, &second.1).is_err(), "reordered");
    let _ = first;

    for cut in [1, 12, 16, 28, 44, 59] {
        let (mut client, mut server) = mit_client_our_server(kdc, &acceptor);
        let (header, data) = mit_wrap(&mut client, &message);
        assert!(server.unwrap(&header[..header.len() - cut], &data).is_err());
        let (mut client, mut server) = mit_client_our_server(kdc, &acceptor);
        let (header, data) = mit_wrap(&mut client, &message);
        assert!(server
            .unwrap(&header, &data[..data.len() - cut.min(data.len())])
            .is_err());
    }

    // Our initiator refuses damaged and replayed responses from MIT as well.
    let (mut client, mut server) = our_client_mit_server(kdc);
    let (header, mut data) = mit_wrap(&mut server, &message);
    data[50] ^= 1;
    assert!(matches!(
        client.unwrap(&header, &data),
        Err(GssError::Unwrap(_))
    ));
    let (mut client, mut server) = our_client_mit_server(kdc);
    let (header, data) = mit_wrap(&mut server, &message);
    client.unwrap(&header, &data).unwrap();
    assert!(client.unwrap(&header, &data).is_err(), "replayed response");
}

fn mit_client_our_server(kdc: &Kdc, acceptor: &KerberosAcceptor) -> (ClientCtx, KerberosContext) {
    let mut client = mit_krb5_client(kdc, "HTTP");
    let mut server = acceptor.context(None);
    let ap_req = client.step(None, None).unwrap().unwrap().to_vec();
    let AcceptStep::Complete(established) = server.step(&ap_req).unwrap() else {
        panic!("raw Kerberos completes in one leg")
    };
    assert!(client
        .step(Some(&established.token.unwrap()), None)
        .unwrap()
        .is_none());
    (client, server)
}

fn our_client_mit_server(kdc: &Kdc) -> (KerberosInitiatorContext, ServerCtx) {
    std::env::set_var("KRB5_KTNAME", format!("FILE:{}", kdc.keytab().display()));
    let cred = Cred::acquire(None, None, CredUsage::Accept, None).unwrap();
    let mut server = ServerCtx::new(Some(cred));
    let initiator =
        KerberosInitiator::from_ccache("HTTP", kdc.host(), None, InitiatorMechanism::Kerberos)
            .unwrap();
    let mut client = initiator.context(None).unwrap();
    let InitStep::Continue(ap_req) = client.step(None).unwrap() else {
        panic!("mutual authentication needs an answer")
    };
    let ap_rep = server.step(&ap_req, None).unwrap().unwrap().to_vec();
    assert!(server.is_complete());
    assert!(matches!(
        client.step(Some(&ap_rep)).unwrap(),
        InitStep::Complete { token: None }
    ));
    (client, server)
}

/// MIT's MS-WSMV wrap, sealed: HEADER | DATA | PADDING.
fn mit_wrap<C: SecurityContext>(ctx: &mut C, plain: &[u8]) -> (Vec<u8>, Vec<u8>) {
    mit_wrap_iov(ctx, true, plain)
}

/// MIT's MS-WSMV unwrap: HEADER | DATA.
fn mit_unwrap<C: SecurityContext>(ctx: &mut C, header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut header = header.to_vec();
    let mut data = data.to_vec();
    let len = {
        let mut iov = [
            GssIov::new(GssIovType::Header, &mut header),
            GssIov::new(GssIovType::Data, &mut data),
        ];
        ctx.unwrap_iov(&mut iov).unwrap();
        iov[1].len()
    };
    data.truncate(len);
    data
}

/// What the `_into` calls must leave alone: a body or buffer that already holds bytes.
const PREFIX: &[u8] = b"before";

/// Seals with `wrap_into` (returning the header's length) into a body that already holds
/// [`PREFIX`]; the prefix must be left as it was. Returns the token after it, as header and data.
fn sealed_after_prefix<E: std::fmt::Debug>(
    wrap_into: impl FnOnce(&mut Vec<u8>) -> Result<usize, E>,
) -> (Vec<u8>, Vec<u8>) {
    let mut body = PREFIX.to_vec();
    let header_len = wrap_into(&mut body).unwrap();
    assert!(
        body.starts_with(PREFIX),
        "the bytes before the token changed"
    );
    let (header, data) = body[PREFIX.len()..].split_at(header_len);
    (header.to_vec(), data.to_vec())
}

/// Opens with `unwrap_into` into a buffer that already holds [`PREFIX`]; the prefix must be
/// left as it was. Returns what was appended after it.
fn opened_after_prefix<E: std::fmt::Debug>(
    unwrap_into: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Vec<u8> {
    let mut opened = PREFIX.to_vec();
    unwrap_into(&mut opened).unwrap();
    assert!(
        opened.starts_with(PREFIX),
        "the bytes before the plaintext changed"
    );
    opened.split_off(PREFIX.len())
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The realm's krb5.conf with one session key enctype requested and its own credential
/// cache.
fn config_for(base: &str, enctype: &str, ccache: &Path) -> String {
    base.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("permitted_enctypes") {
                // The client asks for this session key only; the acceptor still permits
                // both (the ticket itself stays in the service's strongest key).
                format!(
                    "{line}\n    default_tkt_enctypes = {enctype}\n    default_tgs_enctypes = {enctype}"
                )
            } else if trimmed.starts_with("default_ccache_name") {
                format!("    default_ccache_name = FILE:{}", ccache.display())
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn kinit(kdc: &Kdc, config: &Path, ccache: &Path) {
    use std::io::Write;
    let mut command = Command::new("kinit");
    kdc.apply(&mut command);
    command
        .env("KRB5_CONFIG", config)
        .arg("-c")
        .arg(format!("FILE:{}", ccache.display()))
        .arg(format!("{}@{}", kdc.user(), kdc.realm()))
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = command.spawn().unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", kdc.password()).unwrap();
    assert!(child.wait().unwrap().success(), "kinit");
}

fn klist(kdc: &Kdc, config: &Path, ccache: &Path) -> String {
    let mut command = Command::new("klist");
    kdc.apply(&mut command);
    let output = command
        .env("KRB5_CONFIG", config)
        .arg("-e")
        .arg("-c")
        .arg(format!("FILE:{}", ccache.display()))
        .output()
        .unwrap();
    assert!(output.status.success(), "klist -e");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
