#if canImport(Glibc)
import Glibc
#endif
import BerthEngine
import BerthImage
import BerthModels
import BerthSystem
import Foundation
import NIOHTTP1

/// `/images/*`.
enum ImageRoutes {
    static func register(_ r: inout Router, engine: Engine) {
        let images = engine.images
        let store = engine.imageStore

        r.add(.GET, "/images/json") { req in
            try .json(try images.list(all: req.flag("all"), filters: try Filters(json: req.q("filters")), digests: req.flag("digests")))
        }
        r.add(.POST, "/images/load") { req in
            // The archive is spooled to disk first: its manifest may come last, and layers are then read in place.
            let path = engine.config.dataRoot + "/tmp/load-" + String(Identifier.random64().prefix(16)) + ".tar"
            try await Spool.write(req.body, to: path)
            defer { unlink(path) }
            let lines = try await store.load(archive: path)
            for l in lines where l.hasPrefix("Loaded image") {
                let name = l.components(separatedBy: ": ").last ?? ""
                engine.events.record("image", "load", id: name, attributes: ["name": name])
            }
            var out: [UInt8] = []
            for l in lines {
                out += Array(try JSONEncoder().encode(ProgressMessage(stream: l + "\n")))
                out.append(0x0a)
            }
            return Response(headers: ["Content-Type": "application/json"], body: .bytes(out))
        }
        r.add(.POST, "/images/create") { req in
            if let src = req.q("fromSrc"), !src.isEmpty {
                throw BerthError.notImplemented("importing images is not supported by Berth yet")
            }
            let name = (req.q("fromImage") ?? "") + ((req.q("tag") ?? "").isEmpty ? "" : ":" + req.q("tag")!)
            throw BerthError.notFound("pull access denied for \(name): Berth cannot pull from registries yet; load the image with docker load")
        }
        r.add(.GET, "/images/{name}/json", greedy: true) { req in try .json(try images.inspect(req.param("name"))) }
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
        return r
    }
}
