//! Streaming CMS encryption through libcrypto: the one module with `unsafe`.
//!
//! The openssl crate's safe `CmsContentInfo::encrypt` needs the whole content
//! in memory and returns the whole DER (about 3× a 50 MB message at peak),
//! and cannot set RSA-OAEP. Here the content is written in chunks into
//! `BIO_new_CMS`, whose BER output lands in a memory BIO used as a pipe and
//! is drained after every chunk: memory stays at one chunk plus the caller's
//! buffers, whatever the message size.
//!
//! libcrypto functions openssl-sys does not declare are declared below
//! (OpenSSL 3.0 `cms.h`, `bio.h`).

#![allow(unsafe_code)]

use std::ffi::{c_int, c_uint, c_void};
use std::io::Read;
use std::ptr;

use foreign_types::ForeignTypeRef;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::{X509Ref, X509};
use openssl_sys as sys;

extern "C" {
    fn BIO_new_CMS(out: *mut sys::BIO, cms: *mut sys::CMS_ContentInfo) -> *mut sys::BIO;
    fn BIO_pop(bio: *mut sys::BIO) -> *mut sys::BIO;
    fn BIO_free(bio: *mut sys::BIO) -> c_int;
    fn CMS_add1_recipient_cert(
        cms: *mut sys::CMS_ContentInfo,
        recip: *mut sys::X509,
        flags: c_uint,
    ) -> *mut c_void;
    fn CMS_RecipientInfo_get0_pkey_ctx(ri: *mut c_void) -> *mut sys::EVP_PKEY_CTX;
}

/// RSA key transport padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaPadding {
    /// RSAES-PKCS1-v1_5: what every S/MIME client decrypts.
    Pkcs1v15,
    /// RSAES-OAEP with SHA-256 (RFC 8017; RFC 8551 §2.3 recommends it),
    /// not read by gpgsm 2.2 or NSS 3.87.
    Oaep,
}

/// Bytes written to the CMS BIO per call (and so the pipe's high-water mark).
const CHUNK: usize = 64 * 1024;

/// Encrypts everything `content` yields to `recipients` with `cipher`
/// (AES-CBC gives EnvelopedData, AES-GCM AuthEnvelopedData) and hands the
/// BER output to `sink` piece by piece.
pub fn encrypt_streaming(
    recipients: &[&X509Ref],
    cipher: Cipher,
    padding: RsaPadding,
    content: &mut dyn Read,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), StreamError> {
    let cms = new_enveloped(recipients, cipher, padding)?;
    // SAFETY: BIO_s_mem returns a static method table; BIO_new allocates a
    // fresh memory BIO that `pipe` owns until freed below.
    let pipe = unsafe { sys::BIO_new(sys::BIO_s_mem()) };
    if pipe.is_null() {
        return Err(StreamError::Ssl(ErrorStack::get()));
    }
    // SAFETY: `pipe` and `cms.0` are valid; on success the returned chain
    // ends in `pipe` and references `cms`, both of which outlive it.
    let chain = unsafe { BIO_new_CMS(pipe, cms.0) };
    if chain.is_null() {
        // SAFETY: `pipe` was allocated above and is not part of any chain.
        unsafe { BIO_free(pipe) };
        return Err(StreamError::Ssl(ErrorStack::get()));
    }
    let result = pump(chain, pipe, content, sink);
    // SAFETY: free the filters BIO_new_CMS pushed in front of `pipe`, one by
    // one (as OpenSSL's own i2d_ASN1_bio_stream does), then `pipe` itself.
    unsafe {
        let mut bio = chain;
        while !bio.is_null() && bio != pipe {
            let next = BIO_pop(bio);
            BIO_free(bio);
            bio = next;
        }
        BIO_free(pipe);
    }
    result
}

/// Why streaming encryption failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("OpenSSL: {0}")]
    Ssl(ErrorStack),
    #[error("reading or writing the message: {0}")]
    Io(#[from] std::io::Error),
}

/// Owns a `CMS_ContentInfo*`.
struct Cms(*mut sys::CMS_ContentInfo);

impl Drop for Cms {
    fn drop(&mut self) {
        // SAFETY: the pointer came from CMS_encrypt and is freed once.
        unsafe { sys::CMS_ContentInfo_free(self.0) }
    }
}

fn new_enveloped(
    recipients: &[&X509Ref],
    cipher: Cipher,
    padding: RsaPadding,
) -> Result<Cms, StreamError> {
    let flags = sys::CMS_BINARY | sys::CMS_STREAM | sys::CMS_PARTIAL;
    // SAFETY: a NULL certificate stack and NULL data are allowed with
    // CMS_PARTIAL|CMS_STREAM: recipients are added next, content streamed later.
    let cms = unsafe { sys::CMS_encrypt(ptr::null_mut(), ptr::null_mut(), cipher.as_ptr(), flags) };
    if cms.is_null() {
        return Err(StreamError::Ssl(ErrorStack::get()));
    }
    let cms = Cms(cms);
    // Keep the certificates alive (and up-referenced) while CMS holds them.
    let mut held: Stack<X509> = Stack::new().map_err(StreamError::Ssl)?;
    for cert in recipients {
        held.push((*cert).to_owned()).map_err(StreamError::Ssl)?;
    }
    for cert in &held {
        let is_rsa = cert
            .public_key()
            .map(|k| k.id() == openssl::pkey::Id::RSA)
            .map_err(StreamError::Ssl)?;
        let oaep = is_rsa && padding == RsaPadding::Oaep;
        let key_flags = if oaep { sys::CMS_KEY_PARAM } else { 0 };
        // SAFETY: `cms.0` and the certificate are valid; CMS up-refs the cert.
        let ri = unsafe { CMS_add1_recipient_cert(cms.0, cert.as_ptr(), key_flags) };
        if ri.is_null() {
            return Err(StreamError::Ssl(ErrorStack::get()));
        }
        if oaep {
            // SAFETY: with CMS_KEY_PARAM the RecipientInfo's key context is
            // initialised for encryption and may take parameters now.
            let ok = unsafe {
                let ctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
                !ctx.is_null()
                    && sys::EVP_PKEY_CTX_set_rsa_padding(ctx, sys::RSA_PKCS1_OAEP_PADDING) > 0
                    && sys::EVP_PKEY_CTX_set_rsa_oaep_md(
                        ctx,
                        MessageDigest::sha256().as_ptr() as *mut _,
                    ) > 0
                    && sys::EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, MessageDigest::sha256().as_ptr()) > 0
            };
            if !ok {
                return Err(StreamError::Ssl(ErrorStack::get()));
            }
        }
    }
    Ok(cms)
}

/// Writes `content` into the CMS chain and drains the pipe after each chunk.
fn pump(
    chain: *mut sys::BIO,
    pipe: *mut sys::BIO,
    content: &mut dyn Read,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), StreamError> {
    let mut chunk = vec![0u8; CHUNK];
    let mut out = vec![0u8; CHUNK * 2];
    let mut drain =
        |sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>| -> Result<(), StreamError> {
            loop {
                // SAFETY: `out` is a live buffer of the given length.
                let n = unsafe { sys::BIO_read(pipe, out.as_mut_ptr().cast(), out.len() as c_int) };
                if n <= 0 {
                    return Ok(());
                }
                sink(&out[..n as usize])?;
            }
        };
    loop {
        let n = match content.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StreamError::Io(e)),
        };
        // SAFETY: `chunk[..n]` is live; n <= CHUNK fits in c_int.
        let written = unsafe { sys::BIO_write(chain, chunk.as_ptr().cast(), n as c_int) };
        if written != n as c_int {
            return Err(StreamError::Ssl(ErrorStack::get()));
        }
        drain(sink)?;
    }
    // SAFETY: flushing the chain finalises the CMS structure into `pipe`.
    let flushed = unsafe { sys::BIO_ctrl(chain, sys::BIO_CTRL_FLUSH, 0, ptr::null_mut()) };
    if flushed <= 0 {
        return Err(StreamError::Ssl(ErrorStack::get()));
    }
    drain(sink)
}

/// A certs-only PKCS#7 SignedData (RFC 2315 degenerate case, RFC 8551
/// §3.8): the `userSMIMECertificate` value Outlook reads from a directory.
pub fn certs_only(certs: &[&X509Ref]) -> Result<Vec<u8>, ErrorStack> {
    use foreign_types::ForeignType;
    use openssl::pkcs7::Pkcs7;
    // SAFETY: PKCS7_new returns a fresh structure (or NULL) that `Pkcs7`
    // owns and frees; the calls below only configure it, and
    // PKCS7_add_certificate up-refs each certificate it stores.
    let p7 = unsafe {
        let raw = sys::PKCS7_new();
        if raw.is_null() {
            return Err(ErrorStack::get());
        }
        let p7 = Pkcs7::from_ptr(raw);
        if sys::PKCS7_set_type(p7.as_ptr(), sys::NID_pkcs7_signed) <= 0
            || sys::PKCS7_content_new(p7.as_ptr(), sys::NID_pkcs7_data) <= 0
        {
            return Err(ErrorStack::get());
        }
        for cert in certs {
            if sys::PKCS7_add_certificate(p7.as_ptr(), cert.as_ptr()) <= 0 {
                return Err(ErrorStack::get());
            }
        }
        p7
    };
    p7.to_der()
}
