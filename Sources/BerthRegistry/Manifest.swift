import BerthModels

/// Media types of the distribution protocol (Docker v2 schema 2 and OCI image spec).
public enum MediaType {
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"

    /// What a pull asks for, most wanted first.
    public static let acceptedManifests = [dockerManifestList, ociIndex, dockerManifest, ociManifest]

    public static func isIndex(_ t: String?) -> Bool { t == dockerManifestList || t == ociIndex }
    public static func isManifest(_ t: String?) -> Bool { t == dockerManifest || t == ociManifest }
}

/// A content descriptor: what a manifest says about a blob or another manifest.
public struct Descriptor: Codable, Sendable, Equatable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    public var platform: Platform?

    public init(mediaType: String, digest: Digest, size: Int64, platform: Platform? = nil) {
        self.mediaType = mediaType; self.digest = digest; self.size = size; self.platform = platform
    }
}

public struct Platform: Codable, Sendable, Equatable {
    public var architecture: String
    public var os: String
    public var variant: String?
    public var osVersion: String?
    public var osFeatures: [String]?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    public init(architecture: String, os: String, variant: String? = nil) {
        self.architecture = architecture; self.os = os; self.variant = variant
    }
}

/// An image manifest (Docker schema 2 or OCI): a config and layers, bottom first.
public struct ImageManifest: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String, config: Descriptor, layers: [Descriptor]) {
        schemaVersion = 2; self.mediaType = mediaType; self.config = config; self.layers = layers
    }
}

/// A manifest list or OCI index: one manifest per platform.
public struct ManifestIndex: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]

    /// The entry for `os/architecture[/variant]` as dockerd chooses it: an exact variant first,
    /// then an entry without a variant. Attestation manifests (`unknown/unknown`) never match.
    public func select(os: String, architecture: String, variant: String? = nil) -> Descriptor? {
        let candidates = manifests.filter { $0.platform?.os == os && $0.platform?.architecture == architecture }
        if let v = variant, let exact = candidates.first(where: { $0.platform?.variant == v }) { return exact }
        return candidates.first(where: { $0.platform?.variant == nil || $0.platform?.variant == "" }) ?? candidates.first
    }
}

/// Just enough of any manifest to tell which kind it is.
struct ManifestProbe: Decodable {
    var mediaType: String?
    var manifests: [Descriptor]?
    var config: Descriptor?
    var schemaVersion: Int?
}
