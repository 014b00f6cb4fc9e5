import BerthEngine
import BerthModels
import BerthSystem
import Foundation

/// `/networks/...`.
enum NetworkRoutes {
    static func register(_ r: inout Router, engine: Engine) {
        let svc = engine.networks
        r.add(.GET, "/networks") { req in
            try .json(try svc.list(filters: try Filters(json: req.q("filters"))))
        }
        r.add(.GET, "/networks/{id}") { req in try .json(try svc.inspect(req.param("id"))) }
        r.add(.POST, "/networks/create") { req in
            try .json(try await svc.create(try await req.json(NetworkCreateRequest.self)), status: .created)
        }
        r.add(.DELETE, "/networks/{id}") { req in
            try await svc.remove(req.param("id"))
            return .noContent()
        }
        r.add(.POST, "/networks/prune") { req in
            try .json(try await svc.prune(filters: try Filters(json: req.q("filters"))))
        }
        r.add(.POST, "/networks/{id}/connect") { req in
            try await svc.connect(req.param("id"), try await req.json(NetworkConnectRequest.self))
            return Response(status: .ok)
        }
        r.add(.POST, "/networks/{id}/disconnect") { req in
            try await svc.disconnect(req.param("id"), try await req.json(NetworkDisconnectRequest.self))
            return Response(status: .ok)
        }
    }
}
