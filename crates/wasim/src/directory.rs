//! The directory of WhatsApp users (everyone a linked account can look up) and the
//! serde shapes of the admin API.

use serde::{Deserialize, Serialize};

/// One WhatsApp user as the admin API and the `--seed` file describe it.
/// Only `phone` is required; a LID is assigned when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryUser {
    /// Digits only (a leading `+` is stripped).
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about_hidden: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture_hidden: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_name: Option<String>,
    /// Device ids of the user's devices (0 = the phone). Defaults to `[0]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<u16>>,
    /// The user's WhatsApp username, without `@` (stored lower case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The PIN ("username key") a stranger must give to find the user by username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
}

impl DirectoryUser {
    pub fn new(phone: impl Into<String>) -> Self {
        Self {
            phone: phone.into(),
            ..Default::default()
        }
    }
}

/// The body of `POST /admin/users` and the shape of the `--seed` file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsersBody {
    pub users: Vec<DirectoryUser>,
}

/// An entry of an account's address book (the phone's contacts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressBookContact {
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
}

/// Events the admin API can make a user cause (`POST /admin/users/{phone}/events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum UserEvent {
    /// An incoming message from the user carrying `notify=pushName`, to every account
    /// that has the user in its address book or has looked it up (all accounts, in practice).
    PushName { push_name: String },
    /// The user's picture changed (`<notification type="picture">`).
    Picture {
        #[serde(default)]
        picture_id: Option<String>,
        #[serde(default)]
        picture_url: Option<String>,
    },
    /// The user's about text changed (`<notification type="status">`).
    About { about: String },
    /// A new identity key: a first message under the old key (so the client knows it),
    /// then `<notification type="encrypt"><identity/>`.
    Identity,
    /// Same LID, new phone number.
    NumberChange { new_phone: String },
}

/// Read-out of `GET /admin/accounts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    pub phone: String,
    pub lid: String,
    pub devices: Vec<DeviceInfo>,
    pub contacts: Vec<AddressBookContact>,
    pub blocklist: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// `PHONE:ID@s.whatsapp.net`
    pub jid: String,
    pub id: u16,
    pub connected: bool,
    pub prekeys_uploaded: usize,
}

/// A username as the directory keeps it: no `@`, no blanks, lower case.
pub fn normalize_username(u: &str) -> String {
    let u = u.trim();
    u.strip_prefix('@').unwrap_or(u).to_ascii_lowercase()
}

pub fn normalize_phone(p: &str) -> String {
    let p = p.split('@').next().unwrap_or(p);
    let p = p.split(':').next().unwrap_or(p);
    p.chars().filter(|c| c.is_ascii_digit()).collect()
}

/// Reads a `--seed` file: `{ "users": [...] }` (or a bare array of users).
pub fn seed_from_file(path: impl AsRef<std::path::Path>) -> anyhow::Result<Vec<DirectoryUser>> {
    let text = std::fs::read_to_string(path.as_ref())?;
    parse_seed(&text)
}

pub fn parse_seed(text: &str) -> anyhow::Result<Vec<DirectoryUser>> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    if v.is_array() {
        Ok(serde_json::from_value(v)?)
    } else {
        Ok(serde_json::from_value::<UsersBody>(v)?.users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_accepts_the_admin_shape_and_a_bare_list() {
        let a = parse_seed(r#"{"users": [{"phone": "+1 555 000 1111", "pushName": "A", "aboutHidden": true, "devices": [0, 2]}]}"#).unwrap();
        assert_eq!(a[0].phone, "+1 555 000 1111");
        assert_eq!(a[0].push_name.as_deref(), Some("A"));
        assert_eq!(a[0].about_hidden, Some(true));
        assert_eq!(a[0].devices, Some(vec![0, 2]));
        let b = parse_seed(r#"[{"phone": "15550001111"}]"#).unwrap();
        assert_eq!(b.len(), 1);
        assert!(
            parse_seed(r#"{"users": [{"lid": "1"}]}"#).is_err(),
            "phone is required"
        );
    }

    #[test]
    fn serde_shapes_are_camel_case() {
        let u = DirectoryUser {
            phone: "1".into(),
            picture_id: Some("2".into()),
            verified_name: Some("V".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"phone": "1", "pictureId": "2", "verifiedName": "V"})
        );
        let e: UserEvent =
            serde_json::from_str(r#"{"type": "numberChange", "newPhone": "2"}"#).unwrap();
        assert_eq!(
            e,
            UserEvent::NumberChange {
                new_phone: "2".into()
            }
        );
        let e: UserEvent =
            serde_json::from_str(r#"{"type": "pushName", "pushName": "P"}"#).unwrap();
        assert_eq!(
            e,
            UserEvent::PushName {
                push_name: "P".into()
            }
        );
        let e: UserEvent =
            serde_json::from_str(r#"{"type": "picture", "pictureId": "9"}"#).unwrap();
        assert_eq!(
            e,
            UserEvent::Picture {
                picture_id: Some("9".into()),
                picture_url: None
            }
        );
        let e: UserEvent = serde_json::from_str(r#"{"type": "identity"}"#).unwrap();
        assert_eq!(e, UserEvent::Identity);
        let c: AddressBookContact =
            serde_json::from_str(r#"{"phone": "1", "fullName": "F", "firstName": "G"}"#).unwrap();
        assert_eq!(c.full_name.as_deref(), Some("F"));
        assert_eq!(c.first_name.as_deref(), Some("G"));
    }

    #[test]
    fn phones_are_normalized() {
        assert_eq!(normalize_phone("+1 (555) 000-1111"), "15550001111");
        assert_eq!(
            normalize_phone("15550001111:3@s.whatsapp.net"),
            "15550001111"
        );
        assert_eq!(normalize_phone("123@lid"), "123");
    }
}
