// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Cloakroom",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "CloakroomCore", targets: ["CloakroomCore"]),
        .library(name: "CloakroomSessions", targets: ["CloakroomSessions"]),
        .library(name: "CloakroomIdentity", targets: ["CloakroomIdentity"]),
        .library(name: "CloakroomSQLite", targets: ["CloakroomSQLite"]),
        .library(name: "CloakroomPostgres", targets: ["CloakroomPostgres"]),
        .library(name: "CloakroomTokens", targets: ["CloakroomTokens"]),
        .library(name: "CloakroomOAuth", targets: ["CloakroomOAuth"]),
        .library(name: "CloakroomRedis", targets: ["CloakroomRedis"]),
        .library(name: "CloakroomHummingbird", targets: ["CloakroomHummingbird"]),
        .library(name: "CloakroomTesting", targets: ["CloakroomTesting"]),
        .library(name: "CloakroomCluster", targets: ["CloakroomCluster"]),
        .library(name: "CloakroomReplication", targets: ["CloakroomReplication"]),
        .executable(name: "cloakroom", targets: ["CloakroomServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The topology lab's simulated browsers (CloakroomLab only).
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Documentation only: `swift package generate-documentation --target …` (scripts/docs).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "CloakroomCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloakroomSessions",
            dependencies: [
                "CloakroomCore",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloakroomIdentity",
            dependencies: [
                "CloakroomCore",
                "CloakroomSessions",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The common-password list (scripts/common-passwords builds it; NOTICE names its sources).
            resources: [.copy("Resources/common-passwords.bloom")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloakroomSQLite",
            dependencies: [
                "CloakroomCore",
                "CloakroomSessions",
                "CloakroomIdentity",
                "CloakroomTokens",
                "CloakroomOAuth",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloakroomTokens",
            dependencies: [
                "CCloakroomShims",
                "CloakroomCore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloakroomOAuth",
            dependencies: [
                "CloakroomCore",
                "CloakroomTokens",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloakroomRedis",
            dependencies: [
                "CloakroomCore",
                "CloakroomSessions",
                "CloakroomIdentity",
                "CloakroomTokens",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloakroomPostgres",
            dependencies: [
                "CloakroomCore",
                "CloakroomSessions",
                "CloakroomIdentity",
                "CloakroomTokens",
                "CloakroomOAuth",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloakroomHummingbird",
            dependencies: [
                "CloakroomCore",
                "CloakroomSessions",
                "CloakroomIdentity",
                "CloakroomTokens",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "CCloakroomShims"),
        .executableTarget(
            name: "CloakroomServer",
            dependencies: [
                "CloakroomCore",
                "CloakroomSessions",
                "CloakroomIdentity",
                "CloakroomSQLite",
                "CloakroomPostgres",
                "CloakroomRedis",
                "CloakroomHummingbird",
                "CloakroomTokens",
                "CloakroomOAuth",
                "CloakroomBench",
                "CloakroomLab",
                "CloakroomCluster",
                "CloakroomReplication",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "CloakroomCluster", dependencies: ["CloakroomCore", "CloakroomReplication"], swiftSettings: swiftSettings),
        .target(
            name: "CloakroomReplication",
            dependencies: [
                "CloakroomCore",
                "CloakroomSessions",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloakroomLab",
            dependencies: [
                "CloakroomCore",
                "CloakroomCluster",
                "CloakroomBench",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "CCloakroomBenchShims"),
        .target(
            name: "CloakroomBench",
            dependencies: [
                "CCloakroomBenchShims",
                "CloakroomCore",
                "CloakroomSessions",
                "CloakroomSQLite",
                "CloakroomPostgres",
                "CloakroomRedis",
                "CloakroomTokens",
                "CloakroomReplication",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloakroomTesting",
            dependencies: [
                "CloakroomCore",
                "CloakroomSessions",
                "CloakroomTokens",
                "CloakroomOAuth",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // One test target per library target; the shared conformance suites live in CloakroomTesting.
        .testTarget(
            name: "CloakroomReplicationTests",
            dependencies: [
                "CloakroomReplication",
                "CloakroomCore",
                "CloakroomSessions",
                "CloakroomTesting",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloakroomCoreTests",
            dependencies: ["CloakroomCore", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloakroomSessionsTests",
            dependencies: ["CloakroomCore", "CloakroomSessions", "CloakroomTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloakroomIdentityTests",
            dependencies: [
                "CloakroomCore", "CloakroomIdentity", "CloakroomTesting", "CloakroomSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloakroomTokensTests",
            dependencies: [
                "CloakroomTokens", "CloakroomCore", "CloakroomTesting",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloakroomOAuthTests",
            dependencies: [
                "CloakroomOAuth", "CloakroomCore", "CloakroomTokens", "CloakroomTesting",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloakroomSQLiteTests",
            dependencies: [
                "CloakroomSQLite", "CloakroomCore", "CloakroomSessions", "CloakroomIdentity", "CloakroomTokens", "CloakroomOAuth", "CloakroomTesting",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloakroomRedisTests",
            dependencies: [
                "CloakroomRedis", "CloakroomSessions", "CloakroomIdentity", "CloakroomCore", "CloakroomTesting", "CloakroomTokens",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloakroomPostgresTests",
            dependencies: [
                "CloakroomPostgres", "CloakroomSessions", "CloakroomIdentity", "CloakroomCore", "CloakroomTesting", "CloakroomTokens",
                "CloakroomOAuth",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloakroomHummingbirdTests",
            dependencies: [
                "CloakroomHummingbird", "CloakroomCore", "CloakroomSessions", "CloakroomTokens",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloakroomServerTests",
            dependencies: [
                "CloakroomReplication",
                "CloakroomServer",
                "CloakroomHummingbird",
                "CloakroomTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                "CloakroomCore",
                "CloakroomSessions",
                "CloakroomIdentity",
                "CloakroomSQLite",
                "CloakroomPostgres",
                "CloakroomRedis",
                "CloakroomTokens",
                "CloakroomOAuth",
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// Fuzz targets (libFuzzer): declared only for scripts/fuzz, which sets CLOAKROOM_FUZZ and builds
// them with -sanitize=fuzzer,address into .build-fuzz. Each target's sources are in Tests/Fuzz/NAME.
if Context.environment["CLOAKROOM_FUZZ"] != nil {
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("CookieHeader", ["CloakroomCore"]),
        ("SetCookie", ["CloakroomCore"]),
        ("JWS", ["CloakroomCore", "CloakroomTokens"]),
        ("Form", ["CloakroomCore"]),
        ("RESP", ["CloakroomRedis", .product(name: "NIOCore", package: "swift-nio")]),
        ("Duration", ["CloakroomCore"]),
        ("StoreURL", ["CloakroomCore", "CloakroomRedis", "CloakroomPostgres"]),
    ]
    package.targets.append(.target(name: "CCloakroomFuzz", path: "Tests/Fuzz/CCloakroomFuzz"))
    for (name, dependencies) in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: "Fuzz\(name)",
                dependencies: dependencies + ["CCloakroomFuzz"],
                path: "Tests/Fuzz/\(name)",
                swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
            )
        )
    }
}
