// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Berth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "berthd", targets: ["berthd"]),
        .executable(name: "berth", targets: ["berth"]),
        .library(name: "BerthClient", targets: ["BerthClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // The only C: syscalls and macros that Glibc does not expose to Swift.
        .target(name: "CBerthSys"),
        // The system libzstd, for zstd-compressed layers (a module map, no code).
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // One door to the operating system: errors, syscalls, processes, file watching.
        .target(name: "BerthSystem", dependencies: [
            "CBerthSys",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // Tar reading/writing confined to a root; layer diff/apply with whiteouts.
        .target(name: "BerthArchive", dependencies: ["BerthSystem", "CBerthSys"], swiftSettings: strict),
        // Docker Engine API wire types (Codable, wire names). Shared by server and client.
        .target(name: "BerthModels", swiftSettings: strict),
        // SQLite metadata store (GRDB): schema, migrations, records.
        .target(name: "BerthStore", dependencies: [
            "BerthSystem", "BerthModels",
            .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: strict),
        // References, content-addressed blobs, layers, docker-save/OCI archives.
        .target(name: "BerthImage", dependencies: [
            "BerthSystem", "BerthArchive", "BerthModels", "BerthStore", "CZstd",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CompressNIO", package: "compress-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
        ], swiftSettings: strict),
        // The container runtime: the ContainerRuntime seam, OCI bundle, runc, conmon monitor,
        // overlay root filesystems, cgroups. No Docker wire types here.
        .target(name: "BerthExecutor", dependencies: [
            "BerthSystem", "CBerthSys",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // Bridge networking on the host: IPAM, bridges, per-container network namespaces and
        // veths (iproute2), Berth's nftables table, the embedded DNS resolver. No Docker types.
        .target(name: "BerthNetwork", dependencies: [
            "BerthSystem", "CBerthSys",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // Distribution protocol client: manifests, blobs, uploads, token and basic auth, registry config.
        .target(name: "BerthRegistry", dependencies: [
            "BerthSystem", "BerthModels", "BerthImage",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // Services that tie store, images, registries and executor together (no HTTP server here).
        .target(name: "BerthEngine", dependencies: [
            "BerthSystem", "BerthModels", "BerthStore", "BerthImage", "BerthExecutor", "BerthArchive", "BerthRegistry", "BerthNetwork", "CBerthSys",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // Dockerfile builds (the classic builder): parser, word expansion, .dockerignore, stages,
        // steps run through the engine (RUN in containers, COPY/ADD as layers), the step cache.
        .target(name: "BerthBuild", dependencies: [
            "BerthEngine", "BerthImage", "BerthArchive", "BerthExecutor", "BerthModels", "BerthSystem", "BerthRegistry", "BerthStore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
        ], swiftSettings: strict),
        // HTTP transport (SwiftNIO), routing, hijack, stdcopy, Docker routes.
        .target(name: "BerthAPI", dependencies: [
            "BerthEngine", "BerthBuild", "BerthExecutor", "BerthImage", "BerthModels", "BerthSystem", "BerthArchive", "BerthRegistry",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // Swift client library for the Engine API.
        .target(name: "BerthClient", dependencies: [
            "BerthModels",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),
        // Fuzz targets over the parsers that read untrusted bytes; run by `berth-fuzz` (libFuzzer
        // or a seeded mutation loop) and, over the stored corpus, by the unit tests.
        .target(name: "BerthFuzz", dependencies: [
            "BerthArchive", "BerthAPI", "BerthBuild", "BerthEngine", "BerthExecutor", "BerthImage", "BerthModels", "BerthNetwork", "BerthRegistry", "BerthSystem",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: strict),
        .executableTarget(name: "berth-fuzz", dependencies: ["BerthFuzz"], swiftSettings: strict),
        .executableTarget(name: "berthd", dependencies: [
            "BerthAPI", "BerthEngine", "BerthExecutor", "BerthSystem", "BerthRegistry", "BerthNetwork",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .executableTarget(name: "berth", dependencies: [
            "BerthClient",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .testTarget(name: "BerthUnitTests", dependencies: [
            "BerthSystem", "BerthArchive", "BerthModels", "BerthStore", "BerthImage",
            "BerthExecutor", "BerthEngine", "BerthAPI", "BerthRegistry", "CBerthSys", "BerthFuzz", "BerthNetwork", "BerthBuild",
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: strict),
        // The in-process API tier: the real router, services and SQLite over FakeRuntime; no root.
        .testTarget(name: "BerthAPITests", dependencies: [
            "BerthAPI", "BerthEngine", "BerthExecutor", "BerthModels", "BerthStore", "BerthSystem", "BerthArchive", "BerthImage", "BerthNetwork",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: strict),
        .testTarget(name: "BerthIntegrationTests", dependencies: [
            "berthd", "BerthClient", "BerthModels", "BerthSystem", "BerthArchive", "BerthImage", "BerthRegistry",
            .product(name: "Crypto", package: "swift-crypto"),
        ], exclude: ["python"], swiftSettings: strict),
    ]
)
