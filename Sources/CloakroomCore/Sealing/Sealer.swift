import Crypto
public import Foundation

/// Seals a value under a `SealingKeyRing`, bound to a name (a cookie's), with an optional expiry
/// inside; opens it again, refusing each kind of bad value with its own `SealError` reason.
///
/// The sealed text is `{mode}1.{kid}.{name tag}.{payload}` in cookie-safe characters:
/// - `mode`: `a` AES-256-GCM or `c` ChaCha20-Poly1305 (encrypted and authenticated; the default is
///   AES-GCM), or `s` HMAC-SHA-256 (signed only: readable by the client, for preferences);
/// - `kid`: the sealing key's ID, so a rotated-out key is named when it is refused;
/// - `name tag`: the first 4 bytes of SHA-256 of the name, base64url, so a value moved to another
///   name is refused as such. The name itself is bound into the authentication (AEAD associated
///   data, or the MAC's input): the tag only tells that case apart from tampering;
/// - `payload`: an 8-byte expiry (milliseconds since 1970, big-endian; 0 for none), then the value:
///   for AEAD, `nonce ‖ ciphertext ‖ tag` (a fresh 12-byte random nonce each time); signed,
///   `expiry ‖ value` then `.` and the MAC.
///
/// Each algorithm uses its own subkey, derived from the key with HKDF-SHA256, so one secret never
/// serves two algorithms. No primitive is written here: swift-crypto does them.
public struct Sealer: Sendable {
    /// How values are sealed.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        case aesGCM = "a"
        case chaChaPoly = "c"
        case signed = "s"
    }

    public let ring: SealingKeyRing
    public let mode: Mode

    public init(ring: SealingKeyRing, mode: Mode = .aesGCM) {
        self.ring = ring
        self.mode = mode
    }

    /// `value` sealed for `name` under the ring's current key, expiring at `expires` (if given).
    public func seal(_ value: [UInt8], name: String, expires: Date? = nil) throws(SealError) -> String {
        let key = ring.current
        let header = "\(mode.rawValue)1.\(key.id).\(Self.nameTag(name))"
        var body = Self.bigEndian(expires.map(Self.milliseconds) ?? 0)
        body.append(contentsOf: value)
        let aad = Self.associatedData(header: header, name: name)
        switch mode {
        case .aesGCM:
            let sealed = try Self.aesGCMSeal(body, key: key.subkey("aes-256-gcm"), nonce: Self.randomNonce(), aad: aad)
            return header + "." + Base64URL.encode(sealed)
        case .chaChaPoly:
            let sealed = try Self.chaChaPolySeal(body, key: key.subkey("chacha20-poly1305"), nonce: Self.randomNonce(), aad: aad)
            return header + "." + Base64URL.encode(sealed)
        case .signed:
            let mac = HMAC<SHA256>.authenticationCode(for: aad + body, using: key.subkey("hmac-sha256"))
            return header + "." + Base64URL.encode(body) + "." + Base64URL.encode(Array(mac))
        }
    }

    /// The value `text` holds, if it was sealed by this sealer's mode under a key of the ring, for
    /// `name`, unaltered, and not expired at `now`.
    public func open(_ text: String, name: String, now: Date) throws(SealError) -> [UInt8] {
        // Split as bytes: a session sealed into a cookie is up to 4 KB, and splitting a String by
        // Characters cost more than the decryption.
        let bytes = Array(text.utf8)
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == (mode == .signed ? 5 : 4), parts[0].count == 2 else {
            throw SealError(.malformed, "not a sealed value")
        }
        guard parts[0].elementsEqual("\(mode.rawValue)1".utf8) else { throw SealError(.malformed, "sealed in another mode or version") }
        let keyID = String(decoding: parts[1], as: UTF8.self)
        guard let key = ring.key(id: Substring(keyID)) else {
            throw SealError(.unknownKey, "sealed under key \(keyID), which this ring does not hold")
        }
        guard parts[2].elementsEqual(Self.nameTag(name).utf8) else { throw SealError(.wrongName, "sealed for another name than \(name)") }
        guard let payload = Base64URL.decodeCanonical(parts[3]) else { throw SealError(.malformed, "the payload is not base64url") }
        let header = String(decoding: bytes[parts[0].startIndex..<parts[2].endIndex], as: UTF8.self)
        let aad = Self.associatedData(header: header, name: name)
        let body: [UInt8]
        switch mode {
        case .aesGCM:
            body = try Self.aesGCMOpen(payload, key: key.subkey("aes-256-gcm"), aad: aad)
        case .chaChaPoly:
            body = try Self.chaChaPolyOpen(payload, key: key.subkey("chacha20-poly1305"), aad: aad)
        case .signed:
            guard let mac = Base64URL.decodeCanonical(parts[4]),
                HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: aad + payload, using: key.subkey("hmac-sha256"))
            else { throw SealError(.tampered, "the signature does not match") }
            body = payload
        }
        guard body.count >= 8 else { throw SealError(.tampered, "the sealed body is too short") }
        let expiry = body.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if expiry != 0, expiry <= Self.milliseconds(now) { throw SealError(.expired, "expired") }
        return Array(body.dropFirst(8))
    }

    // MARK: - The AEAD steps (also run against published vectors)

    /// AES-256-GCM: `nonce ‖ ciphertext ‖ tag`.
    static func aesGCMSeal(_ plaintext: [UInt8], key: SymmetricKey, nonce: [UInt8], aad: [UInt8]) throws(SealError) -> [UInt8] {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: try AES.GCM.Nonce(data: nonce), authenticating: aad)
            return Array(box.nonce) + Array(box.ciphertext) + Array(box.tag)
        } catch {
            throw SealError(.invalidKey, "AES-GCM refused the key or nonce")
        }
    }

    static func aesGCMOpen(_ sealed: [UInt8], key: SymmetricKey, aad: [UInt8]) throws(SealError) -> [UInt8] {
        guard sealed.count >= 28 else { throw SealError(.tampered, "the sealed payload is too short") }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key, authenticating: aad))
        } catch {
            throw SealError(.tampered, "the authentication tag does not match")
        }
    }

    /// ChaCha20-Poly1305: `nonce ‖ ciphertext ‖ tag`.
    static func chaChaPolySeal(_ plaintext: [UInt8], key: SymmetricKey, nonce: [UInt8], aad: [UInt8]) throws(SealError) -> [UInt8] {
        do {
            let box = try ChaChaPoly.seal(plaintext, using: key, nonce: try ChaChaPoly.Nonce(data: nonce), authenticating: aad)
            return Array(box.combined)
        } catch {
            throw SealError(.invalidKey, "ChaCha20-Poly1305 refused the key or nonce")
        }
    }

    static func chaChaPolyOpen(_ sealed: [UInt8], key: SymmetricKey, aad: [UInt8]) throws(SealError) -> [UInt8] {
        guard sealed.count >= 28 else { throw SealError(.tampered, "the sealed payload is too short") }
        do {
            let box = try ChaChaPoly.SealedBox(combined: sealed)
            return Array(try ChaChaPoly.open(box, using: key, authenticating: aad))
        } catch {
            throw SealError(.tampered, "the authentication tag does not match")
        }
    }

    // MARK: - Pieces

    static func nameTag(_ name: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(name.utf8))).prefix(4))
    }

    /// What the authentication covers besides the body: the header (mode, version, key ID, name
    /// tag) and the whole name.
    static func associatedData(header: String, name: String) -> [UInt8] {
        Array("cloakroom-seal-v1\u{0}\(header)\u{0}\(name)\u{0}".utf8)
    }

    static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<12).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    static func milliseconds(_ date: Date) -> UInt64 {
        UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded()))
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }
}
