//! Where the forwarder's credentials go: only to the configured collector's host. A collector
//! names the delivery addresses (NotifyTo, EndTo) in the subscriptions it offers; one that
//! names another host (here 127.0.0.2, a loopback address other than the configured
//! 127.0.0.1) gets the subscription refused by the forwarder, logged, and that host sees no
//! request, with or without the Basic credentials.

use super::*;

/// A listener on 127.0.0.2 that records, for each request it reads, whether it carried an
/// `Authorization` header; it answers nothing.
fn recording_listener() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<bool>>>) {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let port = listener.local_addr().expect("address").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut authorization = false;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                authorization |= line.to_ascii_lowercase().starts_with("authorization:");
                line.clear();
            }
            record.lock().expect("lock").push(authorization);
        }
    });
    (port, seen)
}

/// A collector on 127.0.0.1 offering one subscription whose NotifyTo and EndTo are on
/// 127.0.0.2:`elsewhere`.
fn collector_naming_another_host(elsewhere: u16) -> u16 {
    scripted_collector(move |request, _| {
        let text = wsman_proto::charset::decode(&request.body, None)
            .map(|(t, _)| t)
            .unwrap_or_default();
        let address = format!("http://127.0.0.2:{elsewhere}/wsman/subscriptions/7D3C0B1A/1");
        let item = format!(
            "<m:Subscription xmlns:m=\"http://schemas.microsoft.com/wbem/wsman/1/subscription\"><m:Version>uuid:7D3C0B1A-6E2F-4A95-8C40-1B9E5D7F3A62</m:Version><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog</w:ResourceURI><a:Action>http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe</a:Action><a:MessageID>uuid:00000000-0000-0000-0000-000000000029</a:MessageID></s:Header><s:Body><e:Subscribe><e:EndTo><a:Address>{address}</a:Address><a:ReferenceProperties><e:Identifier>7D3C0B1A-6E2F-4A95-8C40-1B9E5D7F3A62</e:Identifier></a:ReferenceProperties></e:EndTo><e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\"><w:Heartbeats>PT1.000S</w:Heartbeats><e:NotifyTo><a:Address>{address}</a:Address><a:ReferenceProperties><e:Identifier>7D3C0B1A-6E2F-4A95-8C40-1B9E5D7F3A62</e:Identifier></a:ReferenceProperties><c:Policy xmlns:c=\"http://schemas.xmlsoap.org/ws/2002/12/policy\" xmlns:auth=\"http://schemas.microsoft.com/wbem/wsman/1/authentication\"><c:ExactlyOne><c:All><auth:Authentication Profile=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic\"/></c:All></c:ExactlyOne></c:Policy></e:NotifyTo><w:MaxTime>PT1.000S</w:MaxTime></e:Delivery><w:Filter Dialect=\"http://schemas.microsoft.com/win/2004/08/events/eventquery\"><QueryList><Query Id=\"0\"><Select Path=\"Application\">*</Select></Query></QueryList></w:Filter></e:Subscribe></s:Body></s:Envelope></m:Subscription>"
        );
        enumerate_response(
            "uuid:00000000-0000-0000-0000-00000000002a",
            &message_id_of(&text),
            &item,
        )
    })
}

#[test]
fn the_forwarder_sends_credentials_only_to_the_configured_collectors_host() {
    let (elsewhere, seen) = recording_listener();
    let (_state, _record, forwarder) =
        linux01_forwarding_to::<()>(|_| collector_naming_another_host(elsewhere), 1);
    wait_for(
        "the forwarder to refuse the subscription naming another host",
        || {
            forwarder
                .stderr()
                .contains("names a delivery address on another host, 127.0.0.2")
        },
        || forwarder.stderr(),
    );
    // Two more refreshes: still nothing sent there.
    let refusals = |log: String| log.matches("on another host").count();
    let first = refusals(forwarder.stderr());
    wait_for(
        "two more refreshes",
        || refusals(forwarder.stderr()) >= first + 2,
        || forwarder.stderr(),
    );
    assert_eq!(
        *seen.lock().expect("lock"),
        Vec::<bool>::new(),
        "the other host saw no request"
    );
    assert!(!forwarder.stderr().contains("secret-of-the-forwarder"));
}
