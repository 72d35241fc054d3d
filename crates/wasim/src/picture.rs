//! `xmlns="w:profile:picture"`: a user's picture (preview or full), 404 when none,
//! 401 when privacy hides it.

use crate::conn::{attr, iq_error};
use crate::directory::normalize_phone;
use crate::state::World;
use crate::usync::numeric_picture_id;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

pub(crate) fn picture_url(phone: &str, id: &str, url: Option<&str>) -> String {
    url.map(str::to_string)
        .unwrap_or_else(|| format!("https://pps.whatsapp.net/v/t61.24694-24/{phone}_{id}_n.jpg"))
}

pub(crate) fn handle(w: &mut World, _account: &str, iq_id: &str, node: &Node) -> Node {
    let target = attr(node, "target").unwrap_or_default();
    let Some(pic) = node.get_optional_child("picture") else {
        return iq_error(iq_id, 400, "bad-request");
    };
    let preview = attr(pic, "type").as_deref() != Some("image");
    let user_part = normalize_phone(&target);
    let phone = if target.ends_with("@lid") {
        w.lids.get(&user_part).cloned().unwrap_or_default()
    } else {
        user_part
    };
    let Some(u) = w.users.get(&phone) else {
        return iq_error(iq_id, 404, "item-not-found");
    };
    if u.info.picture_hidden == Some(true) {
        return iq_error(iq_id, 401, "not-authorized");
    }
    let Some(id) = u.info.picture_id.clone() else {
        return iq_error(iq_id, 404, "item-not-found");
    };
    let id = numeric_picture_id(&id);
    let mut url = picture_url(&phone, &id, u.info.picture_url.as_deref());
    if preview {
        url.push_str(if url.contains('?') {
            "&type=preview"
        } else {
            "?type=preview"
        });
    }
    let direct_path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        .unwrap_or_else(|| "/".into());
    NodeBuilder::new("iq")
        .attr("from", target)
        .attr("type", "result")
        .attr("id", iq_id.to_string())
        .children([NodeBuilder::new("picture")
            .attr("id", id)
            .attr("type", if preview { "preview" } else { "image" })
            .attr("url", url)
            .attr("direct_path", direct_path)
            .build()])
        .build()
}
