public import CloakroomCore
public import Foundation

/// Checks a compact JWS against a key source: header rules, the key's one algorithm, and the
/// signature (computed by swift-crypto). Claims are not looked at; ``TokenVerifier`` does that.
///
/// The header decides nothing (RFC 8725 section 2): the key is found by `kid` in the configured
/// source and must have been configured with the `alg` the header names. Refused before any
/// key is touched: `alg: none` in any casing; `jwk`, `jku`, `x5u`, `x5c` (a token never brings
/// or points to its own key); any `crit` (no extensions are implemented).
public struct JWSVerifier: Sendable {
    /// The default size limit: 8 KiB, far above any token Cloakroom issues (about 700 bytes).
    public static let defaultMaximumTokenSize = 8192

    /// Where keys are looked up by `kid`.
    public let keys: any VerificationKeySource
    /// Tokens longer than this many bytes are refused before parsing.
    public let maximumTokenSize: Int
    /// Used when no `now` is given (decides whether a retired key still verifies).
    public let clock: any CloakroomClock
    /// `keys`, when it can answer without suspending (a ``TokenKeyRing`` or ``VerificationKeySet``).
    let immediateKeys: (any ImmediateVerificationKeySource)?

    /// Creates a verifier over `keys`.
    public init(
        keys: any VerificationKeySource,
        maximumTokenSize: Int = JWSVerifier.defaultMaximumTokenSize,
        clock: any CloakroomClock = SystemClock()
    ) {
        self.keys = keys
        self.maximumTokenSize = maximumTokenSize
        self.clock = clock
        self.immediateKeys = keys as? any ImmediateVerificationKeySource
    }

    /// Verifies the JWS header rules, the algorithm against the key and the signature; the
    /// payload may be anything (it is not read as a JWT claim set).
    public func verifySignatureOnly(_ token: String, now: Date? = nil) async throws(TokenError) -> VerifiedJWS {
        let jws = try CompactJWS.parse(token, maximumSize: maximumTokenSize)
        let algorithm = try await verify(jws, of: token, acceptedTypes: nil, now: now ?? clock.now())
        return VerifiedJWS(
            kid: jws.string(jws.header.kid),
            algorithm: algorithm,
            headerJSON: String(decoding: jws.headerBytes, as: UTF8.self),
            payload: Data(jws.payload)
        )
    }

    /// The shared path: header rules, optional `typ` check, key lookup, algorithm, signature.
    /// `token` is the string `jws` was parsed from. Returns the key's algorithm.
    func verify(_ jws: CompactJWS, of token: String, acceptedTypes: AcceptedTypes?, now: Date) async throws(TokenError) -> TokenAlgorithm {
        if let immediateKeys {
            return try withUTF8(of: token) { utf8 in
                Result { () throws(TokenError) in
                    try jws.withBytes { bytes throws(TokenError) in
                        try verify(bytes, token: utf8, acceptedTypes: acceptedTypes, now: now, keys: immediateKeys)
                    }
                }
            }.get()
        }
        let headerAlgorithm = try jws.withBytes { bytes throws(TokenError) in try checkHeader(bytes, acceptedTypes: acceptedTypes) }
        let key = await keys.verificationKey(kid: jws.string(jws.header.kid), at: now)
        return try withUTF8(of: token) { utf8 in
            Result { () throws(TokenError) in
                try jws.withBytes { bytes throws(TokenError) in
                    try checkSignature(bytes, token: utf8, key: key, headerAlgorithm: headerAlgorithm)
                }
            }
        }.get()
    }

    /// The shared path without suspending, for a key source that answers at once: `token` is
    /// the UTF-8 of the token `jws` was parsed from.
    func verify(
        _ jws: JWSBytes,
        token: UnsafeBufferPointer<UInt8>,
        acceptedTypes: AcceptedTypes?,
        now: Date,
        keys: any ImmediateVerificationKeySource
    ) throws(TokenError) -> TokenAlgorithm {
        let headerAlgorithm = try checkHeader(jws, acceptedTypes: acceptedTypes)
        let key = jws.withMember(jws.header.kid) { keys.immediateVerificationKey(kid: $0, at: now) }
        return try checkSignature(jws, token: token, key: key, headerAlgorithm: headerAlgorithm)
    }

    /// Header rules and the `typ` check; the header's algorithm, if it names one.
    private func checkHeader(_ jws: JWSBytes, acceptedTypes: AcceptedTypes?) throws(TokenError) -> TokenAlgorithm? {
        let headerAlgorithm = try HeaderRules.check(jws)
        if let acceptedTypes {
            let accepted = jws.withMember(jws.header.typ) { typ in
                typ.map(acceptedTypes.accept) ?? false
            }
            guard accepted else { throw .wrongType() }
        }
        return headerAlgorithm
    }

    /// The key found (or not) for the header's `kid`, its algorithm, and the signature.
    private func checkSignature(
        _ jws: JWSBytes,
        token: UnsafeBufferPointer<UInt8>,
        key: VerificationKey?,
        headerAlgorithm: TokenAlgorithm?
    ) throws(TokenError) -> TokenAlgorithm {
        guard let key else {
            throw jws.header.kid == .absent ? .missingKid() : .unknownKid()
        }
        guard let check = key.signatureCheck, let algorithm = key.algorithm else { throw .keyUseMismatch() }
        // The header's alg is the key's when it names the same algorithm (any other text is not).
        guard headerAlgorithm == algorithm else { throw .algMismatch() }
        guard check.isValid(jws.signature, for: jws.signingInput(of: token)) else { throw .badSignature() }
        return algorithm
    }

    /// The `typ` values a caller accepts, lowercased, with their bytes ready for comparing.
    struct AcceptedTypes: Sendable {
        let types: Set<String>
        /// Each type's UTF-8, when every type is ASCII.
        private let ascii: [[UInt8]]?

        init(_ types: Set<String>) {
            self.types = types
            let utf8 = types.map { Array($0.utf8) }
            self.ascii = utf8.allSatisfy { $0.allSatisfy { $0 < 0x80 } } ? utf8 : nil
        }

        /// `types.contains(typ.lowercased())`, without making strings when `typ` and every
        /// type are ASCII (an ASCII string's lowercase is its ASCII lowercase, and two ASCII
        /// strings are equal exactly when their bytes are).
        func accept(_ typ: HeaderText) -> Bool {
            guard let ascii, case .ascii(let bytes) = typ else {
                return types.contains(typ.string.lowercased())
            }
            return ascii.contains { type in
                type.count == bytes.count
                    && zip(type, bytes).allSatisfy { expected, byte in
                        expected == ((UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte)
                    }
            }
        }
    }
}

/// The JWS header checks made before any key is looked up.
enum HeaderRules {
    /// Header parameters that carry or point to a key or certificate (RFC 7515 sections 4.1.2-4.1.6).
    static let embeddedKeyParameters = ["jwk", "jku", "x5u", "x5c"]

    /// Checks the header of `jws`; returns its `alg` when that names one of ``TokenAlgorithm``
    /// exactly (nil for any other text, which no key accepts).
    static func check(_ jws: JWSBytes) throws(TokenError) -> TokenAlgorithm? {
        let header = jws.header
        switch header.alg {
        case .absent: throw .malformed("the header has no alg")
        case .notString: throw .malformed("the alg header is not a string")
        case .ascii, .string: break
        }
        // A known algorithm name is not "none"; anything else is checked in every casing and spacing.
        if header.algorithm == nil, let alg = jws.string(header.alg),
            alg.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() == "none"
        {
            throw .algNone()
        }
        if header.hasEmbeddedKey {
            throw .embeddedKeyRefused()
        }
        if header.hasCrit {
            throw .unsupportedCrit()
        }
        if header.kid == .notString {
            throw .malformed("the kid header is not a string")
        }
        return header.algorithm
    }
}
