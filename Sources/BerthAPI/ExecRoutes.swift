import BerthEngine
import BerthModels
import BerthSystem
import NIOHTTP1

/// `/containers/{id}/exec` and `/exec/*`.
enum ExecRoutes {
    static func register(_ r: inout Router, engine: Engine) {
        let svc = engine.containers
        r.add(.POST, "/containers/{id}/exec") { req in
            let cfg = try await req.json(ExecConfig.self)
            return try .json(IDResponse(Id: try await svc.createExec(req.param("id"), config: cfg)), status: .created)
        }
        r.add(.POST, "/exec/{id}/start") { req in
            let id = req.param("id")
            let start = try await req.json(ExecStartConfig.self, empty: ExecStartConfig())
            let (cfg, _) = try svc.execTarget(id)
            let process = try await svc.startExec(id)
            if start.Detach == true {
                Task {
                    for await _ in process.output {}
                    _ = await svc.finishExec(id, process)
                }
                return Response(status: .ok)  // dockerd answers a detached start with an empty body
            }
            // The framing follows the start request's Tty, as dockerd's does (the Python SDK sends
            // Tty false for a TTY exec and reads stdcopy frames); the docker CLI sends the exec's.
            let tty = start.Tty ?? false
            let keys = (cfg.DetachKeys ?? "").isEmpty ? DetachKeys.dockerDefault : try DetachKeys(spec: cfg.DetachKeys!)
            return Response(headers: ["Content-Type": StreamFormat.contentType(tty: tty, version: req.apiVersion)],
                            body: .hijack { conn in
                let finisher = Task { await svc.finishExec(id, process) }
                await StreamFormat.pump(session: process, conn: conn, stdin: cfg.AttachStdin ?? false,
                                        stdout: cfg.AttachStdout ?? false, stderr: cfg.AttachStderr ?? false, tty: tty,
                                        detachKeys: keys)
                // The exit code is recorded before the client is told the stream ended.
                _ = await finisher.value
            })
        }
        r.add(.GET, "/exec/{id}/json") { req in try .json(try svc.inspectExec(req.param("id"))) }
        r.add(.POST, "/exec/{id}/resize") { req in
            try await svc.resizeExec(req.param("id"), height: try req.int("h") ?? 0, width: try req.int("w") ?? 0)
            return Response.text("")
        }
    }
}
