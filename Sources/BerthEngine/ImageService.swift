import BerthImage
import BerthModels
import BerthStore
import BerthSystem
import Foundation

/// Images as the Engine API shows them.
public struct ImageService: Sendable {
    public let images: ImageStore

    public func inspect(_ name: String) throws -> ImageInspect {
        let img = try images.resolve(name)
        let cfg = try images.config(img)
        let (tags, digests) = try images.tags(of: img.id)
        let layers = try images.store.imageLayers(img.id)
        let dirs = try layers.map { images.layers.diffPath(try $0.chain) }
        var data: [String: String] = [:]
        if let top = dirs.last {
            data["UpperDir"] = top
            data["MergedDir"] = ""
            if dirs.count > 1 { data["LowerDir"] = dirs.dropLast().reversed().joined(separator: ":") }
        }
        return ImageInspect(
            Id: img.id, RepoTags: tags, RepoDigests: digests, Parent: img.parent_id, Comment: cfg.comment ?? "",
            Created: cfg.created ?? Timestamp.zero, DockerVersion: cfg.docker_version ?? "", Author: cfg.author ?? "",
            Config: cfg.config ?? ContainerConfig(), Container: (cfg.container ?? "").isEmpty ? nil : cfg.container,
            ContainerConfig: cfg.container_config, Architecture: cfg.architecture ?? ImageStore.arch,
            Variant: cfg.variant, Os: cfg.os ?? "linux", Size: img.size, GraphDriver: GraphDriver(Name: "overlay2", Data: data),
            RootFS: .init(Type: cfg.rootfs.type, Layers: cfg.rootfs.diff_ids.map(\.description)),
            Metadata: .init(LastTagTime: img.last_tag_time > 0 ? Timestamp.rfc3339(nanos: img.last_tag_time) : Timestamp.zero))
    }

    public func list(all: Bool, filters: Filters) throws -> [ImageSummary] {
        try filters.validate(["dangling", "label", "label!", "before", "since", "reference", "until"])
        let refs = try images.store.allReferences()
        var byImage: [String: [ImageRefRecord]] = [:]
        for r in refs { byImage[r.image_id, default: []].append(r) }
        let usedBy = Dictionary(grouping: try images.store.allContainers(), by: \.image_id).mapValues(\.count)
        var before: Int64? = nil, since: Int64? = nil
        if let b = filters["before"].first { before = try images.resolve(b).created }
        if let s = filters["since"].first { since = try images.resolve(s).created }
        let until = filters["until"].first.flatMap(Timestamp.parseDockerTime)
        var out: [ImageSummary] = []
        let records = try images.store.allImages()
        // Untagged images that are another image's parent (a build's intermediate steps) are
        // listed only with `all`, as dockerd does.
        let parents = Set(records.map(\.parent_id).filter { !$0.isEmpty })
        for img in records.sorted(by: { $0.created > $1.created }) {
            let r = byImage[img.id] ?? []
            var tags = r.filter { $0.kind == "tag" }.map(\.reference)
            let dgs = r.filter { $0.kind == "digest" }.map(\.reference)
            if !all && tags.isEmpty && dgs.isEmpty && parents.contains(img.id) { continue }
            let dangling = tags.isEmpty
            if filters.has("dangling") {
                let want = filters["dangling"].first == "true" || filters["dangling"].first == "1"
                if want != dangling { continue }
            }
            if filters.has("reference") {
                tags = tags.filter { t in filters["reference"].contains { Self.referenceMatches(t, pattern: $0) } }
                if tags.isEmpty { continue }
            }
            if let before, img.created >= before { continue }
            if let since, img.created <= since { continue }
            if let until, img.created >= until { continue }
            let cfg = try? images.config(img)
            let labels = cfg?.config?.Labels ?? [:]
            if filters.has("label") && !Filters.labelsMatch(filters["label"], labels) { continue }
            if filters.has("label!") && Filters.labelsMatch(filters["label!"], labels) { continue }
            var s = ImageSummary(Id: img.id, ParentId: img.parent_id, RepoTags: tags, RepoDigests: dgs,
                                 Created: img.created / 1_000_000_000, Size: img.size, Labels: labels,
                                 Containers: Int64(usedBy[img.id] ?? 0))
            s.VirtualSize = img.size
            out.append(s)
        }
        return out
    }

    /// `GET /images/{name}/history`: the config's history, newest first, layer sizes from the store.
    public func history(_ name: String) throws -> [HistoryItem] {
        let img = try images.resolve(name)
        let cfg = try images.config(img)
        let layers = try images.store.imageLayers(img.id)
        var sizes = layers.map(\.size)
        var out: [HistoryItem] = []
        for h in cfg.history ?? [] {
            let size = h.empty_layer == true ? 0 : (sizes.isEmpty ? 0 : sizes.removeFirst())
            out.append(HistoryItem(Id: "<missing>", Created: (h.created.flatMap(Timestamp.parseRFC3339) ?? 0) / 1_000_000_000,
                                   CreatedBy: h.created_by ?? "", Tags: nil, Size: size, Comment: h.comment ?? ""))
        }
        if out.isEmpty {
            out.append(HistoryItem(Id: "<missing>", Created: img.created / 1_000_000_000, CreatedBy: "", Tags: nil,
                                   Size: img.size, Comment: ""))
        }
        out.reverse()
        // Rows take the ids of the image and its parents while they are here (a local build's
        // step images), as dockerd fills them; the rest stay <missing>.
        var current: ImageRecord? = img
        for i in out.indices {
            guard let image = current else { break }
            out[i].Id = image.id
            let tags = try images.tags(of: image.id).tags
            out[i].Tags = tags.isEmpty ? nil : tags
            current = image.parent_id.isEmpty ? nil : try images.store.image(image.parent_id)
        }
        return out
    }

    /// `GET /system/df` from sizes kept in the store (no filesystem walk).
    public func diskUsage(containers: [ContainerSummary]) throws -> DiskUsage {
        // Top-level images only, as dockerd counts them (a build's intermediate steps are not).
        let all = try list(all: false, filters: Filters())
        let layers = try images.store.allLayers()
        let layersSize = layers.reduce(Int64(0)) { $0 + $1.size }
        return DiskUsage(LayersSize: layersSize, Images: all, Containers: containers, BuildCache: try buildCache(layers: layers))
    }

    /// The classic builder's cache as `BuildCache` records: one per cached step, described by
    /// the step's history text, sized by the layer it added. Its images hold that space (they
    /// are listed under Images too), so every record is `Shared` and pruning the cache frees
    /// nothing by itself, as with dockerd's classic builder.
    public func buildCache(layers: [LayerRecord]? = nil) throws -> [BuildCacheRecord] {
        let steps = try images.store.buildSteps()
        guard !steps.isEmpty else { return [] }
        let sizes = Dictionary((try layers ?? images.store.allLayers()).map { ($0.chain_id, $0.size) }) { a, _ in a }
        var byImage: [String: String] = [:]
        for s in steps { byImage[s.image_id] = Self.cacheID(s.key) }
        return steps.compactMap { s in
            guard let image = try? images.store.image(s.image_id), let file = try? images.config(image) else { return nil }
            let last = file.history?.last
            var size: Int64 = 0
            if !(last?.empty_layer ?? false), let chain = Digest.chainIDs(file.rootfs.diff_ids).last { size = sizes[chain.description] ?? 0 }
            let parent = byImage[image.parent_id]
            return BuildCacheRecord(ID: Self.cacheID(s.key), Parents: parent.map { [$0] }, Type: "regular",
                                    Description: last?.created_by ?? "", InUse: false, Shared: true, Size: size,
                                    CreatedAt: Timestamp.rfc3339(nanos: s.created),
                                    LastUsedAt: s.last_used > 0 ? Timestamp.rfc3339(nanos: s.last_used) : nil,
                                    UsageCount: s.usage_count)
        }
    }

    /// A cache record's id: the start of its key's digest (BuildKit's ids are 25 characters).
    public static func cacheID(_ key: String) -> String { String(key.split(separator: ":").last?.prefix(25) ?? "") }

    /// `reference` filters match the familiar name with an optional tag, glob-style like Docker.
    static func referenceMatches(_ ref: String, pattern: String) -> Bool {
        let name = ref.split(separator: ":").dropLast().joined(separator: ":")
        func glob(_ s: String, _ p: String) -> Bool { fnmatch(p, s, 0) == 0 }
        if let norm = try? ImageReference(parse: pattern), !pattern.contains("*") {
            if pattern.split(separator: "/").last?.contains(":") == true { return ref == norm.familiar }
            return name == norm.familiarName
        }
        return glob(ref, pattern) || glob(name, pattern)
    }
}
