//! `xmlns="usync"`: who is on WhatsApp (by number or username), LIDs, usernames,
//! about, picture ids, business, devices.

use crate::conn::{attr, iq_error, iq_result};
use crate::directory::normalize_phone;
use crate::state::World;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Node, NodeContent};
use waproto::buffa::Message;
use waproto::whatsapp as wa;

pub(crate) fn handle(w: &mut World, account: &str, iq_id: &str, node: &Node) -> Node {
    let Some(usync) = node.get_optional_child("usync") else {
        return iq_error(iq_id, 400, "bad-request");
    };
    let protocols: Vec<String> = usync
        .get_optional_child("query")
        .and_then(|q| q.children())
        .map(|c| c.iter().map(|n| n.tag.to_string()).collect())
        .unwrap_or_default();
    let users: Vec<&Node> = usync
        .get_optional_child("list")
        .map(|l| l.get_children_by_tag("user").collect())
        .unwrap_or_default();
    w.stats
        .accounts
        .entry(account.to_string())
        .or_default()
        .usync_users += users.len() as u64;
    if w.faults.take_usync_429(Some(account)) {
        return iq_error(iq_id, 429, "rate-overlimit");
    }
    let out: Vec<Node> = users
        .iter()
        .map(|u| answer_user(w, account, &protocols, u))
        .collect();
    let mut b = NodeBuilder::new("usync")
        .attr(
            "mode",
            attr(usync, "mode").unwrap_or_else(|| "query".into()),
        )
        .attr("last", "true")
        .attr("index", "0");
    if let Some(sid) = attr(usync, "sid") {
        b = b.attr("sid", sid);
    }
    iq_result(
        iq_id,
        vec![
            b.children([NodeBuilder::new("list").children(out).build()])
                .build(),
        ],
    )
}

fn err(tag: &'static str, code: u16, text: &str) -> Node {
    NodeBuilder::new(tag)
        .children([NodeBuilder::new("error")
            .attr("code", code.to_string())
            .attr("text", text.to_string())
            .build()])
        .build()
}

/// A numeric picture id, as the protocol wants.
pub(crate) fn numeric_picture_id(id: &str) -> String {
    if id.parse::<u64>().is_ok() {
        return id.to_string();
    }
    let mut h: u64 = 1469598103934665603;
    for b in id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    (h % 9_000_000_000 + 1_000_000_000).to_string()
}

/// The phone of the user holding `username`, when the PIN fits: a user who set a
/// PIN is found only with it (a wrong or missing PIN answers like an unknown username).
fn find_username(w: &World, username: &str, pin: Option<&str>) -> Option<String> {
    let phone = w.user_by_username(username)?;
    let user = w.users.get(phone)?;
    let pin_fits = user.info.pin.as_deref().is_none_or(|p| Some(p) == pin);
    pin_fits.then(|| phone.to_string())
}

fn answer_user(w: &World, account: &str, protocols: &[String], u: &Node) -> Node {
    let jid = attr(u, "jid");
    let contact = u.get_optional_child("contact");
    let contact_query = contact.and_then(|c| match &c.content {
        Some(NodeContent::String(s)) => Some(s.to_string()),
        Some(NodeContent::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    });
    // `<contact username=".." pin=".."/>`: a lookup by username, answered by LID.
    let by_username = contact.and_then(|c| attr(c, "username"));
    let by_lid = by_username.is_some() || jid.as_deref().is_some_and(|j| j.ends_with("@lid"));
    let phone = match (&by_username, &contact_query, &jid) {
        (Some(name), _, _) => {
            let pin = contact.and_then(|c| attr(c, "pin"));
            find_username(w, name, pin.as_deref()).unwrap_or_default()
        }
        (None, Some(c), _) => normalize_phone(c),
        (None, None, Some(j)) if by_lid => {
            let l = normalize_phone(j);
            w.lids.get(&l).cloned().unwrap_or_default()
        }
        (None, None, Some(j)) => normalize_phone(j),
        (None, None, None) => String::new(),
    };
    // Like WhatsApp, answer for the number as registered when the query used the other
    // form of a Brazilian (9th digit), Mexican (1 after 52) or Argentine (9 after 54)
    // mobile number.
    let phone = if w.users.contains_key(&phone) {
        phone
    } else {
        national_variants(&phone)
            .into_iter()
            .find(|v| w.users.contains_key(v))
            .unwrap_or(phone)
    };
    let user = w.users.get(&phone);
    // A username lookup tells the number only when it is in the asking account's
    // address book (WhatsApp keeps numbers private from strangers).
    let tells_number = by_username.is_none()
        || w.accounts
            .get(account)
            .is_some_and(|a| a.contacts.iter().any(|c| c.phone == phone));
    let mut b = NodeBuilder::new("user");
    match (user, by_lid) {
        (Some(u), true) => {
            b = b.attr(
                "jid",
                format!("{}@lid", u.info.lid.clone().unwrap_or_default()),
            );
            if tells_number {
                b = b.attr("pn_jid", format!("{phone}@s.whatsapp.net"));
            }
        }
        (Some(_), false) => b = b.attr("jid", format!("{phone}@s.whatsapp.net")),
        (None, _) => {
            if let Some(j) = &jid {
                b = b.attr("jid", j.clone());
            } else if !phone.is_empty() {
                b = b.attr("jid", format!("{phone}@s.whatsapp.net"));
            }
        }
    }
    let mut children = Vec::new();
    for p in protocols {
        let Some(u) = user else {
            if p == "contact" {
                children.push(contact_node("out", &by_username, &contact_query));
            }
            continue;
        };
        let info = &u.info;
        match p.as_str() {
            "contact" => children.push(contact_node("in", &by_username, &contact_query)),
            "username" => {
                let mut n = NodeBuilder::new("username");
                if let Some(name) = &info.username {
                    n = n.string_content(name.clone());
                }
                children.push(n.build());
            }
            "lid" => children.push(
                NodeBuilder::new("lid")
                    .attr(
                        "val",
                        format!("{}@lid", info.lid.clone().unwrap_or_default()),
                    )
                    .build(),
            ),
            "status" => {
                if info.about_hidden == Some(true) {
                    // WhatsApp's form for an about hidden by privacy (Baileys'
                    // USyncStatusProtocol and wacore's parse_status read it as "").
                    children.push(NodeBuilder::new("status").attr("code", "401").build());
                } else if let Some(a) = &info.about {
                    children.push(
                        NodeBuilder::new("status")
                            .attr("t", "1700000000")
                            .string_content(a.clone())
                            .build(),
                    );
                } else {
                    children.push(NodeBuilder::new("status").build());
                }
            }
            "picture" => {
                if info.picture_hidden == Some(true) {
                    children.push(err("picture", 401, "not-authorized"));
                } else if let Some(id) = &info.picture_id {
                    children.push(
                        NodeBuilder::new("picture")
                            .attr("id", numeric_picture_id(id))
                            .build(),
                    );
                } else {
                    children.push(err("picture", 404, "item-not-found"));
                }
            }
            "business" if info.business == Some(true) => {
                let mut vn = Vec::new();
                if let Some(name) = &info.verified_name {
                    let details = verified_name_cert(name);
                    vn.push(
                        NodeBuilder::new("verified_name")
                            .attr("name", name.clone())
                            .bytes(details)
                            .build(),
                    );
                }
                children.push(NodeBuilder::new("business").children(vn).build());
            }
            "devices" => {
                let mut ids: Vec<u16> = info.devices.clone().unwrap_or_else(|| vec![0]);
                if let Some(acc) = w.accounts.get(&phone) {
                    ids = std::iter::once(0)
                        .chain(acc.devices.keys().copied())
                        .collect();
                }
                let key_index = (ids.len() > 1).then(|| {
                    let indexes: Vec<u32> = ids
                        .iter()
                        .filter(|d| **d != 0)
                        .map(|d| u32::from(*d))
                        .collect();
                    signed_key_index_list(&phone, &u.keys, &indexes)
                });
                let devs: Vec<Node> = ids
                    .iter()
                    .map(|d| {
                        let mut n = NodeBuilder::new("device").attr("id", d.to_string());
                        if *d != 0 {
                            n = n.attr("key-index", d.to_string());
                        }
                        n.build()
                    })
                    .collect();
                let mut parts = vec![NodeBuilder::new("device-list").children(devs).build()];
                if let Some(bytes) = key_index {
                    parts.push(
                        NodeBuilder::new("key-index-list")
                            .attr("ts", wacore::time::now_secs().to_string())
                            .bytes(bytes)
                            .build(),
                    );
                }
                children.push(NodeBuilder::new("devices").children(parts).build());
            }
            _ => {}
        }
    }
    if children.is_empty() {
        b.build()
    } else {
        b.children(children).build()
    }
}

/// The `contact` answer: `in` or `out`, echoing the username or number asked.
fn contact_node(kind: &str, username: &Option<String>, number: &Option<String>) -> Node {
    let mut c = NodeBuilder::new("contact").attr("type", kind.to_string());
    if let Some(u) = username {
        c = c.attr("username", u.clone());
    } else if let Some(q) = number {
        c = c.string_content(q.clone());
    }
    c.build()
}

/// `VerifiedNameCertificate{details: Details{serial, issuer, verified_name}}`.
fn verified_name_cert(name: &str) -> Vec<u8> {
    let details = wa::verified_name_certificate::Details {
        serial: Some(1),
        issuer: Some("smb:wa".into()),
        verified_name: Some(name.to_string()),
        ..Default::default()
    }
    .encode_to_vec();
    wa::VerifiedNameCertificate {
        details: Some(details),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The account's ADV raw id (shared by its device identities and key-index lists).
pub(crate) fn adv_raw_id(phone: &str) -> u32 {
    phone
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 1_000_000_000
        + 1
}

/// `ADVSignedKeyIndexList` over the companion key indexes, signed by the account key.
fn signed_key_index_list(phone: &str, keys: &crate::signal::PeerKeys, indexes: &[u32]) -> Vec<u8> {
    let details = wa::ADVKeyIndexList {
        raw_id: Some(adv_raw_id(phone)),
        timestamp: Some(wacore::time::now_secs() as u64),
        current_index: indexes.iter().copied().max(),
        valid_indexes: indexes.to_vec(),
        account_type: Some(wa::ADVEncryptionType::E2EE),
    }
    .encode_to_vec();
    let mut to_sign = vec![6u8, 2];
    to_sign.extend_from_slice(&details);
    wa::ADVSignedKeyIndexList {
        account_signature: Some(keys.sign(&to_sign)),
        account_signature_key: Some(keys.identity_pub().to_vec()),
        details: Some(details),
    }
    .encode_to_vec()
}

/// Other spellings of the same mobile number that WhatsApp resolves to one account.
pub(crate) fn national_variants(phone: &str) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(rest) = phone.strip_prefix("55") {
        // BR: DDD (2) + 9 + 8 digits, or the old 8-digit form.
        if rest.len() == 10 {
            v.push(format!("55{}9{}", &rest[..2], &rest[2..]));
        } else if rest.len() == 11 && rest.as_bytes()[2] == b'9' {
            v.push(format!("55{}{}", &rest[..2], &rest[3..]));
        }
    }
    if let Some(rest) = phone.strip_prefix("52") {
        if rest.len() == 10 {
            v.push(format!("521{rest}"));
        } else if rest.len() == 11 && rest.starts_with('1') {
            v.push(format!("52{}", &rest[1..]));
        }
    }
    if let Some(rest) = phone.strip_prefix("54") {
        if rest.len() == 10 {
            v.push(format!("549{rest}"));
        } else if rest.len() == 11 && rest.starts_with('9') {
            v.push(format!("54{}", &rest[1..]));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_variants_cover_br_mx_ar() {
        assert_eq!(national_variants("551187654321"), vec!["5511987654321"]);
        assert_eq!(national_variants("5511987654321"), vec!["551187654321"]);
        assert_eq!(national_variants("525512345678"), vec!["5215512345678"]);
        assert_eq!(national_variants("5215512345678"), vec!["525512345678"]);
        assert_eq!(national_variants("541112345678"), vec!["5491112345678"]);
        assert_eq!(national_variants("5491112345678"), vec!["541112345678"]);
        assert!(national_variants("15550001111").is_empty());
    }
}
