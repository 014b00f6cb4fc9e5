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

/// `docker pull`: resolve the manifest (before any response is sent, so a missing image is a
/// plain HTTP error), then download layers in parallel with verified digests, unpack them in
/// order, and only then register the image, its tag and its repo digest.
public struct PullService: Sendable {
    let images: ImageStore
    let registries: RegistryConfig
    let events: EventService
    let log = Log.logger("pull")

    /// How many layers download at once (dockerd's default is 3).
    static let parallelDownloads = 3

    public struct Plan: Sendable {
        public let ref: ImageReference
        let client: RegistryClient
        let manifestDigest: Digest
        let manifest: ImageManifest
        let configBytes: [UInt8]
        let diffIDs: [Digest]
    }

    // MARK: resolve

    /// The platform pulled when none is asked for.
    static let host = Platform(architecture: ImageStore.arch, os: "linux")

    /// `os[/arch[/variant]]` as the `platform` query gives it.
    public static func platform(_ raw: String) throws -> Platform {
        let p = raw.lowercased().split(separator: "/").map(String.init)
        guard (1...3).contains(p.count), p.allSatisfy({ !$0.isEmpty }) else {
            throw BerthError.invalid("\"\(raw)\": unknown operating system or architecture: invalid argument")
        }
        return Platform(architecture: p.count > 1 ? p[1] : ImageStore.arch, os: p[0], variant: p.count > 2 ? p[2] : nil)
    }

    public func prepare(_ raw: String, auth: AuthConfig?, platform: Platform? = nil) async throws -> Plan {
        let want = platform ?? Self.host
        let wanted = want.os + "/" + want.architecture + (want.variant.map { "/" + $0 } ?? "")
        let ref = try ImageReference(parse: raw)
        let client = RegistryClient(config: registries, domain: ref.domain, repository: ref.path, credentials: auth, actions: ["pull"])
        do {
            var fetched = try await client.manifest(ref.digest?.description ?? ref.tag ?? "latest")
            let first = fetched.mediaType
            if MediaType.isIndex(fetched.mediaType) {
                let index = try ManifestIndex.decode(fetched.bytes, what: "manifest list")
                guard let pick = index.select(os: want.os, architecture: want.architecture, variant: want.variant) else {
                    throw BerthError.notFound("no matching manifest for \(wanted) in the manifest list entries")
                }
                let listDigest = fetched.digest
                fetched = try await client.manifest(pick.digest.description)
                // The repo digest is the list's: the one the tag points to or the user asked for.
                fetched.digest = listDigest
            }
            guard MediaType.isManifest(fetched.mediaType) else {
                throw BerthError.invalid("unsupported manifest media type \(fetched.mediaType) for \(ref.familiar)")
            }
            let manifest = try ImageManifest.decode(fetched.bytes, what: "manifest of \(ref.familiar)")
            let configBytes = try await client.smallBlob(manifest.config.digest)
            let cfg = try ImageConfigFile.decode(configBytes, what: "image config \(manifest.config.digest)")
            if platform != nil, !MediaType.isIndex(first), cfg.os ?? "linux" != want.os || (cfg.architecture ?? ImageStore.arch) != want.architecture {
                throw BerthError.notFound("image with reference \(ref.familiar) was found but does not match the specified platform: wanted \(wanted), actual: \(cfg.os ?? "linux")/\(cfg.architecture ?? ImageStore.arch)")
            }
            guard cfg.rootfs.diff_ids.count == manifest.layers.count else {
                throw BerthError.invalid("the manifest of \(ref.familiar) lists \(manifest.layers.count) layers but its config \(cfg.rootfs.diff_ids.count)")
            }
            return Plan(ref: ref, client: client, manifestDigest: fetched.digest, manifest: manifest,
                        configBytes: configBytes, diffIDs: cfg.rootfs.diff_ids)
        } catch {
            throw Self.translate(error, ref: ref)
        }
    }

    /// Registry failures in dockerd's words and statuses.
    static func translate(_ error: any Error, ref: ImageReference) -> BerthError {
        switch error {
        case let e as BerthError: return e
        case let f as RegistryFailure where f.codes.contains("MANIFEST_UNKNOWN") || (f.status == 404 && f.codes.isEmpty):
            return .notFound("manifest for \(ref.familiar) not found: \(f.text)")
        case let f as RegistryFailure where f.codes.contains("NAME_UNKNOWN") || f.codes.contains("DENIED") || f.status == 403:
            return .notFound("pull access denied for \(ref.familiarName), repository does not exist or may require 'docker login': \(f.text)")
        case let f as RegistryFailure where f.status == 401:
            // Not 401: the docker CLI answers a 401 from pull or push with an interactive login prompt.
            return .system(f.text)
        case let f as RegistryFailure:
            return .system("error from registry: \(f.text)")
        case let u as RegistryUnreachable:
            return .system(u.description)
        default:
            return .system(String(describing: error))
        }
    }

    // MARK: fetch

    /// Streams progress into `sink`; throws on failure (the caller reports it in the stream).
    /// Returns whether the tag (or digest) now names another image than before. `summary` false
    /// leaves the closing "Status:" line to the caller (all tags of a repository).
    @discardableResult
    public func run(_ plan: Plan, sink: ProgressSink, summary: Bool = true) async throws -> Bool {
        let ref = plan.ref
        let tagOrDigest = ref.digest?.description ?? ref.tag ?? "latest"
        sink.status("Pulling from " + ref.path, id: tagOrDigest)
        let chains = Digest.chainIDs(plan.diffIDs)
        let layers = plan.manifest.layers
        // Layers present now, or committed by this pull, must survive an rmi or prune that runs
        // before the image row names them.
        await images.pin(chains)
        defer { Task { await images.unpin(chains) } }
        var present: [Bool] = []
        for (i, l) in layers.enumerated() {
            let have = (try? images.store.layer(chains[i].description)) != nil && FS.exists(images.layers.diffPath(chains[i]))
            present.append(have)
            sink.status(have ? "Already exists" : "Pulling fs layer", id: l.digest.short)
        }
        // Downloads run ahead (three at a time); each layer unpacks, in order, while its bytes arrive.
        let limiter = Limiter(Self.parallelDownloads)
        var downloads: [(task: Task<Void, any Error>, path: String, file: GrowingFile)?] = []
        for (i, l) in layers.enumerated() {
            if present[i] { downloads.append(nil); continue }
            let path = images.layers.tmpPath("pull-" + l.digest.hex + "-" + String(Identifier.random64().prefix(8)))
            try FS.writeAtomically(path, Data(), mode: 0o600)
            let file = GrowingFile()
            let task = Task {
                await limiter.acquire()
                defer { Task { await limiter.release() } }
                do {
                    try await self.download(l, client: plan.client, to: path, file: file, sink: sink)
                    file.finish(nil)
                } catch {
                    file.finish(error)
                    throw error
                }
            }
            downloads.append((task, path, file))
        }
        defer { for d in downloads { d?.task.cancel(); if let p = d?.path { unlink(p) } } }
        // The client went away: downloads stop, and an unpack waiting for their bytes gives up.
        let running = downloads
        try await withTaskCancellationHandler {
            var parent: Digest? = nil
            for (i, l) in layers.enumerated() {
                defer { parent = chains[i] }
                guard let d = downloads[i] else { continue }
                do {
                    try await extract(l, diffID: plan.diffIDs[i], parent: parent, path: d.path, growing: d.file, sink: sink)
                } catch is DownloadRestarted {
                    try await d.task.value
                    try await extract(l, diffID: plan.diffIDs[i], parent: parent, path: d.path, growing: nil, sink: sink)
                } catch {
                    // A download that failed explains more than the unpacking that read its bytes.
                    if !Task.isCancelled, case .failure(let e) = await d.task.result { throw e }
                    throw error
                }
                try await d.task.value
                sink.status("Pull complete", id: l.digest.short)
            }
        } onCancel: {
            for d in running { d?.task.cancel(); d?.file.finish(CancellationError()) }
        }
        for (i, l) in layers.enumerated() {
            try? images.store.recordLayerBlob(LayerBlobRecord(diff_id: plan.diffIDs[i].description, digest: l.digest.description, media_type: l.mediaType,
                                                              size: l.size, repository: ref.fullName))
        }
        let id = Digest.sha256(plan.configBytes).description
        let canonical = ref.familiarName + "@" + plan.manifestDigest.description
        var refs = [canonical]
        if ref.digest == nil { refs.append(ref.familiar) }
        let before = try? images.store.reference(ref.digest == nil ? ref.familiar : canonical)
        try await images.register(configBytes: plan.configBytes, references: refs)
        sink.status("Digest: " + plan.manifestDigest.description)
        let shown = ref.digest == nil ? ref.familiarName + ":" + (ref.tag ?? "latest") : canonical
        if summary {
            sink.status((before?.image_id == id ? "Status: Image is up to date for " : "Status: Downloaded newer image for ") + shown)
        }
        events.record("image", "pull", id: ref.digest == nil ? ref.familiar : canonical,
                      attributes: ["name": ref.digest == nil ? ref.familiar : canonical])
        return before?.image_id != id
    }

    /// `fromImage` without a tag: every tag of the repository, as dockerd does. The tag list
    /// (and the first manifest) are fetched before the response starts.
    public func prepareAllTags(_ repo: String, auth: AuthConfig?, platform: Platform?) async throws -> [Plan] {
        let ref = try ImageReference(parse: repo)
        let client = RegistryClient(config: registries, domain: ref.domain, repository: ref.path, credentials: auth, actions: ["pull"])
        let tags: [String]
        do { tags = try await client.tags() } catch { throw Self.translate(error, ref: ref) }
        guard !tags.isEmpty else { throw BerthError.notFound("no tags found for \(ref.familiarName)") }
        var plans: [Plan] = []
        for t in tags { plans.append(try await prepare(ref.familiarName + ":" + t, auth: auth, platform: platform)) }
        return plans
    }

    public func runAllTags(_ plans: [Plan], sink: ProgressSink) async throws {
        var newer = false
        for p in plans { newer = try await run(p, sink: sink, summary: false) || newer }
        guard let name = plans.first?.ref.familiarName else { return }
        sink.status((newer ? "Status: Downloaded newer image for " : "Status: Image is up to date for ") + name)
    }

    /// Downloads one blob to `path`, retrying a broken transfer from the start up to three times.
    func download(_ l: Descriptor, client: RegistryClient, to path: String, file: GrowingFile, sink: ProgressSink) async throws {
        let id = l.digest.short
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BerthError.system("create \(path): \(Syscall.errnoText())") }
        defer { close(fd) }
        var attempt = 0
        while true {
            attempt += 1
            do {
                let ticker = TickerBox()
                _ = try await client.download(l.digest, to: fd) { cur, total in
                    file.wrote(cur)
                    if ticker.due() { sink.progress("Downloading", id: id, current: cur, total: total ?? l.size) }
                }
                sink.status("Verifying Checksum", id: id)
                sink.status("Download complete", id: id)
                return
            } catch let e as BlobVerificationFailed {
                throw BerthError.invalid(e.description)
            } catch let e as RegistryUnreachable where attempt < 3 && !Task.isCancelled {
                log.info("retrying layer \(id): \(e.description)")
                file.restart()
                sink.status("Retrying in \(attempt) second\(attempt == 1 ? "" : "s")", id: id)
                try await Task.sleep(for: .seconds(attempt))
            } catch let e as RegistryFailure {
                throw BerthError.system("error pulling layer \(l.digest): \(e.text)")
            }
        }
    }

    /// Unpacks a layer (gzip, zstd or plain tar), verifying its diff id: from a download still in
    /// progress (`growing`), or from the finished file.
    func extract(_ l: Descriptor, diffID: Digest, parent: Digest?, path: String, growing: GrowingFile?, sink: ProgressSink) async throws {
        let id = l.digest.short
        let layers = images.layers
        let total = l.size
        try await Blocking.run("berth-extract", cancellable: { cancel in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BerthError.system("open \(path): \(Syscall.errnoText())") }
            defer { close(fd) }
            var ticker = ProgressClock()
            let report: (Int64) -> Void = { n in
                if ticker.due() { sink.progress("Extracting", id: id, current: n, total: total) }
            }
            if let growing {
                try Self.unpack(CountingReader(GrowingFileReader(fd: fd, file: growing), report: report), diffID, parent, layers, cancel)
            } else {
                try Self.unpack(CountingReader(FileRangeReader(fd: fd), report: report), diffID, parent, layers, cancel)
            }
            sink.progress("Extracting", id: id, current: total, total: total)
        })
    }

    /// Picks the decompressor from the stream's first bytes.
    static func unpack<R: ByteReader>(_ reader: R, _ diffID: Digest, _ parent: Digest?, _ layers: LayerStore, _ cancel: CancelFlag) throws {
        let peek = try PeekingReader(reader, peek: 4)
        if Compression.isGzip(peek.head) {
            _ = try layers.ensure(diffID: diffID, parentChain: parent, reader: try GzipReader(peek), cancel: cancel)
        } else if Compression.isZstd(peek.head) {
            _ = try layers.ensure(diffID: diffID, parentChain: parent, reader: try ZstdReader(peek), cancel: cancel)
        } else {
            _ = try layers.ensure(diffID: diffID, parentChain: parent, reader: peek, cancel: cancel)
        }
    }
}

/// A progress ticker shared with a `@Sendable` callback.
final class TickerBox: @unchecked Sendable {
    private var ticker = ProgressClock()
    private let lock = NSLock()
    func due() -> Bool { lock.lock(); defer { lock.unlock() }; return ticker.due() }
}

/// At most `n` holders at once; waiters resume in order.
actor Limiter {
    var free: Int
    var waiters: [CheckedContinuation<Void, Never>] = []
    init(_ n: Int) { free = n }
    func acquire() async {
        if free > 0 { free -= 1; return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func release() {
        if waiters.isEmpty { free += 1 } else { waiters.removeFirst().resume() }
    }
}
