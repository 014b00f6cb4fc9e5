#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthImage
import BerthModels
import BerthRegistry
import BerthStore
import BerthSystem
import Foundation
import Logging
import Synchronization

/// `docker push`: every layer the registry lacks is compressed and uploaded (or mounted from a
/// repository of the same registry that has it), then the config, then a schema-2 manifest.
public struct PushService: Sendable {
    let images: ImageStore
    let registries: RegistryConfig
    let events: EventService
    let log = Log.logger("push")

    public struct Plan: Sendable {
        let repo: ImageReference
        /// Tag → image id, in the order pushed.
        let tags: [(String, String)]
    }

    /// Finds what to push before the response starts: `name` with `tag`, or every tag of `name`.
    public func prepare(_ name: String, tag: String?) throws -> Plan {
        let raw = name + ((tag ?? "").isEmpty ? "" : ":" + tag!)
        let ref = try ImageReference(parse: raw)
        if (tag ?? "").isEmpty && !name.contains("@") && !(name.split(separator: "/").last ?? "").contains(":") {
            let all = try images.store.allReferences().filter { r in
                r.kind == "tag" && (try? ImageReference(parse: r.reference))?.fullName == ref.fullName
            }
            guard !all.isEmpty else { throw BerthError.notFound("An image does not exist locally with the tag: \(ref.familiarName)") }
            return Plan(repo: ref, tags: all.map { ((try? ImageReference(parse: $0.reference))?.tag ?? "latest", $0.image_id) })
        }
        guard let r = try images.store.reference(ref.familiar) else {
            throw BerthError.notFound("An image does not exist locally with the tag: \(ref.familiarName)")
        }
        return Plan(repo: ref, tags: [(ref.tag ?? "latest", r.image_id)])
    }

    public func run(_ plan: Plan, auth: AuthConfig?, sink: ProgressSink) async throws {
        let repo = plan.repo
        sink.status("The push refers to repository [\(repo.familiarName)]")
        let client = RegistryClient(config: registries, domain: repo.domain, repository: repo.path, credentials: auth,
                                    actions: ["pull", "push"], extraScopes: mountScopes(repo), forPush: true)
        do {
            for (tag, imageID) in plan.tags {
                try await pushOne(tag: tag, imageID: imageID, client: client, sink: sink)
            }
        } catch {
            throw PullService.translate(error, ref: repo)
        }
    }

    /// Pull scopes for the repositories of the same registry that may lend blobs (cross-mount).
    func mountScopes(_ repo: ImageReference) -> [String] {
        var repos = Set<String>()
        for r in (try? images.store.allLayerBlobRepositories()) ?? [] where r.hasPrefix(repo.domain + "/") {
            let path = String(r.dropFirst(repo.domain.count + 1))
            if path != repo.path { repos.insert(path) }
        }
        return repos.sorted().prefix(5).map { "repository:\($0):pull" }
    }

    func pushOne(tag: String, imageID: String, client: RegistryClient, sink: ProgressSink) async throws {
        guard let image = try images.store.image(imageID) else { throw BerthError.notFound("No such image: \(imageID)") }
        let cfg = try images.config(image)
        let diffIDs = cfg.rootfs.diff_ids
        let chains = Digest.chainIDs(diffIDs)
        for d in diffIDs.reversed() { sink.status("Preparing", id: d.short) }
        var descriptors: [Descriptor] = []
        for (i, diffID) in diffIDs.enumerated() {
            descriptors.append(try await pushLayer(diffID: diffID, chain: chains[i], client: client, sink: sink))
        }
        let configDigest = try image.digest
        let configBytes = [UInt8](image.config)
        if try await client.blobSize(configDigest) == nil {
            try await client.upload(digest: configDigest, bytes: configBytes)
        }
        let manifest = ImageManifest(mediaType: MediaType.dockerManifest,
                                     config: Descriptor(mediaType: MediaType.dockerConfig, digest: configDigest, size: Int64(configBytes.count)),
                                     layers: descriptors)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = Array(try enc.encode(manifest))
        let digest = try await client.putManifest(tag, bytes: bytes, mediaType: MediaType.dockerManifest)
        _ = try images.store.addReference(ImageRefRecord(reference: client.familiarRepository + "@" + digest.description, image_id: imageID,
                                                         kind: "digest", created: Timestamp.nowNanos()))
        sink.status("\(tag): digest: \(digest) size: \(bytes.count)")
        sink.aux(.object(["Tag": .string(tag), "Digest": .string(digest.description), "Size": .number(Double(bytes.count))]))
        events.record("image", "push", id: client.familiarRepository + ":" + tag, attributes: ["name": client.familiarRepository + ":" + tag])
    }

    /// One layer: already there, mounted from a sibling repository, or compressed and uploaded.
    func pushLayer(diffID: Digest, chain: Digest, client: RegistryClient, sink: ProgressSink) async throws -> Descriptor {
        let id = diffID.short
        let target = client.domain + "/" + client.repository
        let known = (try? images.store.layerBlobs(diffID: diffID.description)) ?? []
        // Blobs recorded for this registry: the target repository first, then siblings to mount from.
        let here = known.filter { $0.repository.hasPrefix(client.domain + "/") }
            .sorted { a, b in (a.repository == target ? 0 : 1) < (b.repository == target ? 0 : 1) }
        for b in here {
            guard let blob = try? Digest(parsing: b.digest) else { continue }
            if try await client.blobSize(blob) != nil {
                record(diffID, blob, b.media_type, b.size, target)
                sink.status("Layer already exists", id: id)
                return Descriptor(mediaType: b.media_type, digest: blob, size: b.size)
            }
            guard b.repository != target else { continue }
            let source = String(b.repository.dropFirst(client.domain.count + 1))
            if try await client.mount(blob, from: source) {
                record(diffID, blob, b.media_type, b.size, target)
                sink.status("Mounted from " + source, id: id)
                return Descriptor(mediaType: b.media_type, digest: blob, size: b.size)
            }
        }
        // Compress and upload at once: the gzip members go out as they are made, and the digest,
        // known when the last one is, closes the upload.
        let plain = images.layers.tarPath(chain)
        let outcome = Mutex<Result<(digest: Digest, size: Int64), any Error>?>(nil)
        let chunks = StreamingWriter.bytes { writer in
            var w = writer
            let r = Result { try GzipFile.compress(plain, into: &w) }
            outcome.withLock { $0 = r }
            _ = try r.get()
        }
        let ticker = TickerBox()
        let total = FS.fileSize(plain)
        try await client.uploadStreaming(chunks, progress: { sent in
            if ticker.due() { sink.progress("Pushing", id: id, current: sent, total: total) }
        }, digest: {
            guard let r = outcome.withLock({ $0 }) else { throw BerthError.system("compressing layer \(diffID) stopped early") }
            return try r.get().digest
        })
        guard let (digest, size) = try outcome.withLock({ $0 })?.get() else { throw BerthError.system("compressing layer \(diffID) stopped early") }
        record(diffID, digest, MediaType.dockerLayerGzip, size, target)
        sink.status("Pushed", id: id)
        return Descriptor(mediaType: MediaType.dockerLayerGzip, digest: digest, size: size)
    }

    func record(_ diffID: Digest, _ digest: Digest, _ mediaType: String, _ size: Int64, _ repo: String) {
        try? images.store.recordLayerBlob(LayerBlobRecord(diff_id: diffID.description, digest: digest.description, media_type: mediaType, size: size, repository: repo))
    }
}

extension RegistryClient {
    /// `127.0.0.1:5000/acc/bb`, `acc/bb` or `busybox`: the name Docker shows and stores.
    var familiarRepository: String {
        if domain == ImageReference.defaultDomain {
            return repository.hasPrefix("library/") && repository.split(separator: "/").count == 2 ? String(repository.dropFirst(8)) : repository
        }
        return domain + "/" + repository
    }
}
