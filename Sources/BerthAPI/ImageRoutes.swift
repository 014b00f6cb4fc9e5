#if canImport(Glibc)
import Glibc
#endif
import BerthEngine
import BerthImage
import BerthModels
import BerthRegistry
import BerthArchive
import BerthSystem
import Foundation
import NIOHTTP1

/// Credentials the docker CLI sends for registry operations.
func registryAuth(_ req: Request) -> AuthConfig? { AuthConfig.fromHeader(req.headers.first(name: "X-Registry-Auth")) }

/// A progress stream (load, pull, push): a failure after the headers went out becomes an
/// `errorDetail` message, as in dockerd, and the work is cancelled when the client goes away
/// (its stream is no longer read), so a dropped `docker pull` or `load` stops and cleans up.
func progress(_ work: @escaping @Sendable (ProgressSink) async throws -> Void) -> Response {
    let (sink, stream) = ProgressSink.make()
    let task = Task {
        do { try await work(sink) } catch { sink.error(BerthError.wrap(error).message) }
        sink.finish()
    }
    sink.onAbandoned { task.cancel() }
    return .jsonLines(stream)
}

/// `/images/*` and `/distribution/*`.
enum ImageRoutes {
    static func register(_ r: inout Router, engine: Engine) {
        let images = engine.images
        let store = engine.imageStore

        r.add(.GET, "/images/json") { req in
            try .json(try images.list(all: req.flag("all"), filters: try Filters(json: req.q("filters"))))
        }
        r.add(.POST, "/images/load") { req in
            // The archive is spooled to disk first: its manifest may come last, and layers are then read in place.
            let path = engine.config.dataRoot + "/tmp/load-" + String(Identifier.random64().prefix(16)) + ".tar"
            try await Spool.write(req.body, to: path)
            let record: @Sendable ([String]) -> Void = { lines in
                for l in lines where l.hasPrefix("Loaded image") {
                    let name = l.components(separatedBy: ": ").last ?? ""
                    engine.events.record("image", "load", id: name, attributes: ["name": name])
                }
            }
            if req.flag("quiet") {
                defer { unlink(path) }
                let lines = try await store.load(archive: path)
                record(lines)
                var out: [UInt8] = []
                for l in lines {
                    out += Array(try JSONEncoder().encode(ProgressMessage(stream: l + "\n")))
                    out.append(0x0a)
                }
                return Response(headers: ["Content-Type": "application/json"], body: .bytes(out))
            }
            // Not quiet (a terminal): "Loading layer" bars as the layers unpack, as dockerd sends.
            return progress { sink in
                defer { unlink(path) }
                let lines = try await store.load(archive: path) { id, current, total in
                    sink.progress("Loading layer", id: id, current: current, total: total)
                }
                record(lines)
                for l in lines { sink.stream(l + "\n") }
            }
        }
        r.add(.POST, "/images/create") { req in
            if let src = req.q("fromSrc"), !src.isEmpty {
                guard src == "-" else { throw BerthError.notImplemented("importing from a URL is not supported; send the archive in the body") }
                var config = ContainerConfig()
                try CommitChanges.apply(req.query["changes"] ?? [], to: &config)
                var ref: String? = nil
                if let repo = req.q("repo"), !repo.isEmpty { ref = repo + ((req.q("tag") ?? "").isEmpty ? "" : ":" + req.q("tag")!) }
                let path = engine.config.dataRoot + "/tmp/import-" + String(Identifier.random64().prefix(16)) + ".tar"
                try await Spool.write(req.body, to: path)
                defer { unlink(path) }
                let id = try await store.importImage(path: path, reference: ref, config: config, message: req.q("message"))
                engine.events.record("image", "import", id: id, attributes: ["name": ref ?? id])
                var out = Array(try JSONEncoder().encode(ProgressMessage(status: id)))
                out.append(0x0a)
                return Response(headers: ["Content-Type": "application/json"], body: .bytes(out))
            }
            guard let from = req.q("fromImage"), !from.isEmpty else { throw BerthError.invalid("fromImage or fromSrc is required") }
            let tag = req.q("tag") ?? ""
            let raw = tag.isEmpty ? from : from + (tag.hasPrefix("sha256:") ? "@" : ":") + tag
            // Only an explicit platform is checked against a single-platform image's config.
            let platform = try req.q("platform").flatMap { $0.isEmpty ? nil : try PullService.platform($0) }
            if tag.isEmpty, !from.contains("@"), !(from.split(separator: "/").last ?? "").contains(":") {
                let plans = try await engine.pulls.prepareAllTags(from, auth: registryAuth(req), platform: platform)
                return progress { sink in try await engine.pulls.runAllTags(plans, sink: sink) }
            }
            let plan = try await engine.pulls.prepare(raw, auth: registryAuth(req), platform: platform)
            return progress { sink in try await engine.pulls.run(plan, sink: sink) }
        }
        r.add(.POST, "/images/{name}/push", greedy: true) { req in
            let plan = try engine.pushes.prepare(req.param("name"), tag: req.q("tag"))
            let auth = registryAuth(req)
            return progress { sink in try await engine.pushes.run(plan, auth: auth, sink: sink) }
        }
        r.add(.GET, "/distribution/{name}/json", greedy: true) { req in
            try .json(try await engine.pulls.distribution(req.param("name"), auth: registryAuth(req)))
        }
        r.add(.GET, "/images/{name}/json", greedy: true) { req in try .json(try images.inspect(req.param("name"))) }
        r.add(.GET, "/images/{name}/history", greedy: true) { req in try .json(try images.history(req.param("name"))) }
        let save: @Sendable ([String]) throws -> Response = { names in
            guard !names.isEmpty else { throw BerthError.invalid("no images to save") }
            let plan = try store.planSave(names)
            let tar = StreamingWriter.stream { w in try store.writeSave(plan, to: &w) }
            for (id, _) in plan { engine.events.record("image", "save", id: id) }
            return Response(headers: ["Content-Type": "application/x-tar"], body: .stream { w in
                for await chunk in tar { try await w.write(chunk) }
            })
        }
        r.add(.GET, "/images/get") { req in try save(req.query["names"] ?? []) }
        r.add(.GET, "/images/{name}/get", greedy: true) { req in try save([req.param("name")]) }
        r.add(.POST, "/images/prune") { req in
            let f = try Filters(json: req.q("filters"))
            try f.validate(["dangling", "until", "label", "label!"])
            let all = f["dangling"].first.map { $0 == "false" || $0 == "0" } ?? false
            let until = try f["until"].first.map { s -> Int64 in
                guard let t = Timestamp.parseDockerTime(s) else { throw BerthError.invalid("invalid until: \(s)") }
                return t
            }
            let (items, reclaimed) = try await store.prune(all: all, until: until, labels: f["label"], notLabels: f["label!"])
            for i in items {
                if let u = i.Untagged { engine.events.record("image", "untag", id: u, attributes: ["name": u]) }
                if let d = i.Deleted { engine.events.record("image", "delete", id: d, attributes: ["name": d]) }
            }
            return try .json(PruneImagesResponse(ImagesDeleted: items.isEmpty ? nil : items, SpaceReclaimed: reclaimed))
        }
        r.add(.POST, "/images/{name}/tag", greedy: true) { req in
            guard let repo = req.q("repo"), !repo.isEmpty else { throw BerthError.invalid("repository name must have at least one component") }
            try await store.tag(req.param("name"), repo: repo, tag: req.q("tag"))
            let img = try store.resolve(req.param("name"))
            let newName = repo + ((req.q("tag") ?? "").isEmpty ? ":latest" : ":" + req.q("tag")!)
            engine.events.record("image", "tag", id: img.id, attributes: ["name": newName])
            return Response(status: .created)
        }
        r.add(.DELETE, "/images/{name}", greedy: true) { req in
            let items = try await store.remove(req.param("name"), force: req.flag("force"))
            for i in items {
                if let u = i.Untagged { engine.events.record("image", "untag", id: u, attributes: ["name": u]) }
                if let d = i.Deleted, !d.isEmpty { engine.events.record("image", "delete", id: d, attributes: ["name": d]) }
            }
            return try .json(items)
        }
    }
}

/// Request bodies that must be complete before they can be read (archives) go to a file first.
enum Spool {
    static func write(_ body: RequestBody, to path: String) async throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BerthError.system("create \(path): \(Syscall.errnoText())") }
        defer { close(fd) }
        do {
            for await chunk in body.chunks() { try chunk.withUnsafeBytes { try Syscall.writeAll(fd, $0) } }
            guard body.isComplete else { throw BerthError.invalid("the request body was cut off") }
        } catch {
            unlink(path)
            throw error
        }
    }
}

/// All routes of the Engine API that berthd serves.
public enum APIRoutes {
    public static func make(engine: Engine) -> Router {
        var r = Router()
        SystemRoutes.register(&r, engine: engine)
        ContainerRoutes.register(&r, engine: engine)
        ExecRoutes.register(&r, engine: engine)
        ImageRoutes.register(&r, engine: engine)
        NetworkRoutes.register(&r, engine: engine)
        VolumeRoutes.register(&r, engine: engine)
        BuildRoutes.register(&r, engine: engine)
        return r
    }
}
