#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthModels
import BerthStore
import BerthSystem
import Foundation

/// `docker save` and `docker import`.
extension ImageStore {
    struct SaveItem { let image: ImageRecord; var tags: [String] }

    /// Resolves the names to save, grouping the tags of one image into one entry as dockerd does.
    public nonisolated func planSave(_ names: [String]) throws -> [(id: String, tags: [String])] {
        var order: [String] = []
        var tags: [String: [String]] = [:]
        for n in names {
            let img = try resolve(n)
            if tags[img.id] == nil { order.append(img.id); tags[img.id] = [] }
            if let ref = try? ImageReference(parse: n), ref.digest == nil, !Identifier.isHex(n),
               (try? store.reference(ref.familiar))?.image_id == img.id {
                if !tags[img.id]!.contains(ref.familiar) { tags[img.id]!.append(ref.familiar) }
            }
        }
        for id in order where tags[id]!.isEmpty && !names.contains(where: { Identifier.isHex($0) || $0.hasPrefix("sha256:") }) {
            tags[id] = try self.tags(of: id).tags
        }
        return order.map { ($0, tags[$0]!) }
    }

    /// Writes a docker-save archive readable by dockerd and OCI tools: `blobs/sha256/…` for layers,
    /// configs and manifests, `manifest.json`, `index.json` and `oci-layout`.
    public nonisolated func writeSave<W: ByteWriter>(_ plan: [(id: String, tags: [String])], to w: inout TarWriter<W>) throws {
        var written = Set<String>()
        var manifestEntries: [[String: JSONValue]] = []
        var indexEntries: [JSONValue] = []
        try w.write(TarEntry(name: "blobs/", kind: .directory, mode: 0o755))
        try w.write(TarEntry(name: "blobs/sha256/", kind: .directory, mode: 0o755))
        for (id, tags) in plan {
            guard let img = try store.image(id) else { throw BerthError.notFound("No such image: \(id)") }
            let layers = try store.imageLayers(id)
            var layerPaths: [JSONValue] = []
            var layerDescs: [JSONValue] = []
            for l in layers {
                let hex = try Digest(parsing: l.diff_id).hex
                let src = self.layers.tarPath(try l.chain)
                guard FS.exists(src) else {
                    throw BerthError.system("layer \(l.diff_id) was stored without its original tar; save needs it again (re-load the image)")
                }
                if written.insert(hex).inserted { try writeFile(src, as: "blobs/sha256/" + hex, to: &w) }
                layerPaths.append(.string("blobs/sha256/" + hex))
                layerDescs.append(.object(["mediaType": .string("application/vnd.oci.image.layer.v1.tar"),
                                           "digest": .string(l.diff_id), "size": .number(Double(FS.fileSize(src)))]))
            }
            let cfgHex = try img.digest.hex
            if written.insert(cfgHex).inserted {
                try w.write(TarEntry(name: "blobs/sha256/" + cfgHex, kind: .file, mode: 0o644), data: Array(img.config))
            }
            let manifest = try JSONEncoder().encode(JSONValue.object([
                "schemaVersion": .number(2), "mediaType": .string("application/vnd.oci.image.manifest.v1+json"),
                "config": .object(["mediaType": .string("application/vnd.oci.image.config.v1+json"), "digest": .string(id),
                                   "size": .number(Double(img.config.count))]),
                "layers": .array(layerDescs),
            ]))
            let manifestDigest = Digest.sha256(manifest)
            if written.insert(manifestDigest.hex).inserted {
                try w.write(TarEntry(name: "blobs/sha256/" + manifestDigest.hex, kind: .file, mode: 0o644), data: Array(manifest))
            }
            manifestEntries.append(["Config": .string("blobs/sha256/" + cfgHex), "RepoTags": .array(tags.map(JSONValue.string)),
                                    "Layers": .array(layerPaths)])
            let refs = tags.isEmpty ? [nil] : tags.map { Optional($0) }
            for t in refs {
                var annotations: [String: JSONValue] = [:]
                if let t, let r = try? ImageReference(parse: t) {
                    annotations["io.containerd.image.name"] = .string(r.fullName + ":" + (r.tag ?? "latest"))
                    annotations["org.opencontainers.image.ref.name"] = .string(r.tag ?? "latest")
                }
                indexEntries.append(.object(["mediaType": .string("application/vnd.oci.image.manifest.v1+json"),
                                             "digest": .string(manifestDigest.description), "size": .number(Double(manifest.count)),
                                             "annotations": .object(annotations)]))
            }
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.withoutEscapingSlashes]
        try w.write(TarEntry(name: "index.json", kind: .file, mode: 0o644),
                    data: Array(try enc.encode(JSONValue.object(["schemaVersion": .number(2),
                                                                  "mediaType": .string("application/vnd.oci.image.index.v1+json"),
                                                                  "manifests": .array(indexEntries)]))))
        try w.write(TarEntry(name: "manifest.json", kind: .file, mode: 0o644),
                    data: Array(try enc.encode(manifestEntries.map { JSONValue.object($0) })))
        try w.write(TarEntry(name: "oci-layout", kind: .file, mode: 0o644), data: Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
    }

    nonisolated func writeFile<W: ByteWriter>(_ path: String, as name: String, to w: inout TarWriter<W>) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BerthError.system("open \(path): \(Syscall.errnoText())") }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let size = Int64(st.st_size)
        try w.writeHeader(TarEntry(name: name, kind: .file, mode: 0o644, size: size))
        var reader = FileRangeReader(fd: fd, offset: 0, length: size)
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try buf.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            try buf.withUnsafeBytes { try w.writeData(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        try w.finishData(size: size)
    }

    /// `docker import`: a root filesystem tar (spooled at `path`) becomes a one-layer image. The
    /// reading and unpacking run on a thread of their own and stop when the caller is cancelled.
    public nonisolated func importImage(path: String, reference: String?, config: ContainerConfig, message: String?) async throws -> String {
        if let reference { _ = try ImageReference(parse: reference) }
        let diffID = try await Blocking.run("berth-import", cancellable: { cancel in
            let plain = try self.decompressedCopy(of: path, cancel: cancel)
            defer { if plain != path { unlink(plain) } }
            let fd = open(plain, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BerthError.system("open \(plain): \(Syscall.errnoText())") }
            defer { close(fd) }
            var hashing = HashingReader(GuardedReader(FileRangeReader(fd: fd), limit: Int64.max, cancel: cancel, what: "the archive"))
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while try buf.withUnsafeMutableBytes({ try hashing.read(into: $0) }) > 0 {}
            let diffID = hashing.digest
            _ = try self.layers.ensure(diffID: diffID, parentChain: nil, reader: FileRangeReader(fd: fd), cancel: cancel)
            return diffID
        })
        let now = Timestamp.rfc3339(nanos: Timestamp.nowNanos())
        var cfg = ImageConfigFile(rootfs: .init(type: "layers", diff_ids: [diffID]))
        cfg.architecture = ImageStore.arch
        cfg.os = "linux"
        cfg.created = now
        cfg.comment = message
        cfg.config = config
        cfg.history = [.init(created: now, created_by: "", comment: message?.isEmpty == false ? message : "Imported from -")]
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let bytes = Array(try enc.encode(cfg))
        return try await register(configBytes: bytes, references: reference.map { [$0] } ?? []).id
    }

    /// `POST /images/prune`: dangling images (or, with `all`, every unused one) no container uses.
    public func prune(all: Bool, until: Int64?, labels: [String], notLabels: [String]) throws -> (items: [ImageDeleteItem], reclaimed: Int64) {
        var items: [ImageDeleteItem] = []
        var reclaimed: Int64 = 0
        let used = Set(try store.allContainers().map(\.image_id))
        for img in try store.allImages() where !used.contains(img.id) {
            let refs = try store.references(of: img.id)
            if !all && !refs.filter({ $0.kind == "tag" }).isEmpty { continue }
            if let until, img.created >= until { continue }
            let l = (try? config(img))?.config?.Labels ?? [:]
            if !labels.isEmpty && !labels.allSatisfy({ matchesLabel($0, l) }) { continue }
            if !notLabels.isEmpty && notLabels.allSatisfy({ matchesLabel($0, l) }) { continue }
            for r in refs { _ = try store.deleteReference(r.reference); items.append(ImageDeleteItem(Untagged: r.reference)) }
            let before = try store.allLayers().reduce(0) { $0 + $1.size }
            items += try deleteImageRecord(img)
            reclaimed += before - (try store.allLayers().reduce(0) { $0 + $1.size })
        }
        return (items, reclaimed)
    }

    nonisolated func matchesLabel(_ w: String, _ labels: [String: String]) -> Bool {
        let p = w.split(separator: "=", maxSplits: 1).map(String.init)
        return p.count == 1 ? labels[p[0]] != nil : labels[p[0]] == p[1]
    }
}
