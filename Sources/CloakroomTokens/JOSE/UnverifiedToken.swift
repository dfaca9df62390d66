public import Foundation

/// A token's parts decoded WITHOUT verification, for display (`cloakroom token decode`).
///
/// Nothing here is trustworthy: anyone can write any header and payload. What it does show is
/// that a JWS is signed, not encrypted; its payload is readable by anyone who holds the token.
public struct UnverifiedToken: Sendable, Hashable {
    /// The notice to print next to a decoded token.
    public static let notice = """
        NOT VERIFIED: the signature was not checked, so nothing below can be trusted. \
        A signed token (JWS) is not encrypted: anyone holding it can read this header and payload.
        """

    /// The header JSON, pretty-printed with sorted keys.
    public let headerJSON: String
    /// The raw payload bytes.
    public let payload: Data
    /// The raw signature bytes.
    public let signature: Data
    /// The `alg` header as written, if it is a string.
    public let algorithm: String?
    /// The `kid` header, if it is a string.
    public let kid: String?

    /// Splits and decodes `token` under the same strict rules as verification (size, three
    /// unpadded base64url segments, a JSON object header), checking nothing else.
    public init(decoding token: String, maximumSize: Int = JWSVerifier.defaultMaximumTokenSize) throws(TokenError) {
        let jws = try CompactJWS.parse(token, maximumSize: maximumSize)
        self.headerJSON = Self.pretty(Array(jws.headerBytes)) ?? String(decoding: jws.headerBytes, as: UTF8.self)
        self.payload = Data(jws.payload)
        self.signature = Data(jws.signature)
        self.algorithm = jws.string(jws.header.alg)
        self.kid = jws.string(jws.header.kid)
    }

    /// The payload pretty-printed, if it is JSON.
    public var payloadJSON: String? { Self.pretty(Array(payload)) }

    /// The payload as a JSON object, if it is one (claims to read, never to trust).
    public var claims: [String: Any]? { try? JSONSerialization.jsonObject(with: payload) as? [String: Any] }

    /// The payload as text, if it is UTF-8.
    public var payloadText: String? { String(validating: payload, as: UTF8.self) }

    private static func pretty(_ bytes: [UInt8]) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(
                withJSONObject: object,
                options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]
            )
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
