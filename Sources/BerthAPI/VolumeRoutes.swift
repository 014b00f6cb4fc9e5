import BerthEngine
import BerthModels
import BerthSystem
import Foundation

/// `/volumes/...`.
enum VolumeRoutes {
    static func register(_ r: inout Router, engine: Engine) {
        let svc = engine.volumes
        r.add(.GET, "/volumes") { req in
            Response(status: .ok, headers: ["Content-Type": "application/json"],
                     body: .bytes(try svc.listJSON(filters: try Filters(json: req.q("filters")))))
        }
        r.add(.POST, "/volumes/create") { req in
            try .json(try svc.create(try await req.json(VolumeCreateRequest.self)), status: .created)
        }
        r.add(.POST, "/volumes/prune") { req in
            // Before API 1.42 a prune took every unused volume; since, only anonymous ones unless all=true.
            try .json(try svc.prune(filters: try Filters(json: req.q("filters")), all: req.apiVersion < APIVersion(major: 1, minor: 42)))
        }
        r.add(.GET, "/volumes/{name}") { req in try .json(try svc.inspect(req.param("name"))) }
        r.add(.DELETE, "/volumes/{name}") { req in
            try svc.remove(req.param("name"), force: req.flag("force"))
            return .noContent()
        }
    }
}
