import BerthModels
import BerthSystem

/// What a docker-save archive (`manifest.json`) or an OCI image layout (`index.json`) holds,
/// read from its table of contents without touching a layer: for each image its config (decoded
/// and checked), the members that hold its layers, bottom first, and the names to tag it with.
public enum ArchiveContents {
    public struct Image: Sendable {
        public let configBytes: [UInt8]
        public let config: ImageConfigFile
        public let layerMembers: [String]
        public let tags: [String]
    }

    public static func read(_ index: ArchiveIndex) throws -> [Image] {
        if index.contains("manifest.json") { return try dockerSave(index) }
        if index.contains("index.json") { return try ociLayout(index) }
        throw BerthError.invalid("invalid archive: neither manifest.json nor index.json found")
    }

    static func json<T: Decodable>(_ index: ArchiveIndex, _ member: String, _ what: String) throws -> T {
        try T.decode(try index.data(member, limit: Int64(ImageLimits.json)), what: what)
    }

    static func image(_ index: ArchiveIndex, configMember: String, layerMembers: [String], tags: [String]) throws -> Image {
        let bytes = try index.data(configMember, limit: Int64(ImageLimits.json))
        let config = try ImageConfigFile.decode(bytes, what: "image config \(configMember)")
        guard config.rootfs.diff_ids.count == layerMembers.count else {
            throw BerthError.invalid("image config lists \(config.rootfs.diff_ids.count) layers but the manifest \(layerMembers.count)")
        }
        for m in layerMembers where !index.contains(m) { throw BerthError.invalid("archive has no \(m)") }
        for t in tags { _ = try ImageReference(parse: t) }
        return Image(configBytes: bytes, config: config, layerMembers: layerMembers, tags: tags)
    }

    static func dockerSave(_ index: ArchiveIndex) throws -> [Image] {
        struct Entry: Decodable { let Config: String; let RepoTags: [String]?; let Layers: [String] }
        let entries: [Entry] = try json(index, "manifest.json", "manifest.json")
        return try entries.map { try image(index, configMember: $0.Config, layerMembers: $0.Layers, tags: $0.RepoTags ?? []) }
    }

    struct Descriptor: Decodable {
        let digest: Digest
        let annotations: [String: String]?
        let platform: Platform?
        struct Platform: Decodable { let architecture: String?; let os: String? }
    }

    static func blob(_ d: Digest) -> String { "blobs/sha256/" + d.hex }

    static func ociLayout(_ index: ArchiveIndex) throws -> [Image] {
        struct Index: Decodable { let manifests: [Descriptor] }
        struct Manifest: Decodable { let config: Descriptor?; let layers: [Descriptor]?; let manifests: [Descriptor]? }
        let top: Index = try json(index, "index.json", "index.json")
        var out: [Image] = []
        for desc in top.manifests {
            var m: Manifest = try json(index, blob(desc.digest), "OCI manifest \(desc.digest)")
            if let list = m.manifests {
                guard let pick = list.first(where: { ($0.platform?.os ?? "linux") == "linux" && ($0.platform?.architecture ?? "amd64") == ImageStore.arch })
                else { throw BerthError.notFound("no matching manifest for linux/\(ImageStore.arch) in the archive") }
                m = try json(index, blob(pick.digest), "OCI manifest \(pick.digest)")
            }
            guard let cfg = m.config, let ls = m.layers else { throw BerthError.invalid("invalid OCI manifest \(desc.digest)") }
            var tags: [String] = []
            if let name = desc.annotations?["io.containerd.image.name"] { tags.append(name) }
            else if let name = desc.annotations?["org.opencontainers.image.ref.name"], name.contains(":") || name.contains("/") {
                tags.append(name)
            }
            out.append(try image(index, configMember: blob(cfg.digest), layerMembers: ls.map { blob($0.digest) }, tags: tags))
        }
        return out
    }
}
