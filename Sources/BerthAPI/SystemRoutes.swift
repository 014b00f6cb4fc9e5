import BerthEngine
import BerthModels
import BerthRegistry
import BerthSystem
import Foundation
import NIOHTTP1

/// `/_ping`, `/version`, `/info`, and the endpoints of features Berth does not have.
enum SystemRoutes {
    static func register(_ r: inout Router, engine: Engine) {
        let ping: Router.Handler = { req in
            var resp = Response.text("OK")
            resp.headers.add(name: "Builder-Version", value: "1")
            resp.headers.add(name: "Cache-Control", value: "no-cache, no-store, must-revalidate")
            resp.headers.add(name: "Pragma", value: "no-cache")
            if req.method == .HEAD { resp.headers.replaceOrAdd(name: "Content-Length", value: "0"); resp.body = .none }
            return resp
        }
        r.add(.GET, "/_ping", ping)
        r.add(.HEAD, "/_ping", ping)
        r.add(.GET, "/version") { _ in try .json(engine.versionInfo()) }
        r.add(.GET, "/info") { _ in try .json(try engine.info()) }
        r.add(.POST, "/auth") { req in
            let auth = try await req.json(AuthConfig.self)
            try await engine.login(auth)
            return try .json(AuthResponse(Status: "Login Succeeded", IdentityToken: ""))
        }
        r.add(.GET, "/system/df") { _ in
            var usage = try engine.images.diskUsage(containers: try engine.containers.list(all: true, limit: nil, size: false, filters: Filters()))
            usage.Volumes = try engine.volumes.usage()
            return try .json(usage)
        }
        // The classic builder's cache is its step index: pruning forgets it (the images stay until
        // their results are removed, as intermediate images do with dockerd).
        r.add(.POST, "/build/prune") { req in
            _ = try Filters(json: req.q("filters"))
            return try .json(BuildPruneResponse(CachesDeleted: try engine.store.clearBuildCache().map(ImageService.cacheID), SpaceReclaimed: 0))
        }
        r.add(.GET, "/events") { req in
            func time(_ key: String) throws -> Int64 {
                guard let s = req.q(key), !s.isEmpty else { return 0 }
                guard let t = Timestamp.parseDockerTime(s) else { throw BerthError.invalid("invalid value for \(key): \(s)") }
                return t
            }
            let since = try time("since"), until = try time("until")
            return .jsonLines(throwing: try engine.events.stream(since: since, until: until, filters: try Filters(json: req.q("filters"))))
        }

        // Swarm mode is off, as on a dockerd that never joined a swarm.
        let notSwarm: Router.Handler = { _ in
            throw BerthError.unavailable("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")
        }
        for p in ["/swarm", "/swarm/unlockkey", "/nodes", "/nodes/{id}", "/services", "/services/{id}", "/services/{id}/logs",
                  "/tasks", "/tasks/{id}", "/tasks/{id}/logs", "/secrets", "/secrets/{id}", "/configs", "/configs/{id}"] {
            r.add(.GET, p, notSwarm)
        }
        for p in ["/swarm/init", "/swarm/join", "/swarm/leave", "/swarm/update", "/swarm/unlock", "/services/create",
                  "/services/{id}/update", "/nodes/{id}/update", "/secrets/create", "/secrets/{id}/update",
                  "/configs/create", "/configs/{id}/update"] {
            r.add(.POST, p, notSwarm)
        }
        for p in ["/nodes/{id}", "/services/{id}", "/secrets/{id}", "/configs/{id}"] { r.add(.DELETE, p, notSwarm) }

        // No plugins are installed.
        r.add(.GET, "/plugins") { _ in try .json([JSONValue]()) }
        r.add(.GET, "/plugins/privileges") { _ in try .json([JSONValue]()) }
        r.add(.GET, "/plugins/{name}/json", greedy: true) { req in
            throw BerthError.notFound("plugin \"\(req.param("name"))\" not found")
        }
        r.add(.DELETE, "/plugins/{name}", greedy: true) { req in
            throw BerthError.notFound("plugin \"\(req.param("name"))\" not found")
        }
        for p in ["/plugins/pull", "/plugins/create"] {
            r.add(.POST, p) { _ in throw BerthError.notImplemented("plugins are not supported by Berth") }
        }
    }
}
