import CloakroomCore
import CloakroomHummingbird
import CloakroomSessions
import CloakroomTokens
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle

/// Builds the whole server: stores, routes, middleware, background services.
enum CloakroomApplication {
    /// The router with every page and API route behind the middleware stack.
    static func router(services: AppServices) throws -> Router<CloakroomRequestContext> {
        // HEAD is answered wherever GET is (RFC 9110 section 9.3.2).
        let router = Router(context: CloakroomRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: RequestMetricsMiddleware(factory: services.metrics.factory))
        // Without trusted proxies it would do nothing but pass every request on.
        if !services.configuration.trustedProxies.isEmpty {
            router.add(middleware: TrustedProxyMiddleware(trusted: services.configuration.trustedProxies))
        }
        router.add(
            middleware: SecurityHeadersMiddleware(
                hsts: services.configuration.cookie.secure,
                includeSubdomains: services.configuration.hstsIncludeSubdomains
            )
        )
        router.add(middleware: ErrorMiddleware(htmlPage: try PageRoutes.errorPageRenderer(services: services)))
        router.add(middleware: MachineEndpointCORS(paths: OAuthRoutes.machinePaths))
        router.add(middleware: HostCheckMiddleware(allowedHosts: services.configuration.hostsServed, exemptPaths: ["/healthz"]))
        router.add(
            middleware: OriginCheckMiddleware(
                allowedOrigins: services.configuration.allowedOrigins,
                secure: services.configuration.cookie.secure,
                exemptPaths: OAuthRoutes.machinePaths
            )
        )
        router.add(middleware: SessionMiddleware(manager: services.sessions, cookie: services.configuration.cookie))
        router.add(middleware: RememberMeMiddleware(services: services))
        APIRoutes(services: services).addRoutes(to: router)
        let library = try Templates.library()
        PageRoutes(services: services, library: library).addRoutes(to: router)
        OAuthRoutes(services: services, library: library).addRoutes(to: router)
        FederatedSignInRoutes(services: services, library: library).addRoutes(to: router)
        AdminClientRoutes(services: services, library: library).addRoutes(to: router)
        // Last, so that it sees only what no route took: a known path with another method is 405.
        router.add(middleware: AllowedMethodsMiddleware(routes: router.routes))
        return router
    }

    /// The signing keys and, when they come from a file, where to reload them from.
    struct Keys: Sendable {
        let ring: TokenKeyRing
        var file: URL?
        var secret: KeyEncryptionSecret?
        /// The ID-token keys (RS256 by default) and their file.
        var idTokenRing: TokenKeyRing?
        var idTokenFile: URL?
        /// The sealing keys (sessions kept in cookies, preference cookies), from their own file.
        var sealing: SealingKeyRing?
        /// That file, watched for changes (nil when the keys came from the environment).
        var sealingFile: URL?
    }

    /// A runnable application over already opened backends.
    static func make(
        configuration: ServerConfiguration,
        backends: Backends,
        keys: Keys,
        clock: any CloakroomClock = SystemClock(),
        drain: DrainState = DrainState(),
        logger: Logger
    ) throws -> some ApplicationProtocol {
        let services = AppServices(
            configuration: configuration,
            backends: backends,
            drain: drain,
            keyRing: keys.ring,
            idTokenKeys: keys.idTokenRing,
            codeKey: keys.secret?.derivedKey(for: "oauth authorization codes"),
            sealingKeys: keys.sealing,
            logDigestKey: keys.secret?.derivedKey(for: "audit log username digest"),
            deviceKey: keys.secret?.derivedKey(for: "known device cookie"),
            clock: clock,
            logger: logger
        )
        let throttlePurge = PeriodicTask(interval: .seconds(3600)) {
            _ = try? await backends.purgeThrottle(clock.now())
            _ = try await backends.purgeTokens(clock.now())
        }
        var background: [any Service] = [throttlePurge]
        // Sessions kept in cookies leave nothing on the server to sweep.
        if let sweepable = services.backends.sessions as? any SweepableStore {
            background.append(
                SessionSweeper(
                    store: sweepable,
                    interval: configuration.sweepInterval,
                    clock: clock,
                    logger: logger,
                    metrics: services.metrics.sessions
                )
            )
        }
        if let file = keys.file, let secret = keys.secret {
            background.append(
                KeyFileWatcher(ring: keys.ring, file: file, secret: secret, interval: configuration.tokens.keyReloadInterval, logger: logger)
            )
        }
        if let file = keys.sealingFile, let ring = keys.sealing, ring.isReplaceable, let secret = keys.secret {
            background.append(
                SealingKeyFileWatcher(ring: ring, file: file, secret: secret, interval: configuration.tokens.keyReloadInterval, logger: logger)
            )
        }
        if let file = keys.idTokenFile, let ring = keys.idTokenRing, let secret = keys.secret {
            background.append(
                KeyFileWatcher(ring: ring, file: file, secret: secret, interval: configuration.tokens.keyReloadInterval, logger: logger)
            )
        }
        return Application(
            router: try router(services: services),
            // A connection that completes no request head for `headerTimeout` (a client that opened
            // it and sends nothing, or dribbles a header byte by byte) is closed, so idle and slow
            // connections cannot pile up until the server runs out of file descriptors.
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [ProtocolErrorResponder()],
                    idleTimeout: .milliseconds(Int64(configuration.headerTimeout * 1000))
                )
            ),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Cloakroom"),
            services: backends.services + background,
            logger: logger
        )
    }
}
