import CloakroomCore

/// A checked authorization request (`GET /authorize`, RFC 6749 §4.1.1 with OAuth 2.1's rules and
/// OpenID Connect Core §3.1.2.1): only the authorization code flow, PKCE with S256 always.
public struct AuthorizationRequest: Sendable, Equatable {
    public let client: OAuthClient
    /// The redirect URI the request named (or the client's only one), registered for the client.
    public let redirectURI: String
    /// Whether the request named it (then the token request must name it too, RFC 6749 §4.1.3).
    public let redirectURIGiven: Bool
    public let scope: Scope
    public let state: String?
    public let nonce: String?
    public let codeChallenge: String
    /// `prompt` values: `none`, `login`, `consent`, `select_account`.
    public let prompt: Set<String>
    /// `max_age` in seconds: a sign-in older than this must be repeated.
    public let maxAge: Int?

    /// The outcome of checking a request.
    public enum Outcome: Sendable, Equatable {
        /// The client or the redirect URI cannot be trusted: the error is shown to the user, never
        /// sent anywhere (RFC 6749 §4.1.2.1, RFC 9700 §4.1: no open redirector).
        case refused(OAuthError)
        /// Sent back to the (registered) redirect URI as `error=`, with `state`.
        case redirect(OAuthError, redirectURI: String, state: String?)
        case valid(AuthorizationRequest)
    }

    static let knownParameters: Set<String> = [
        "client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method",
        "prompt", "max_age", "response_mode", "request", "request_uri", "login_hint", "ui_locales", "display", "claims",
        "id_token_hint", "acr_values",
    ]

    /// Checks `query` (the raw query string) against the client `lookup` finds.
    ///
    /// First the client and the redirect URI (a repeated, missing or unknown one is `refused`); then
    /// the rest, whose errors go back to the redirect URI: `request`/`request_uri` not supported,
    /// `response_type` exactly `code` (the implicit and hybrid flows are gone in OAuth 2.1), only
    /// `response_mode=query`, scopes within the client's, PKCE S256, `prompt` and `max_age` well
    /// formed, no parameter given twice.
    public static func check(
        query: String,
        lookup: (String) async throws -> OAuthClient?
    ) async throws -> Outcome {
        guard let pairs = FormURLEncoded.pairs(query) else {
            return .refused(.invalidRequest("the query is not valid percent-encoded UTF-8"))
        }
        var values: [String: String] = [:]
        var repeated: Set<String> = []
        for (name, value) in pairs where knownParameters.contains(name) {
            if values[name] != nil { repeated.insert(name) } else { values[name] = value }
        }
        for name in ["client_id", "redirect_uri"] where repeated.contains(name) {
            return .refused(.invalidRequest("\(name) is given more than once"))
        }
        guard let clientID = values["client_id"], !clientID.isEmpty else { return .refused(.invalidRequest("client_id is required")) }
        guard let client = try await lookup(clientID) else { return .refused(.invalidClient("unknown client_id")) }
        let scopeText = values["scope"] ?? ""
        let redirectURI: String
        if let presented = values["redirect_uri"] {
            guard RedirectURI.match(presented, in: client.redirectURIs) != nil else {
                return .refused(.invalidRequest("redirect_uri is not registered for this client"))
            }
            redirectURI = presented
        } else if client.redirectURIs.count == 1, !scopeText.split(separator: " ").contains("openid") {
            redirectURI = client.redirectURIs[0]
        } else {
            return .refused(.invalidRequest("redirect_uri is required"))
        }

        let state = values["state"]
        func fail(_ error: OAuthError) -> Outcome { .redirect(error, redirectURI: redirectURI, state: state) }
        if let name = repeated.sorted().first { return fail(.invalidRequest("\(name) is given more than once")) }
        if values["request"] != nil { return fail(.init("request_not_supported", "request objects are not supported")) }
        if values["request_uri"] != nil { return fail(.init("request_uri_not_supported", "request_uri is not supported")) }
        switch values["response_type"] {
        case nil, "":
            return fail(.invalidRequest("response_type is required"))
        case "code":
            break
        case let other?:
            let why = other.split(separator: " ").contains("token") ? " (the implicit flow is not offered: OAuth 2.1)" : ""
            return fail(.unsupportedResponseType("only response_type=code is supported\(why)"))
        }
        if let mode = values["response_mode"], mode != "query" {
            return fail(.invalidRequest("only response_mode=query is supported"))
        }
        if let state, state.utf8.count > 2048 { return fail(.invalidRequest("state is longer than 2,048 bytes")) }
        let scope: Scope
        do {
            scope = try Scope(parsing: scopeText)
        } catch {
            return fail(.invalidScope(error.description))
        }
        let extra = scope.tokens.subtracting(client.scopes.tokens)
        guard extra.isEmpty else {
            return fail(.invalidScope("this client may not ask for \(extra.sorted().joined(separator: " "))"))
        }
        do {
            try PKCE.validateChallenge(values["code_challenge"], method: values["code_challenge_method"])
        } catch {
            return fail(.invalidRequest(error.description))
        }
        let nonce = values["nonce"]
        if let nonce, nonce.isEmpty || nonce.utf8.count > 512 { return fail(.invalidRequest("nonce must be 1 to 512 bytes")) }
        var prompt: Set<String> = []
        if let text = values["prompt"] {
            let tokens = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard !tokens.contains(""), tokens.allSatisfy({ ["none", "login", "consent", "select_account"].contains($0) }) else {
                return fail(.invalidRequest("prompt takes none, login, consent or select_account, separated by single spaces"))
            }
            prompt = Set(tokens)
            if prompt.contains("none"), prompt.count > 1 { return fail(.invalidRequest("prompt=none cannot be combined with other values")) }
        }
        var maxAge: Int?
        if let text = values["max_age"] {
            guard let seconds = Int(text), seconds >= 0, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                return fail(.invalidRequest("max_age must be a whole number of seconds"))
            }
            maxAge = seconds
        }
        return .valid(
            AuthorizationRequest(
                client: client,
                redirectURI: redirectURI,
                redirectURIGiven: values["redirect_uri"] != nil,
                scope: scope,
                state: state,
                nonce: nonce,
                codeChallenge: values["code_challenge"] ?? "",
                prompt: prompt,
                maxAge: maxAge
            )
        )
    }
}
