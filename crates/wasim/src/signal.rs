//! The Signal side of a simulated phone (device 0 of a directory user): its keys, the
//! sessions it built with linked companions, and message encryption.

use crate::persist::Bytes;
use std::collections::HashMap;
use wacore::libsignal::protocol::{
    self as sp, Direction, IdentityChange, IdentityKey, IdentityKeyPair, IdentityKeyStore, KeyPair,
    PreKeyBundle, ProtocolAddress, SessionRecord, SessionStore, SignalProtocolError, UsePQRatchet,
};

type SResult<T> = Result<T, SignalProtocolError>;

/// Keys of a simulated phone.
pub(crate) struct PeerKeys {
    pub identity: IdentityStore,
    pub sessions: Sessions,
    pub signed_prekey: KeyPair,
    pub signed_prekey_sig: Vec<u8>,
    pub signed_prekey_id: u32,
}

impl PeerKeys {
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let signed_prekey = KeyPair::generate(&mut rng);
        let sig = identity
            .private_key()
            .calculate_signature(&signed_prekey.public_key.serialize(), &mut rng)
            .expect("sign")
            .to_vec();
        let registration_id = 1 + (u32::from_le_bytes(rand_bytes4()) % 16380);
        PeerKeys {
            identity: IdentityStore {
                pair: identity,
                registration_id,
                known: HashMap::new(),
            },
            sessions: Sessions::default(),
            signed_prekey,
            signed_prekey_sig: sig,
            signed_prekey_id: 1,
        }
    }

    /// A new identity key (the user reinstalled WhatsApp): forgets every session.
    pub fn rotate(&mut self) {
        let fresh = PeerKeys::generate();
        *self = fresh;
    }

    /// The 32-byte public identity key.
    pub fn identity_pub(&self) -> [u8; 32] {
        self.identity
            .pair
            .public_key()
            .public_key_bytes()
            .try_into()
            .expect("32 bytes")
    }

    pub fn registration_id(&self) -> u32 {
        self.identity.registration_id
    }

    /// Signs with the identity key (ADV account signatures).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.identity
            .pair
            .private_key()
            .calculate_signature(msg, &mut rand::rng())
            .expect("sign")
            .to_vec()
    }

    /// X25519 agreement with the identity key (pair-code ADV secret).
    pub fn agree(&self, their_pub: &[u8; 32]) -> anyhow::Result<[u8; 32]> {
        let theirs = sp::PublicKey::from_djb_public_key_bytes(their_pub)?;
        Ok(self
            .identity
            .pair
            .private_key()
            .calculate_agreement(&theirs)?)
    }

    pub fn has_session(&self, addr: &str) -> bool {
        self.sessions.map.contains_key(addr)
    }

    /// Builds a session towards `addr` from the companion's uploaded bundle.
    pub async fn start_session(
        &mut self,
        addr: &str,
        device: u16,
        b: &Bundle,
    ) -> anyhow::Result<()> {
        let address = ProtocolAddress::new(addr, u32::from(device).into());
        let bundle = PreKeyBundle::new(
            b.registration_id,
            u32::from(device).into(),
            b.prekey
                .map(|(id, k)| -> anyhow::Result<_> {
                    Ok((id.into(), sp::PublicKey::from_djb_public_key_bytes(&k)?))
                })
                .transpose()?,
            b.signed_prekey_id.into(),
            sp::PublicKey::from_djb_public_key_bytes(&b.signed_prekey)?,
            b.signed_prekey_sig.clone(),
            IdentityKey::new(sp::PublicKey::from_djb_public_key_bytes(&b.identity)?),
        )?;
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        sp::process_prekey_bundle(
            &address,
            &mut self.sessions,
            &mut self.identity,
            &bundle,
            &mut rng,
            UsePQRatchet::No,
        )
        .await?;
        Ok(())
    }

    /// Encrypts for `addr`; returns the `<enc type>` ("pkmsg" / "msg") and the ciphertext.
    pub async fn encrypt(
        &mut self,
        addr: &str,
        device: u16,
        plaintext: &[u8],
    ) -> anyhow::Result<(&'static str, Vec<u8>)> {
        let address = ProtocolAddress::new(addr, u32::from(device).into());
        let ct = sp::message_encrypt(plaintext, &address, &mut self.sessions, &mut self.identity)
            .await?;
        let kind = match ct.message_type() {
            sp::CiphertextMessageType::PreKey => "pkmsg",
            _ => "msg",
        };
        Ok((kind, ct.serialize().to_vec()))
    }
}

/// [`PeerKeys`] as the state file holds them.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedKeys {
    identity: Bytes,
    registration_id: u32,
    known: Vec<(String, Bytes)>,
    sessions: Vec<(String, Bytes)>,
    signed_prekey_pub: Bytes,
    signed_prekey_priv: Bytes,
    signed_prekey_sig: Bytes,
    signed_prekey_id: u32,
}

impl PeerKeys {
    pub fn save(&self) -> anyhow::Result<SavedKeys> {
        Ok(SavedKeys {
            identity: Bytes(self.identity.pair.serialize().to_vec()),
            registration_id: self.identity.registration_id,
            known: self
                .identity
                .known
                .iter()
                .map(|(a, k)| (a.clone(), Bytes(k.serialize().to_vec())))
                .collect(),
            sessions: self
                .sessions
                .map
                .iter()
                .map(|(a, r)| Ok((a.clone(), Bytes(r.serialize()?))))
                .collect::<anyhow::Result<_>>()?,
            signed_prekey_pub: Bytes(self.signed_prekey.public_key.serialize().to_vec()),
            signed_prekey_priv: Bytes(self.signed_prekey.private_key.serialize().to_vec()),
            signed_prekey_sig: Bytes(self.signed_prekey_sig.clone()),
            signed_prekey_id: self.signed_prekey_id,
        })
    }

    pub fn load(s: SavedKeys) -> anyhow::Result<Self> {
        Ok(PeerKeys {
            identity: IdentityStore {
                pair: IdentityKeyPair::try_from(s.identity.0.as_slice())?,
                registration_id: s.registration_id,
                known: s
                    .known
                    .into_iter()
                    .map(|(a, k)| Ok((a, IdentityKey::decode(&k.0)?)))
                    .collect::<anyhow::Result<_>>()?,
            },
            sessions: Sessions {
                map: s
                    .sessions
                    .into_iter()
                    .map(|(a, r)| Ok((a, SessionRecord::deserialize(&r.0)?)))
                    .collect::<anyhow::Result<_>>()?,
            },
            signed_prekey: KeyPair::from_public_and_private(
                &s.signed_prekey_pub.0,
                &s.signed_prekey_priv.0,
            )?,
            signed_prekey_sig: s.signed_prekey_sig.0,
            signed_prekey_id: s.signed_prekey_id,
        })
    }
}

fn rand_bytes4() -> [u8; 4] {
    use rand::RngExt;
    rand::rng().random()
}

/// A companion's pre-key bundle as uploaded (`<iq xmlns="encrypt" type="set">`).
#[derive(Clone, Debug)]
pub(crate) struct Bundle {
    pub registration_id: u32,
    pub identity: [u8; 32],
    pub prekey: Option<(u32, [u8; 32])>,
    pub signed_prekey_id: u32,
    pub signed_prekey: [u8; 32],
    pub signed_prekey_sig: Vec<u8>,
}

pub(crate) struct IdentityStore {
    pair: IdentityKeyPair,
    registration_id: u32,
    known: HashMap<String, IdentityKey>,
}

#[async_trait::async_trait]
impl IdentityKeyStore for IdentityStore {
    async fn get_identity_key_pair(&self) -> SResult<IdentityKeyPair> {
        Ok(self.pair.clone())
    }
    async fn get_local_registration_id(&self) -> SResult<u32> {
        Ok(self.registration_id)
    }
    async fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> SResult<IdentityChange> {
        let old = self.known.insert(address.name().to_string(), *identity);
        Ok(IdentityChange::from_changed(
            old.is_some_and(|o| o != *identity),
        ))
    }
    async fn is_trusted_identity(
        &self,
        _address: &ProtocolAddress,
        _identity: &IdentityKey,
        _direction: Direction,
    ) -> SResult<bool> {
        Ok(true)
    }
    async fn get_identity(&self, address: &ProtocolAddress) -> SResult<Option<IdentityKey>> {
        Ok(self.known.get(address.name()).copied())
    }
}

#[derive(Default)]
pub(crate) struct Sessions {
    map: HashMap<String, SessionRecord>,
}

#[async_trait::async_trait]
impl SessionStore for Sessions {
    async fn load_session(&self, address: &ProtocolAddress) -> SResult<Option<SessionRecord>> {
        Ok(self.map.get(address.name()).cloned())
    }
    async fn has_session(&self, address: &ProtocolAddress) -> SResult<bool> {
        Ok(self.map.contains_key(address.name()))
    }
    async fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: SessionRecord,
    ) -> SResult<()> {
        self.map.insert(address.name().to_string(), record);
        Ok(())
    }
}
