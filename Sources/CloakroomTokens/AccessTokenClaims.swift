public import Foundation

/// The claims of a Cloakroom access token: the JWT profile of RFC 9068 section 2.2, plus `epoch`.
///
/// Times are whole seconds (NumericDate). `epoch` is the subject's revocation epoch when the token
/// was issued; the server refuses tokens whose epoch is below the user's current one, which
/// revokes all of a user's outstanding tokens at once without a per-token store read.
public struct AccessTokenClaims: Sendable, Hashable, Encodable {
    /// `iss`: who issued the token.
    public var issuer: String
    /// `sub`: whom the token is about (the user ID).
    public var subject: String
    /// `aud`: the resource servers the token is for (one or more).
    public var audience: [String]
    /// `exp`: the token is refused from this time on (plus leeway).
    public var expiresAt: Date
    /// `iat`: when the token was issued.
    public var issuedAt: Date
    /// `nbf`: the token is refused before this time (minus leeway), when present.
    public var notBefore: Date?
    /// `jti`: a unique ID for this token.
    public var tokenID: String
    /// `client_id`: the OAuth client the token was issued to.
    public var clientID: String
    /// `scope`: space-separated scopes (RFC 8693 section 4.2); empty for none.
    public var scope: String
    /// `epoch`: the subject's revocation epoch at issue time.
    public var epoch: Int
    /// `sid`: the sign-in this token belongs to (its refresh-token family), when there is one;
    /// lets a client sign out with only its access token.
    public var sessionID: String?

    /// Creates claims; times are truncated to whole seconds, as they are on the wire.
    public init(
        issuer: String,
        subject: String,
        audience: [String],
        expiresAt: Date,
        issuedAt: Date,
        notBefore: Date? = nil,
        tokenID: String,
        clientID: String,
        scope: String,
        epoch: Int,
        sessionID: String? = nil
    ) {
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.expiresAt = Self.wholeSeconds(expiresAt)
        self.issuedAt = Self.wholeSeconds(issuedAt)
        self.notBefore = notBefore.map(Self.wholeSeconds)
        self.tokenID = tokenID
        self.clientID = clientID
        self.scope = scope
        self.epoch = epoch
        self.sessionID = sessionID
    }

    /// The scopes, split on spaces.
    public var scopes: [String] {
        scope.split(separator: " ").map(String.init)
    }

    enum CodingKeys: String, CodingKey {
        case issuer = "iss"
        case subject = "sub"
        case audience = "aud"
        case expiresAt = "exp"
        case issuedAt = "iat"
        case notBefore = "nbf"
        case tokenID = "jti"
        case clientID = "client_id"
        case scope, epoch
        case sessionID = "sid"
    }

    /// Writes the JWT claim set; `aud` is a string when there is a single audience.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(issuer, forKey: .issuer)
        try container.encode(subject, forKey: .subject)
        if audience.count == 1 {
            try container.encode(audience[0], forKey: .audience)
        } else {
            try container.encode(audience, forKey: .audience)
        }
        try container.encode(Self.numericDate(expiresAt), forKey: .expiresAt)
        try container.encode(Self.numericDate(issuedAt), forKey: .issuedAt)
        try container.encodeIfPresent(notBefore.map(Self.numericDate), forKey: .notBefore)
        try container.encode(tokenID, forKey: .tokenID)
        try container.encode(clientID, forKey: .clientID)
        try container.encode(scope, forKey: .scope)
        try container.encode(epoch, forKey: .epoch)
        try container.encodeIfPresent(sessionID, forKey: .sessionID)
    }

    /// The claim members read from a payload; the reader below refers to them by index.
    private static let names = JSONMemberNames(["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "epoch", "sid"])

    /// One claim member's value as read: a string's bytes or text, or any other JSON value.
    private enum Slot {
        case text(JSONText)
        case value(JSONValue)
    }

    /// Reads a verified payload member by member, so each problem has its own error: a JSON
    /// object with distinct member names (the same rules as ``JSONValue/object(from:)``; members
    /// other than the claims below are parsed and ignored), then each claim in turn.
    ///
    /// `issuer` and `audience`, the verifier's expected values, only spare copies: an equal
    /// `iss` or `aud` string is that very `String`.
    init(payload: UnsafeBufferPointer<UInt8>, issuer knownIssuer: String?, audience knownAudience: String?) throws(TokenError) {
        var iss: Slot?
        var sub: Slot?
        var aud: Slot?
        var exp: Slot?
        var iat: Slot?
        var nbf: Slot?
        var jti: Slot?
        var clientID: Slot?
        var scope: Slot?
        var epoch: Slot?
        var sid: Slot?
        var parser = JSONValue.Parser(bytes: payload)
        let valid = parser.objectDocument(Self.names) { index, parser in
            let slot: Slot
            // A string where a string claim belongs is read without a copy; anything else (exp,
            // iat, nbf and epoch, indexes 3, 4, 5 and 9, are numbers) as a value.
            let isString = parser.index < parser.bytes.count && parser.bytes[parser.index] == UInt8(ascii: "\"")
            if isString, index != 3, index != 4, index != 5, index != 9 {
                guard let text = parser.text() else { return false }
                slot = .text(text)
            } else {
                guard let value = parser.value() else { return false }
                slot = .value(value)
            }
            switch index {
            case 0: iss = slot
            case 1: sub = slot
            case 2: aud = slot
            case 3: exp = slot
            case 4: iat = slot
            case 5: nbf = slot
            case 6: jti = slot
            case 7: clientID = slot
            case 8: scope = slot
            case 9: epoch = slot
            default: sid = slot
            }
            return true
        }
        guard valid else {
            throw .malformed("the payload is not a JSON object with distinct member names")
        }
        func string(_ slot: Slot?, _ name: String, interning interned: String? = nil) throws(TokenError) -> String {
            switch slot {
            case nil: throw .missingClaim(name)
            case .text(let text)?: return text.string(interning: interned)
            case .value(let value)?:
                guard let text = value.stringValue else { throw .malformed("the \(name) claim is not a string") }
                return text
            }
        }
        func date(_ slot: Slot?, _ name: String) throws(TokenError) -> Date? {
            guard let slot else { return nil }
            guard case .value(let value) = slot, let seconds = value.doubleValue, seconds.isFinite else {
                throw .malformed("the \(name) claim is not a number")
            }
            // A signed token can still carry any number: keep times within what every store
            // (milliseconds in 64 bits) and date formatter can hold.
            guard Self.numericDateRange.contains(seconds) else {
                throw .malformed("the \(name) claim is out of range (0 to year 9999)")
            }
            return Date(timeIntervalSince1970: seconds)
        }
        self.issuer = try string(iss, "iss", interning: knownIssuer)
        self.subject = try string(sub, "sub")
        switch aud {
        case nil:
            throw .missingClaim("aud")
        case .text(let single)?:
            self.audience = [single.string(interning: knownAudience)]
        case .value(.string(let single))?:
            self.audience = [single]
        case .value(.array(let values))?:
            let names = values.compactMap(\.stringValue)
            guard names.count == values.count, !names.isEmpty else {
                throw .malformed("the aud claim is not a string or an array of strings")
            }
            self.audience = names
        default:
            throw .malformed("the aud claim is not a string or an array of strings")
        }
        guard let expiresAt = try date(exp, "exp") else { throw .missingClaim("exp") }
        guard let issuedAt = try date(iat, "iat") else { throw .missingClaim("iat") }
        self.expiresAt = expiresAt
        self.issuedAt = issuedAt
        self.notBefore = try date(nbf, "nbf")
        self.tokenID = try string(jti, "jti")
        self.clientID = try string(clientID, "client_id")
        self.scope = scope == nil ? "" : try string(scope, "scope")
        guard case .value(let epochValue)? = epoch else {
            if epoch == nil { throw .missingClaim("epoch") }
            throw .malformed("the epoch claim is not an integer")
        }
        guard let epochNumber = epochValue.integerValue else { throw .malformed("the epoch claim is not an integer") }
        self.epoch = epochNumber
        self.sessionID = sid == nil ? nil : try string(sid, "sid")
    }

    /// The NumericDates accepted in a token: 1970-01-01 up to the end of the year 9999.
    static let numericDateRange: ClosedRange<Double> = 0...253_402_300_799

    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    static func numericDate(_ date: Date) -> Int64 {
        Int64(date.timeIntervalSince1970.rounded(.down))
    }
}
