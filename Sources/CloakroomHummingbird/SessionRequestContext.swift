public import CloakroomSessions
public import CloakroomTokens
public import Hummingbird
public import NIOCore

/// A request context that carries a Cloakroom session, set by `SessionMiddleware`.
public protocol SessionRequestContext: RequestContext {
    /// The request's session; nil only when `SessionMiddleware` did not run.
    var session: Session? { get set }
    /// The client's address as the server sees it (used for throttling and "my sessions").
    var clientAddress: String? { get }
}

extension SessionRequestContext {
    /// The session, or a 500 naming the missing middleware.
    public func requireSession() throws -> Session {
        guard let session else {
            throw APIError(.internalServerError, code: "session_middleware_missing", message: "SessionMiddleware is not installed on this route")
        }
        return session
    }
}

/// The request context Cloakroom's own server uses; other apps may use it or conform their own.
public struct CloakroomRequestContext: SessionRequestContext, TokenRequestContext, ForwardedAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var session: Session?
    public var accessToken: AccessTokenClaims?
    /// The peer address of the TCP connection.
    public let remoteAddress: SocketAddress?
    /// The client's address as a trusted proxy reported it (``TrustedProxyMiddleware``).
    public var forwardedClientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.session = nil
        self.accessToken = nil
        self.forwardedClientAddress = nil
    }

    /// The client's IP address (no port): from a trusted proxy's `X-Forwarded-For`, else the peer's.
    public var clientAddress: String? { forwardedClientAddress ?? remoteAddress?.ipAddress }

    /// Request bodies are collected by the routes with their own, smaller limits.
    public var maxUploadSize: Int { 1024 * 1024 }
}
