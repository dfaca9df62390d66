public import CloakroomCore
import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore

/// A request context that can carry the client address a trusted proxy reported.
public protocol ForwardedAddressRequestContext: RemoteAddressRequestContext {
    /// The client's address from `X-Forwarded-For`, set by ``TrustedProxyMiddleware`` when the
    /// connection comes from a trusted proxy.
    var forwardedClientAddress: String? { get set }
}

/// Behind a reverse proxy every connection comes from the proxy: this middleware takes the
/// client's address from `X-Forwarded-For` instead, but only when the connection itself comes
/// from one of the `trusted` proxies, and only as far as the chain of trusted hops goes (the
/// rightmost address that is not a trusted proxy), so a client cannot forge its address by
/// sending the header itself. Throttling, session listings and the audit log then see the client.
public struct TrustedProxyMiddleware<Context: ForwardedAddressRequestContext>: RouterMiddleware {
    let trusted: [IPAddressRange]

    /// Creates the middleware; with no ranges it does nothing.
    public init(trusted: [IPAddressRange]) {
        self.trusted = trusted
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !trusted.isEmpty, let peer = context.remoteAddress?.ipAddress, isTrusted(peer) else {
            return try await next(request, context)
        }
        var context = context
        context.forwardedClientAddress = clientAddress(forwardedFor: request.headers[values: HTTPField.Name("X-Forwarded-For")!])
        return try await next(request, context)
    }

    func isTrusted(_ address: String) -> Bool {
        trusted.contains { $0.contains(address) }
    }

    /// The rightmost address of the `X-Forwarded-For` chain that is not a trusted proxy; nil
    /// when the chain is empty, malformed or all trusted (the proxy's own address then stands).
    func clientAddress(forwardedFor headers: [String]) -> String? {
        let hops = headers.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            guard IPAddressRange.bytes(of: hop) != nil else { return nil }
            if !isTrusted(hop) { return hop }
        }
        return nil
    }
}
