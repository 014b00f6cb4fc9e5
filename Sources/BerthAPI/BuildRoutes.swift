#if canImport(Glibc)
import Glibc
#endif
import BerthBuild
import BerthEngine
import BerthExecutor
import BerthImage
import BerthModels
import BerthSystem
import Foundation
import Synchronization

/// `POST /build`: the classic builder's API (what `docker build` without BuildKit and the SDKs
/// speak). The body (a tar, plain or gzip, or a Dockerfile alone) is spooled and unpacked
/// confined into a directory of its own, `.dockerignore` applied, and the build's output
/// streamed as dockerd's classic builder writes it.
enum BuildRoutes {
    static func register(_ r: inout Router, engine: Engine) {
        let builder = Builder(engine: engine)
        r.add(.POST, "/build/cancel") { req in
            guard let id = req.q("id"), !id.isEmpty else { throw BerthError.invalid("build ID is required") }
            guard BuildTasks.cancel(id) else { throw BerthError.notFound("no such build: \(id)") }
            return Response(status: .ok)
        }
        r.add(.POST, "/build") { req in
            let remote = req.q("remote") ?? ""
            var options = BuildOptions()
            options.tags = req.query["t"] ?? []
            options.dockerfile = req.q("dockerfile").flatMap { $0.isEmpty ? nil : $0 } ?? "Dockerfile"
            options.target = req.q("target")
            options.quiet = req.flag("q")
            options.noCache = req.flag("nocache")
            options.pull = req.flag("pull")
            // `rm` is on unless the client says otherwise (the docker CLI always sends it).
            if let rm = req.q("rm"), ["0", "false", "False"].contains(rm) { options.keepContainers = true }
            options.forceRemove = req.flag("forcerm")
            options.registryConfig = req.headers.first(name: "X-Registry-Config")
            if let a = req.q("buildargs"), !a.isEmpty {
                let args = try [String: String?].decode(Array(a.utf8), what: "buildargs")
                for (k, v) in args { if let v { options.buildArgs[k] = v } else if let e = ProcessInfo.processInfo.environment[k] { options.buildArgs[k] = e } }
            }
            if let c = req.q("cachefrom"), !c.isEmpty, c != "null" {
                options.cacheFrom = try [String].decode(Array(c.utf8), what: "cachefrom")
            }
            if let l = req.q("labels"), !l.isEmpty {
                options.labels = try [String: String].decode(Array(l.utf8), what: "labels")
            }
            for t in options.tags { _ = try ImageReference(parse: t) }
            // What RUN containers get.
            var hc = HostConfig()
            if let n = req.q("networkmode"), !n.isEmpty, n != "default" { hc.NetworkMode = n }
            if let h = req.q("extrahosts"), !h.isEmpty { hc.ExtraHosts = h.split(separator: ",").map(String.init) }
            hc.ShmSize = try req.int("shmsize").map(Int64.init)
            hc.Memory = try req.int("memory").map(Int64.init)
            hc.MemorySwap = try req.int("memswap").map(Int64.init)
            hc.CpuShares = try req.int("cpushares").map(Int64.init)
            hc.CpuPeriod = try req.int("cpuperiod").map(Int64.init)
            hc.CpuQuota = try req.int("cpuquota").map(Int64.init)
            if let c = req.q("cpusetcpus"), !c.isEmpty { hc.CpusetCpus = c }
            if let u = req.q("ulimits"), !u.isEmpty, u != "null" { hc.Ulimits = try [Ulimit].decode(Array(u.utf8), what: "ulimits") }
            options.runHostConfig = hc
            let dir = engine.config.dataRoot + "/tmp/build-ctx-" + String(Identifier.random64().prefix(16))
            try FS.mkdirAll(dir, mode: 0o700)
            let body = dir + ".body"
            if remote.isEmpty {
                do { try await Spool.write(req.body, to: body) } catch { FS.removeAll(dir); throw error }
            }
            let opts = options
            let buildID = req.q("buildid") ?? ""
            return try await BuildTasks.run(id: buildID) { sink in
                defer { FS.removeAll(dir); unlink(body) }
                var context = dir + "/context"
                // A tar context is summed from its headers; a git checkout from its files.
                var sums = ContextSums(lazy: false)
                let dockerfile: String
                if RemoteContext.isGit(remote) {
                    context = try await RemoteContext.clone(remote, into: context)
                    sums = ContextSums(lazy: true)
                    try BuildContext.applyIgnore(context, keep: [opts.dockerfile, ".dockerignore"])
                    dockerfile = try BuildContext.readDockerfile(context, opts.dockerfile)
                } else {
                    try FS.mkdirAll(context, mode: 0o755)
                    if !remote.isEmpty {
                        sink.stream("Downloading build context from remote url: \(remote)\n")
                        try await RemoteContext.download(remote, to: body)
                    }
                    let bodyFd = open(body, O_RDONLY | O_CLOEXEC)
                    guard bodyFd >= 0 else { throw BerthError.system("open \(body): \(Syscall.errnoText())") }
                    defer { close(bodyFd) }
                    if Builder.isArchive(bodyFd) {
                        let limit = engine.config.expansionLimit
                        let plain = try await Builder.decompressed(body, limit: limit)
                        defer { if plain != body { unlink(plain) } }
                        try Builder.unpack(plain, into: context, limit: limit, observer: sums.summer())
                        try BuildContext.applyIgnore(context, keep: [opts.dockerfile, ".dockerignore"])
                        dockerfile = try BuildContext.readDockerfile(context, opts.dockerfile)
                    } else {
                        // `docker build -` with a Dockerfile on stdin: the body is the Dockerfile
                        // (read no further than a Dockerfile may be long).
                        dockerfile = String(decoding: Syscall.readAll(bodyFd, limit: Dockerfile.maxSize + 1), as: UTF8.self)
                    }
                }
                _ = try await builder.build(context: context, sums: sums, dockerfile: dockerfile, options: opts, out: sink)
            }
        }
    }
}

/// Builds that can be cancelled by id (`POST /build/cancel?id=`, the `buildid` they were
/// started with); a build also stops when its client goes away.
enum BuildTasks {
    static let running = Mutex<[String: Task<Void, Never>]>([:])

    /// Runs a build. Until it writes its first line the answer is held back, so that a build
    /// refused before any output (a Dockerfile that does not parse, a missing Dockerfile) is an
    /// HTTP error with its status, as dockerd answers; after that errors are in the stream.
    static func run(id: String, _ work: @escaping @Sendable (ProgressSink) async throws -> Void) async throws -> Response {
        let (sink, stream) = ProgressSink.make()
        let early = Mutex<BerthError?>(nil)
        let task = Task {
            do { try await work(sink) } catch {
                let e = BerthError.wrap(error)
                early.withLock { $0 = e }
                sink.error(e.message)
            }
            sink.finish()
            if !id.isEmpty { _ = running.withLock { $0.removeValue(forKey: id) } }
        }
        if !id.isEmpty { running.withLock { $0[id] = task } }
        sink.onAbandoned { task.cancel() }
        let box = IteratorBox(stream.makeAsyncIterator())
        let first = await box.next()
        // The first thing the build said is its error: nothing was sent yet.
        if let first, first.error != nil, let e = early.withLock({ $0 }) { throw e }
        let rest = AsyncStream<ProgressMessage>(unfolding: { await box.next() })
        let all = AsyncStream<ProgressMessage> { cont in
            let t = Task {
                if let first { cont.yield(first) }
                for await m in rest { cont.yield(m) }
                cont.finish()
            }
            cont.onTermination = { reason in if case .cancelled = reason { t.cancel(); task.cancel() } }
        }
        return .jsonLines(all)
    }

    static func cancel(_ id: String) -> Bool {
        guard let t = running.withLock({ $0.removeValue(forKey: id) }) else { return false }
        t.cancel()
        return true
    }
}

/// The build context after it is unpacked.
enum BuildContext {
    /// The Dockerfile, read confined to the context (a link in it cannot reach the host).
    static func readDockerfile(_ context: String, _ path: String) throws -> String {
        let fd: Int32
        do { fd = try ContainerFiles.open(root: context, path: path, flags: O_RDONLY | O_NONBLOCK, follow: true) } catch {
            throw BerthError.invalid("Cannot locate specified Dockerfile: \(path)")
        }
        defer { close(fd) }
        let bytes = Syscall.readAll(fd, limit: Dockerfile.maxSize + 1)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Removes what `.dockerignore` excludes (the Dockerfile and .dockerignore always stay).
    static func applyIgnore(_ context: String, keep: [String]) throws {
        // Read inside the context: a link cannot make a host file the patterns.
        guard let fd = try? ContainerFiles.open(root: context, path: ".dockerignore", flags: O_RDONLY | O_NONBLOCK, follow: true) else { return }
        let bytes = Syscall.readAll(fd, limit: 1 << 20)
        close(fd)
        let text = String(decoding: bytes, as: UTF8.self)
        let ignore = try DockerIgnore(text)
        guard !ignore.isEmpty else { return }
        let kept = Set(keep.map { ($0 as NSString).standardizingPath })
        let e = FileManager.default.enumerator(atPath: context)
        var doomed: [String] = []
        while let p = e?.nextObject() as? String {
            if kept.contains(p) { continue }
            if ignore.excludes(p) && !kept.contains(where: { $0.hasPrefix(p + "/") }) { doomed.append(p); e?.skipDescendants() }
        }
        for p in doomed { FS.removeAll(context + "/" + p) }
    }
}

/// One reader of a stream, shared by the code that looks at its first element and the response
/// that sends the rest (an AsyncStream has a single iterator).
final class IteratorBox: @unchecked Sendable {
    var iterator: AsyncStream<ProgressMessage>.Iterator
    init(_ iterator: AsyncStream<ProgressMessage>.Iterator) { self.iterator = iterator }
    func next() async -> ProgressMessage? { await iterator.next() }
}
