import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomOAuth
import CloakroomReplication
import CloakroomSessions
import CloakroomTokens
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// What every route needs, built once per server.
struct AppServices: Sendable {
    let configuration: ServerConfiguration
    let backends: Backends
    let sessions: SessionManager
    let signIn: SignInService
    let keyRing: TokenKeyRing
    let tokens: TokenService
    /// The keys ID tokens are signed with (RS256 unless configured otherwise), published in the
    /// same JWK Set as the access-token keys.
    let idTokenKeys: TokenKeyRing
    /// The OAuth authorization server and OpenID provider.
    let oauth: OAuthProvider
    /// Logout tokens to the relying parties of sessions that end.
    let backChannel: BackChannelLogout
    /// The other OpenID providers users may sign in with, by name.
    let relyingParties: [String: OpenIDRelyingParty]
    /// The token cookies with `--token-transport cookie`, else nil.
    let tokenCookies: TokenCookieSettings?
    /// The known-device cookie set at sign-in.
    let knownDevices: KnownDevices
    /// The signed, script-readable preference cookie (the theme).
    let preferences: PreferenceCookie
    /// "Keep me signed in" tokens, and their cookie's name.
    let remember: RememberTokens
    let rememberCookieName: String
    let clock: any CloakroomClock
    let logger: Logger
    /// This server's figures, served at `GET /metrics`.
    let metrics: ServerMetrics
    /// Set when the node shuts down: `/healthz` then answers 503 `draining`.
    let drain: DrainState

    /// `keyRing` signs and verifies access tokens; CLI commands that only revoke pass an empty ring.
    init(
        configuration: ServerConfiguration,
        backends: Backends,
        drain: DrainState = DrainState(),
        keyRing: TokenKeyRing? = nil,
        idTokenKeys: TokenKeyRing? = nil,
        codeKey: SymmetricKey? = nil,
        sealingKeys: SealingKeyRing? = nil,
        logDigestKey: SymmetricKey? = nil,
        deviceKey: SymmetricKey? = nil,
        clock: any CloakroomClock = SystemClock(),
        metrics: ServerMetrics = ServerMetrics(),
        logger: Logger
    ) {
        self.configuration = configuration
        self.metrics = metrics
        self.drain = drain
        if let replicated = backends.sessions as? any SessionReplica {
            let figures = ReplicationMetrics(factory: metrics.factory)
            Task { await replicated.attach(figures) }
        }
        // Cookie sessions and preference cookies are sealed under the sealing key file's keys (every
        // node reads the same file); without one (tests, CLI commands), a key of this process's own.
        let sealing = sealingKeys ?? SealingKeyRing(SealingKeyRing.Key(SymmetricKey(size: .bits256), id: "s0"))
        self.backends = backends.meteringSessions(factory: metrics.factory)
            .sealingCookieSessions(
                ring: sealing,
                cookieName: configuration.cookie.cookieName,
                logger: logger
            )
        self.clock = clock
        self.logger = logger
        let ring =
            keyRing
            ?? TokenKeyRing(
                configuration: .init(maxTokenLifetime: configuration.tokens.accessLifetime, leeway: configuration.tokens.leeway),
                clock: clock,
                logger: logger
            )
        self.keyRing = ring
        let issuer = AccessTokenIssuer(
            keyRing: ring,
            configuration: .init(issuer: configuration.issuer, lifetime: configuration.tokens.accessLifetime),
            clock: clock
        )
        let verifier = TokenVerifier(
            keys: ring,
            configuration: .init(issuer: configuration.issuer, audience: configuration.audience, leeway: configuration.tokens.leeway),
            clock: clock
        )
        self.tokens = TokenService(
            issuer: issuer,
            verifier: verifier,
            store: backends.tokens,
            configuration: .init(
                audience: configuration.audience,
                refreshIdleLifetime: configuration.tokens.refreshIdleLifetime,
                refreshAbsoluteLifetime: configuration.tokens.refreshAbsoluteLifetime
            ),
            logger: logger
        )
        let idRing =
            idTokenKeys
            ?? TokenKeyRing(
                configuration: .init(algorithm: .rs256, maxTokenLifetime: configuration.tokens.accessLifetime, leeway: configuration.tokens.leeway),
                clock: clock,
                logger: logger
            )
        self.idTokenKeys = idRing
        // Codes are sealed under a key every node derives from the key-file secret; without one
        // (tests, CLI commands), a key of this process's own.
        let sealer = Sealer(ring: SealingKeyRing(SealingKeyRing.Key(codeKey ?? SymmetricKey(size: .bits256), id: "c1")))
        self.oauth = OAuthProvider(
            issuer: configuration.issuer,
            clients: backends.clients,
            consents: backends.consents,
            codes: AuthorizationCodes(sealer: sealer, tokens: self.tokens, clock: clock),
            tokens: self.tokens,
            idTokens: IDTokenIssuer(keyRing: idRing, issuer: configuration.issuer, clock: clock),
            clock: clock
        )
        self.relyingParties = Dictionary(
            uniqueKeysWithValues: configuration.providers.map { ($0.name, OpenIDRelyingParty(provider: $0, fetch: ProviderHTTP.fetch, clock: clock)) }
        )
        self.backChannel = BackChannelLogout(clients: backends.clients, idTokens: self.oauth.idTokens, logger: logger)
        self.tokenCookies =
            configuration.tokens.transport == .cookie
            ? TokenCookieSettings(baseName: configuration.cookie.baseName, secure: configuration.cookie.secure) : nil
        self.remember = RememberTokens(
            store: backends.tokens,
            lifetime: configuration.rememberLifetime,
            raceWindow: configuration.rememberRaceWindow,
            clock: clock
        )
        self.rememberCookieName = configuration.cookie.companionName("remember")
        self.preferences = PreferenceCookie(
            name: configuration.cookie.companionName("prefs"),
            ring: sealing,
            secure: configuration.cookie.secure
        )
        self.knownDevices = KnownDevices(
            key: deviceKey ?? SymmetricKey(size: .bits256),
            secure: configuration.cookie.secure,
            cookieName: configuration.cookie.companionName("device")
        )
        // An authorization request waiting for the sign-in survives it (the new session of the
        // same browser and user continues it).
        var sessionConfiguration = configuration.sessions
        sessionConfiguration.keptAtSignIn.insert(OAuthRoutes.pendingKey)
        self.sessions = SessionManager(
            store: self.backends.sessions,
            configuration: sessionConfiguration,
            clock: clock,
            logger: logger,
            metrics: metrics.sessions
        )
        self.signIn = SignInService(
            accounts: backends.accounts,
            hasher: PasswordHasher(parameters: configuration.passwordHash),
            throttle: LoginThrottle(store: backends.throttle, ipv6PrefixLength: configuration.throttleIPv6Prefix, metrics: metrics.throttle),
            clock: clock,
            logger: logger,
            logDigestKey: logDigestKey ?? SymmetricKey(size: .bits256),
            commonPasswords: configuration.commonPasswords
        )
    }

    /// How long after a sign-in (or a re-entered password) a caller may end its other sessions
    /// without entering the password again (ASVS 7.5.2).
    static let reauthenticationGrace: TimeInterval = 300
    /// The session key holding when the password was last re-entered (seconds since 1970).
    static let reauthenticatedKey = "_reauth"
    /// The session key marking a session a remember cookie signed in (no password was typed).
    static let rememberedKey = "_remembered"

    /// When the password was last typed in `session`'s sign-in: its sign-in (unless a remember
    /// cookie made it) or its latest re-entered password.
    static func lastPasswordEntry(_ session: Session) -> Date? {
        guard let record = session.record else { return nil }
        let reauthenticated = session.value(forKey: reauthenticatedKey).flatMap(Double.init).map(Date.init(timeIntervalSince1970:))
        let signedIn = session.value(forKey: rememberedKey) == nil ? record.authenticatedAt : nil
        return [signedIn, reauthenticated].compactMap { $0 }.max()
    }

    /// The remember cookie holding `token` (HttpOnly, SameSite=Lax, Path=/, `__Host-` and Secure
    /// over HTTPS), or, with nil, the header that deletes it.
    func rememberCookie(_ token: String?) throws -> HTTPField {
        let cookie = CloakroomCore.Cookie(
            name: rememberCookieName,
            value: token ?? "",
            maxAge: token == nil ? 0 : Int(remember.lifetime),
            path: "/",
            secure: configuration.cookie.secure,
            httpOnly: true,
            sameSite: .lax
        )
        return HTTPField(name: .setCookie, value: try cookie.setCookieHeaderValue())
    }

    /// The remembered device whose cookie `request` carries, if any (`RememberTokens.Device.id`).
    func rememberedDeviceID(of request: Request) async throws -> String? {
        guard let token = request.cookie(named: rememberCookieName) else { return nil }
        return try await remember.deviceID(ofToken: token)
    }

    /// Signing out on this device also forgets it: its remember family ends and the cookie goes.
    func forgetDevice(_ request: Request, in response: inout Response) async throws {
        guard let token = request.cookie(named: rememberCookieName) else { return }
        try await remember.forget(token)
        response.headers.append(try rememberCookie(nil))
    }

    /// Lets `caller` end other sessions: a session signed in or re-authenticated in the last
    /// 5 minutes goes on; otherwise `password` must be the account's (checked and throttled like a
    /// sign-in; it then stamps the session), else 403 `reauthentication_required`. A token caller
    /// always gives its password: an access token does not tell when its sign-in happened.
    func requireRecentAuthentication(_ caller: APIRoutes.Caller, password: String?, address: String?) async throws {
        // A session a remember cookie signed in counts only from a password typed in it.
        if case .session(_, let session) = caller, let latest = Self.lastPasswordEntry(session) {
            if clock.now().timeIntervalSince(latest) < Self.reauthenticationGrace { return }
        }
        guard let password, !password.isEmpty else {
            throw APIError.forbidden(
                code: "reauthentication_required",
                "enter your password again to end other sessions (not needed within 5 minutes of signing in)"
            )
        }
        _ = try await signIn.authenticate(username: caller.account.username, password: password, address: address, device: caller.device)
        if case .session(_, let session) = caller {
            session.setValue(String(clock.now().timeIntervalSince1970), forKey: Self.reauthenticatedKey)
        }
    }

    /// Removes an OAuth client and every consent to it (a client registered later under the same
    /// ID starts from none); nil when there was no such client, else how many consents went.
    func removeClient(id: String) async throws -> Int? {
        guard try await backends.clients.delete(id: id) else { return nil }
        return try await backends.consents.revokeAll(clientID: id)
    }

    /// The sessions of `userID` the server can list: all of them, or, with sessions kept in
    /// cookies, only `current` (the server never sees the others).
    func listedSessions(ofUser userID: String, current: Session?) async throws -> [SessionRecord] {
        guard sessions.keepsSessionsInCookies else { return try await sessions.sessions(ofUser: userID) }
        guard let record = current?.record, record.userID == userID else { return [] }
        return [record]
    }

    // MARK: Ending sessions (every path tells the relying parties: back-channel logout)

    /// Ends one session (sign-out).
    func endSession(_ session: Session) async throws {
        let record = session.record
        try await sessions.destroy(session)
        if let record { backChannel.ended([record]) }
    }

    /// Ends the user's session with this public handle; throws `SessionError` not found.
    func endSession(handle: String, ofUser userID: String) async throws {
        let ending = try await listedSessions(ofUser: userID, current: nil).filter { ConstantTime.equals($0.handle, handle) }
        try await sessions.revoke(handle: handle, ofUser: userID)
        backChannel.ended(ending)
    }

    /// Ends every session of the user but `keeping`; returns how many ended.
    @discardableResult
    func endSessions(ofUser userID: String, keeping: Session? = nil) async throws -> Int {
        let keptKey = keeping?.record?.key
        // Sessions kept in cookies cannot be listed: their relying parties are told by user below.
        let ending = try await listedSessions(ofUser: userID, current: nil).filter { $0.key != keptKey }
        let count = try await sessions.revokeAll(ofUser: userID, keeping: keeping)
        backChannel.ended(ending)
        if sessions.keepsSessionsInCookies {
            backChannel.endedEverywhere(userID: userID, consents: backends.consents, sparing: BackChannelLogout.clients(of: keeping))
        }
        return count
    }

    /// The signed-in account of `session`, or nil (also nil when the account was deleted or disabled).
    func currentAccount(_ session: Session) async throws -> Account? {
        guard let userID = session.userID else { return nil }
        guard let account = try await backends.accounts.account(id: userID), !account.disabled else {
            try await sessions.destroy(session)
            return nil
        }
        return account
    }

    /// The account a verified access token acts for, or nil when it was deleted or disabled.
    func account(for claims: AccessTokenClaims) async throws -> Account? {
        guard let account = try await backends.accounts.account(id: claims.subject), !account.disabled else { return nil }
        return account
    }

    /// Disables (or re-enables) an account; disabling ends all its sessions and tokens.
    func setDisabled(_ account: Account, _ disabled: Bool) async throws -> Int {
        try await backends.accounts.setDisabled(id: account.id, disabled)
        guard disabled else { return 0 }
        try await tokens.revokeEverything(forUser: account.id)
        return try await endSessions(ofUser: account.id)
    }

    /// Deletes an account and ends all its sessions and tokens.
    func delete(_ account: Account) async throws -> Int {
        let ended = try await endSessions(ofUser: account.id)
        try await tokens.revokeEverything(forUser: account.id)
        _ = try await backends.accounts.delete(id: account.id)
        return ended
    }

    /// Creates an account for a sign-up that will be signed in at once. The account is created
    /// before its session: with the session store down, refuse first (503) rather than create the
    /// account and then fail to sign it in (a retry would find the name taken).
    func register(username: String, password: String, address: String? = nil) async throws -> Account {
        try await backends.pingSessions()
        return try await signIn.register(username: username, password: password, address: address)
    }

    /// An operator sets a new password: every session and every token of the account end.
    /// Returns how many sessions ended.
    func resetPassword(_ account: Account, to new: String) async throws -> Int {
        var ended = 0
        try await signIn.resetPassword(account, to: new) {
            try await tokens.revokeEverything(forUser: account.id)
            ended += try await endSessions(ofUser: account.id)
        }
        return ended
    }

    /// Changes the caller's password and ends every other session and every token of the account.
    func changePassword(_ caller: APIRoutes.Caller, current: String, new: String, address: String?) async throws {
        let account = caller.account
        let keeping: Session?
        if case .session(_, let session) = caller { keeping = session } else { keeping = nil }
        try await signIn.changePassword(account, current: current, new: new, address: address, device: caller.device) {
            try await tokens.revokeEverything(forUser: account.id)
            try await endSessions(ofUser: account.id, keeping: keeping)
        }
        if let keeping { try await sessions.regenerate(keeping) }
    }
}
