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
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw BerthError.system("create \(path): \(Syscall.errnoText())") }
            defer { unlink(path) }
            do {
                for await chunk in req.body.chunks() { try chunk.withUnsafeBytes { try Syscall.writeAll(fd, $0) } }
                close(fd)
            } catch { close(fd); throw error }
            let lines = try await store.load(archive: path)
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
            return Response(status: .created)
        }
        r.add(.DELETE, "/images/{name}", greedy: true) { req in
            try .json(try await store.remove(req.param("name"), force: req.flag("force")))
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
