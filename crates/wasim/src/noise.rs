//! Noise XX responder and the encrypted frame codec of one connection.

use anyhow::{Context, anyhow};
use wacore::handshake::NoiseHandshake;
use wacore::libsignal::protocol::KeyPair;
use wacore::noise::NoiseCipher;
use wacore_binary::consts::{NOISE_PATTERN_XX, WA_CONN_HEADER};
use waproto::buffa::{self, Message};
use waproto::whatsapp as wa;

/// The server's Noise identity and the certificate chain it presents. The chain is
/// zero-signed (clients accept it only with `danger-skip-cert-chain-verify`) and already
/// expired (`not_after = 1`) so that clients never try Noise IK on reconnect.
pub(crate) struct ServerIdentity {
    pub key: KeyPair,
    pub cert_chain: Vec<u8>,
}

impl ServerIdentity {
    pub fn generate() -> Self {
        let key = KeyPair::generate(&mut rand::rng());
        let pubkey: [u8; 32] = key
            .public_key
            .public_key_bytes()
            .try_into()
            .expect("32-byte key");
        let details = |serial: u32, issuer: u32, key: Vec<u8>| {
            wa::cert_chain::noise_certificate::Details {
                serial: Some(serial),
                issuer_serial: Some(issuer),
                key: Some(key),
                not_before: Some(0),
                not_after: Some(1),
            }
            .encode_to_vec()
        };
        let chain = wa::CertChain {
            leaf: buffa::MessageField::some(wa::cert_chain::NoiseCertificate {
                details: Some(details(2, 1, pubkey.to_vec())),
                signature: Some(vec![0u8; 64]),
            }),
            intermediate: buffa::MessageField::some(wa::cert_chain::NoiseCertificate {
                details: Some(details(1, 0, vec![0xCC; 32])),
                signature: Some(vec![0u8; 64]),
            }),
        };
        Self {
            key,
            cert_chain: chain.encode_to_vec(),
        }
    }
}

/// Responder state between ServerHello and ClientFinish.
pub(crate) struct Responder {
    noise: NoiseHandshake,
    eph: KeyPair,
}

/// Handles the ClientHello; returns the state and the ServerHello frame payload.
pub(crate) fn server_hello(
    id: &ServerIdentity,
    client_hello: &[u8],
) -> anyhow::Result<(Responder, Vec<u8>)> {
    let msg = wa::HandshakeMessage::decode_from_slice(client_hello).context("client hello")?;
    let ch = msg
        .client_hello
        .into_option()
        .ok_or_else(|| anyhow!("no client_hello"))?;
    let client_eph: [u8; 32] = ch
        .ephemeral
        .ok_or_else(|| anyhow!("no ephemeral"))?
        .try_into()
        .map_err(|_| anyhow!("bad ephemeral"))?;
    let mut noise = NoiseHandshake::new(NOISE_PATTERN_XX, &WA_CONN_HEADER)?;
    noise.authenticate(&client_eph);
    let eph = KeyPair::generate(&mut rand::rng());
    let eph_pub = eph.public_key.public_key_bytes().to_vec();
    noise.authenticate(&eph_pub);
    noise.mix_shared_secret(eph.private_key.serialize(), &client_eph)?;
    let enc_static = noise.encrypt(id.key.public_key.public_key_bytes())?;
    noise.mix_shared_secret(id.key.private_key.serialize(), &client_eph)?;
    let enc_payload = noise.encrypt(&id.cert_chain)?;
    let hello = wa::HandshakeMessage {
        server_hello: buffa::MessageField::some(wa::handshake_message::ServerHello {
            ephemeral: Some(eph_pub),
            r#static: Some(enc_static),
            payload: Some(enc_payload),
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok((Responder { noise, eph }, hello.encode_to_vec()))
}

/// Handles the ClientFinish: the client's static key, its `ClientPayload`, and the
/// transport ciphers.
pub(crate) fn client_finish(
    mut r: Responder,
    frame: &[u8],
) -> anyhow::Result<([u8; 32], wa::ClientPayload, Transport)> {
    let msg = wa::HandshakeMessage::decode_from_slice(frame).context("client finish")?;
    let cf = msg
        .client_finish
        .into_option()
        .ok_or_else(|| anyhow!("no client_finish"))?;
    let static_ct = cf.r#static.ok_or_else(|| anyhow!("no static"))?;
    let payload_ct = cf.payload.ok_or_else(|| anyhow!("no payload"))?;
    let client_static: [u8; 32] = r
        .noise
        .decrypt(&static_ct)?
        .try_into()
        .map_err(|_| anyhow!("bad static"))?;
    r.noise
        .mix_shared_secret(r.eph.private_key.serialize(), &client_static)?;
    let payload = r.noise.decrypt(&payload_ct)?;
    let payload = wa::ClientPayload::decode_from_slice(payload.as_slice()).context("payload")?;
    let (initiator_write, initiator_read) = r.noise.finish()?;
    Ok((
        client_static,
        payload,
        Transport {
            read: initiator_write,
            write: initiator_read,
            read_ctr: 0,
            write_ctr: 0,
        },
    ))
}

/// Encrypts and decrypts the frames of an established connection.
pub(crate) struct Transport {
    read: NoiseCipher,
    write: NoiseCipher,
    read_ctr: u32,
    write_ctr: u32,
}

impl Transport {
    /// Encrypts a marshalled stanza and returns the framed bytes.
    pub fn seal(&mut self, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let ct = self.write.encrypt_with_counter(self.write_ctr, plaintext)?;
        self.write_ctr += 1;
        wacore::framing::encode_frame(&ct, None)
    }

    /// Decrypts one frame body.
    pub fn open(&mut self, mut frame: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        self.read
            .decrypt_in_place_with_counter(self.read_ctr, &mut frame)?;
        self.read_ctr += 1;
        Ok(frame)
    }
}
