#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthModels
import BerthStore
import BerthSystem
import Foundation
import Logging
import Synchronization

/// Images: configs in the content store, layers in the layer store, names in the metadata store.
/// Mutations are serialised by the actor; lookups are `nonisolated` reads of the database.
public actor ImageStore {
    public nonisolated let store: Store
    public nonisolated let layers: LayerStore
    nonisolated let blobRoot: String
    nonisolated let tmp: String
    let log = Log.logger("images")

    public init(dataRoot: String, store: Store, expansionLimit: Int64 = LayerStore.defaultExpansionLimit) throws {
        self.store = store
        layers = try LayerStore(dataRoot: dataRoot, store: store, expansionLimit: expansionLimit)
        blobRoot = dataRoot + "/blobs/sha256"
        tmp = dataRoot + "/tmp"
        try FS.mkdirAll(blobRoot, mode: 0o700)
    }

    /// Start-up: config blobs whose image row is gone (a crash between the row's deletion and the
    /// file's) are removed; layers are reconciled by `LayerStore.reconcile`.
    public nonisolated func reconcileBlobs() throws {
        let known = Set(try store.allImages().compactMap { try? $0.digest.hex })
        for name in (try? FileManager.default.contentsOfDirectory(atPath: blobRoot)) ?? [] where !known.contains(name) {
            log.info("removing unreferenced config blob \(name)")
            FS.removeAll(blobRoot + "/" + name)
        }
    }

    /// Layers a pull is bringing in, kept from garbage collection until its image is registered.
    var pinned: [Digest: Int] = [:]

    public func pin(_ chains: [Digest]) { for c in chains { pinned[c, default: 0] += 1 } }

    public func unpin(_ chains: [Digest]) {
        for c in chains {
            if let n = pinned[c], n > 1 { pinned[c] = n - 1 } else { pinned[c] = nil }
        }
    }

    // MARK: lookup

    /// Finds an image by reference, full id or unique id prefix, as dockerd does.
    public nonisolated func resolve(_ name: String) throws -> ImageRecord {
        if let r = try? find(name) { return r }
        throw BerthError.notFound("No such image: \(name)")
    }

    nonisolated func find(_ name: String) throws -> ImageRecord? {
        if name.hasPrefix("sha256:") {
            let hex = String(name.dropFirst(7))
            guard Identifier.isHex(hex) else { return nil }
            let ids = try store.imageIDs(prefix: hex)
            return ids.count == 1 ? try store.image(ids[0]) : nil
        }
        if let ref = try? ImageReference(parse: name), let r = try store.reference(ref.familiar) {
            return try store.image(r.image_id)
        }
        if Identifier.isHex(name) && name.count <= 64 {
            let ids = try store.imageIDs(prefix: name)
            if ids.count == 1 { return try store.image(ids[0]) }
            if ids.count > 1 { throw BerthError.invalid("ambiguous image id \(name)") }
        }
        return nil
    }

    /// Decoded configs by image id; a config never changes for an id (it is its digest).
    nonisolated let configCache = Mutex<[String: ImageConfigFile]>([:])

    public nonisolated func config(_ image: ImageRecord) throws -> ImageConfigFile {
        if let c = configCache.withLock({ $0[image.id] }) { return c }
        let c: ImageConfigFile
        do { c = try JSONDecoder().decode(ImageConfigFile.self, from: image.config) }
        catch { throw BerthError.system("image \(image.id) has an unreadable config: \(error)") }
        configCache.withLock { cache in
            if cache.count > 1000 { cache.removeAll() }
            cache[image.id] = c
        }
        return c
    }

    public nonisolated func tags(of imageID: String) throws -> (tags: [String], digests: [String]) {
        let refs = try store.references(of: imageID)
        return (refs.filter { $0.kind == "tag" }.map(\.reference), refs.filter { $0.kind == "digest" }.map(\.reference))
    }

    public nonisolated func layerPaths(_ imageID: String) throws -> [String] {
        try store.imageLayers(imageID).map { layers.diffPath(try $0.chain) }
    }

    // MARK: creating images

    /// Stores a config blob and registers an image over already-present layers.
    @discardableResult
    public func register(configBytes: [UInt8], references: [String], parent: String = "") throws -> (id: String, renamed: [(String, String)]) {
        let id = Digest.sha256(configBytes)
        let cfg = try ImageConfigFile.decode(configBytes, what: "image config")
        let chains = Digest.chainIDs(cfg.rootfs.diff_ids)
        var size: Int64 = 0
        for c in chains {
            guard let l = try store.layer(c.description) else { throw BerthError.system("layer \(c) missing for image \(id)") }
            size += l.size
        }
        try FS.writeAtomically(blobRoot + "/" + id.hex, Data(configBytes), mode: 0o600)
        let created = cfg.created.flatMap(Timestamp.parseRFC3339) ?? 0
        let now = Timestamp.nowNanos()
        var renamed: [(String, String)] = []
        var refs: [ImageRefRecord] = []
        for r in references {
            let ref = try ImageReference(parse: r)
            if let old = try store.reference(ref.familiar), old.image_id != id.description { renamed.append((ref.familiar, old.image_id)) }
            refs.append(ImageRefRecord(reference: ref.familiar, image_id: id.description, kind: ref.digest == nil ? "tag" : "digest", created: now))
        }
        let rec = ImageRecord(id: id.description, config: Data(configBytes), created: created, size: size, last_tag_time: refs.isEmpty ? 0 : now,
                              parent_id: parent)
        try store.putImage(rec, layers: chains.map(\.description), references: refs)
        return (id.description, renamed)
    }

    /// `POST /images/load`: a docker-save archive (manifest.json) or an OCI image layout (index.json).
    /// Returns the lines Docker prints.
    /// `progress` hears (short layer id, bytes read, layer size) while layers unpack.
    ///
    /// The archive is read and its layers unpacked on threads of their own; only registering the
    /// images runs on the actor. Cancelling the calling task (the client went away) stops the
    /// work at the next chunk, and what it staged is removed.
    public nonisolated func load(archive path: String, progress: LoadProgress? = nil) async throws -> [String] {
        let opened = try await Blocking.run("berth-load", cancellable: { cancel in try self.openArchive(path, cancel: cancel) })
        defer { opened.close(original: path) }
        let chains = opened.images.flatMap { Digest.chainIDs($0.config.rootfs.diff_ids) }
        // Unpacked layers have rows but no image until they are registered: an rmi or prune
        // meanwhile must not collect them.
        await pin(chains)
        do {
            try await Blocking.run("berth-load", cancellable: { cancel in
                for image in opened.images { try self.unpackLayers(opened.index, image, progress: progress, cancel: cancel) }
            })
            var out: [String] = []
            for image in opened.images { out += try await registerLoaded(image) }
            await unpin(chains)
            return out
        } catch {
            await unpin(chains)
            throw error
        }
    }

    /// An archive opened for loading: its plain (decompressed) file, table of contents and images.
    struct OpenedArchive: Sendable {
        let plain: String
        let index: ArchiveIndex
        let images: [ArchiveContents.Image]
        func close(original: String) {
            Glibc.close(index.fd)
            if plain != original { unlink(plain) }
        }
    }

    nonisolated func openArchive(_ path: String, cancel: CancelFlag) throws -> OpenedArchive {
        let plain = try decompressedCopy(of: path, cancel: cancel)
        let fd = open(plain, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if plain != path { unlink(plain) }
            throw BerthError.system("open \(plain): \(Syscall.errnoText())")
        }
        do {
            let index = try ArchiveIndex(fd: fd)
            // Every manifest and config is read and checked before the first layer is unpacked.
            return OpenedArchive(plain: plain, index: index, images: try ArchiveContents.read(index))
        } catch {
            close(fd)
            if plain != path { unlink(plain) }
            throw error
        }
    }

    nonisolated func unpackLayers(_ index: ArchiveIndex, _ image: ArchiveContents.Image, progress: LoadProgress?, cancel: CancelFlag) throws {
        var parent: Digest? = nil
        for (diffID, member) in zip(image.config.rootfs.diff_ids, image.layerMembers) {
            let magic = try index.magic(member)
            let id = diffID.short
            let total = index.member(member)?.size ?? 0
            var ticker = ProgressClock()
            let raw = CountingReader(try index.reader(member)) { n in
                if let progress, ticker.due() || n == total { progress(id, n, total) }
            }
            let rec = Compression.isGzip(magic)
                ? try layers.ensure(diffID: diffID, parentChain: parent, reader: try GzipReader(raw), cancel: cancel)
                : Compression.isZstd(magic)
                ? try layers.ensure(diffID: diffID, parentChain: parent, reader: try ZstdReader(raw), cancel: cancel)
                : try layers.ensure(diffID: diffID, parentChain: parent, reader: raw, cancel: cancel)
            parent = try rec.chain
        }
    }

    func registerLoaded(_ image: ArchiveContents.Image) throws -> [String] {
        let (id, renamed) = try register(configBytes: image.configBytes, references: image.tags)
        var lines: [String] = []
        for (ref, old) in renamed {
            lines.append("The image \(ref) already exists, renaming the old one with ID \(old) to empty string")
        }
        if image.tags.isEmpty { lines.append("Loaded image ID: \(id)") }
        for t in image.tags { lines.append("Loaded image: \((try? ImageReference(parse: t).familiar) ?? t)") }
        return lines
    }

    /// `path` itself when it is not gzip-compressed, else a decompressed copy beside it, stopped
    /// at the expansion limit or when `cancel` is raised (the partial copy is removed).
    nonisolated func decompressedCopy(of path: String, cancel: CancelFlag?) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BerthError.system("open \(path): \(Syscall.errnoText())") }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 2)
        _ = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 2, 0) }
        guard Compression.isGzip(head) else { return path }
        let out = path + ".plain"
        let ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard ofd >= 0 else { throw BerthError.system("create \(out): \(Syscall.errnoText())") }
        defer { close(ofd) }
        do {
            var reader = GuardedReader(try GzipReader(FileRangeReader(fd: fd)), limit: layers.expansionLimit, cancel: cancel,
                                       what: "the archive")
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = try buf.withUnsafeMutableBytes { try reader.read(into: $0) }
                if n == 0 { break }
                try buf.withUnsafeBytes { try Syscall.writeAll(ofd, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
        } catch {
            unlink(out)
            throw error
        }
        return out
    }

    public nonisolated static var arch: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return "unknown"
        #endif
    }

    // MARK: names

    /// `POST /images/{name}/tag`
    public func tag(_ source: String, repo: String, tag: String?) throws {
        let image = try resolve(source)
        let raw = repo + ((tag ?? "").isEmpty ? "" : ":" + tag!)
        let ref = try ImageReference(parse: raw)
        guard ref.digest == nil else { throw BerthError.invalid("refusing to create a tag with a digest reference") }
        try store.addReference(ImageRefRecord(reference: ref.familiar, image_id: image.id, kind: "tag", created: Timestamp.nowNanos()))
    }

    /// `DELETE /images/{name}` with Docker's rules for untagging, conflicts and force.
    public func remove(_ name: String, force: Bool) throws -> [ImageDeleteItem] {
        let image = try resolve(name)
        let refs = try store.references(of: image.id)
        let users = try store.containersUsing(image: image.id)
        let short = String(try image.digest.short)
        var items: [ImageDeleteItem] = []
        let byReference = (try? ImageReference(parse: name)).map(\.familiar).flatMap { r in
            refs.contains(where: { $0.reference == r }) ? r : nil
        }
        if let ref = byReference {
            // Untagging a repository's last tag also drops its digest references, as dockerd does.
            var drop = [ref]
            let repoName = (try? ImageReference(parse: ref))?.familiarName
            let isTag = refs.first(where: { $0.reference == ref })?.kind == "tag"
            let others = refs.filter { $0.reference != ref }
            func sameRepo(_ r: ImageRefRecord) -> Bool { (try? ImageReference(parse: r.reference))?.familiarName == repoName }
            if isTag && !others.contains(where: { $0.kind == "tag" && sameRepo($0) }) {
                drop += others.filter { $0.kind == "digest" && sameRepo($0) }.map(\.reference)
            }
            let left = refs.count - drop.count
            if left == 0 && !users.isEmpty && !force {
                throw BerthError.conflict("conflict: unable to remove repository reference \"\(name)\" (must force) - container \(users[0].id.prefix(12)) is using its referenced image \(short)")
            }
            for r in drop {
                _ = try store.deleteReference(r)
                items.append(ImageDeleteItem(Untagged: r))
            }
            if left > 0 || !users.isEmpty { return items }
            return items + (try deleteImage(image))
        }
        // By id.
        if let running = users.first(where: { $0.status == "running" || $0.status == "paused" }) {
            throw BerthError.conflict("conflict: unable to delete \(short) (cannot be forced) - image is being used by running container \(running.id.prefix(12))")
        }
        if !force {
            if refs.filter({ $0.kind == "tag" }).count > 1 {
                throw BerthError.conflict("conflict: unable to delete \(short) (must be forced) - image is referenced in multiple repositories")
            }
            if let stopped = users.first {
                throw BerthError.conflict("conflict: unable to delete \(short) (must be forced) - image is being used by stopped container \(stopped.id.prefix(12))")
            }
        }
        for r in refs {
            _ = try store.deleteReference(r.reference)
            items.append(ImageDeleteItem(Untagged: r.reference))
        }
        if !users.isEmpty { return items }
        return items + (try deleteImage(image))
    }

    /// Deletes the image, then its untagged parents nothing else uses (a build's intermediate
    /// steps), as dockerd prunes them.
    private func deleteImage(_ image: ImageRecord) throws -> [ImageDeleteItem] {
        var items = try deleteImageRecord(image)
        var parent = image.parent_id
        while !parent.isEmpty, let p = try store.image(parent), try store.references(of: p.id).isEmpty,
              try store.containersUsing(image: p.id).isEmpty, !(try store.hasChildren(p.id)) {
            items += try deleteImageRecord(p)
            parent = p.parent_id
        }
        return items
    }

    func deleteImageRecord(_ image: ImageRecord) throws -> [ImageDeleteItem] {
        try store.deleteImage(image.id)
        FS.removeAll(blobRoot + "/" + (try image.digest).hex)
        var items = [ImageDeleteItem(Deleted: image.id)]
        items += try dropUnreferencedLayers().map { ImageDeleteItem(Deleted: $0) }
        return items
    }

    /// Layer rows no image names and nothing pins (a commit whose image was never registered:
    /// a crash between the two, or an empty diff left out of its image), rows and directories.
    @discardableResult
    public func dropUnreferencedLayers() throws -> [String] {
        let freed = try store.deleteUnreferencedLayers(keeping: Set(pinned.keys.map(\.description)))
        layers.removeDirectories(freed.compactMap { try? Digest(parsing: $0) })
        return freed
    }

    /// The diff id of a layer that changes nothing (a tar of only its end blocks): dockerd leaves
    /// such a layer out of the image and marks the history entry `empty_layer`.
    public static let emptyLayerDiffID = Digest.sha256([UInt8](repeating: 0, count: 1024))

    // MARK: commit

    /// A new layer on top of `parentChain` made of the directory `dir` — an overlay upper
    /// directory with `overlayUpper` (its whiteouts become OCI ones in the tar, `excluded` paths
    /// are left out) — returning its diff id; the layer is pinned until `unpin`, since no image
    /// names it yet. The tar is always written (the digest, save and push read it). With `adopt`
    /// the caller gives the directory up: it becomes the layer's files by a rename instead of
    /// the tar being unpacked again (an upper is readied first, `OverlayUpper.readyForAdoption`).
    public nonisolated func commitLayer(from dir: String, parentChain: Digest?, overlayUpper: Bool,
                                        excluded: Set<String> = [], adopt: Bool) async throws -> Digest {
        let tarPath = tmp + "/commit-" + Identifier.random64().prefix(16)
        defer { unlink(tarPath) }
        let (diffID, size) = try await Blocking.run("berth-commit") { () -> (Digest, Int64) in
            if adopt && overlayUpper { OverlayUpper.readyForAdoption(dir, excluded: excluded) }
            let fd = open(tarPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw BerthError.system("create \(tarPath): \(Syscall.errnoText())") }
            defer { close(fd) }
            var archiver = DirectoryArchiver(root: dir)
            archiver.overlayUpper = overlayUpper
            archiver.excluded = excluded
            var writer = TarWriter(HashingWriter(FDWriter(fd: fd)))
            try archiver.write(to: &writer)
            try writer.finish()
            return (writer.sink.digest, writer.dataBytes)
        }
        let chain = parentChain.map { Digest.chainIDs([$0, diffID]).last! } ?? diffID
        await pin([chain])
        do {
            try await Blocking.run("berth-commit") {
                if adopt {
                    try self.layers.adopt(directory: dir, archive: tarPath, diffID: diffID, size: size, parentChain: parentChain)
                } else {
                    let fd = open(tarPath, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { throw BerthError.system("open \(tarPath): \(Syscall.errnoText())") }
                    defer { close(fd) }
                    _ = try self.layers.ensure(diffID: diffID, parentChain: parentChain, reader: FileRangeReader(fd: fd))
                }
            }
        } catch {
            await unpin([chain])
            throw error
        }
        return diffID
    }
}

/// Hears (short layer id, bytes read, layer size) while a load unpacks layers.
public typealias LoadProgress = @Sendable (String, Int64, Int64) -> Void

/// Lets a progress report through every 150 ms at most (progress bars, not floods).
public struct ProgressClock: Sendable {
    var last = ContinuousClock.now
    public init() {}
    public mutating func due() -> Bool {
        let now = ContinuousClock.now
        if now - last >= .milliseconds(150) { last = now; return true }
        return false
    }
}
