import BerthEngine
import BerthExecutor
import BerthModels
import BerthSystem
import Foundation
import NIOHTTP1

/// `/containers/*` and `/commit`: decode, call the container service, encode.
enum ContainerRoutes {
    static func register(_ r: inout Router, engine: Engine) {
        let svc = engine.containers

        r.add(.GET, "/containers/json") { req in
            let filters = try Filters(json: req.q("filters"))
            let body = try svc.listJSON(all: req.flag("all"), limit: try req.int("limit"), size: req.flag("size"), filters: filters)
            return Response(headers: ["Content-Type": "application/json"], body: .bytes(body))
        }
        r.add(.POST, "/containers/create") { req in
            let body = try await req.json(ContainerCreateBody.self)
            return try .json(try await svc.create(name: req.q("name"), body: body), status: .created)
        }
        r.add(.GET, "/containers/{id}/json") { req in try .json(try svc.inspect(req.param("id"), size: req.flag("size"))) }
        r.add(.POST, "/containers/{id}/start") { req in
            switch try await svc.start(req.param("id")) {
            case .started: return .noContent()
            case .alreadyRunning: return Response(status: .notModified)
            }
        }
        r.add(.POST, "/containers/{id}/stop") { req in
            let t = try req.int("t") ?? req.int("timeout")
            switch try await svc.stop(req.param("id"), timeout: t, signal: req.q("signal")) {
            case .stopped: return .noContent()
            case .notRunning: return Response(status: .notModified)
            }
        }
        r.add(.POST, "/containers/{id}/restart") { req in
            try await svc.restart(req.param("id"), timeout: try req.int("t") ?? req.int("timeout"), signal: req.q("signal"))
            return .noContent()
        }
        r.add(.POST, "/containers/{id}/kill") { req in
            try await svc.kill(req.param("id"), signal: req.q("signal"))
            return .noContent()
        }
        r.add(.POST, "/containers/{id}/pause") { req in
            try await svc.pause(req.param("id"))
            return .noContent()
        }
        r.add(.POST, "/containers/{id}/unpause") { req in
            try await svc.unpause(req.param("id"))
            return .noContent()
        }
        r.add(.POST, "/containers/{id}/update") { req in
            let body = try await req.json(HostConfig.self)
            return try .json(["Warnings": try await svc.update(req.param("id"), body)])
        }
        r.add(.GET, "/containers/{id}/top") { req in try .json(try await svc.top(req.param("id"), psArgs: req.q("ps_args"))) }
        r.add(.GET, "/containers/{id}/stats") { req in
            let stream = req.flag("stream", default: true)
            return .jsonLines(try svc.stats(req.param("id"), stream: stream, oneShot: req.flag("one-shot")))
        }
        r.add(.GET, "/containers/{id}/changes") { req in try .json(try svc.changes(req.param("id"))) }
        r.add(.GET, "/containers/{id}/export") { req in
            let tar = try await svc.export(req.param("id"))
            return Response(headers: ["Content-Type": "application/x-tar"], body: .stream { w in
                for await chunk in tar { try await w.write(chunk) }
            })
        }
        r.add(.HEAD, "/containers/{id}/archive") { req in
            guard let path = req.q("path"), !path.isEmpty else { throw BerthError.invalid("path is required") }
            let stat = try await svc.archiveStat(req.param("id"), path: path)
            return Response(headers: ["X-Docker-Container-Path-Stat": stat, "Content-Type": "application/x-tar"])
        }
        r.add(.GET, "/containers/{id}/archive") { req in
            guard let path = req.q("path"), !path.isEmpty else { throw BerthError.invalid("path is required") }
            let (stat, tar) = try await svc.archiveGet(req.param("id"), path: path)
            return Response(headers: ["X-Docker-Container-Path-Stat": stat, "Content-Type": "application/x-tar"], body: .stream { w in
                for await chunk in tar { try await w.write(chunk) }
            })
        }
        r.add(.PUT, "/containers/{id}/archive") { req in
            guard let path = req.q("path"), !path.isEmpty else { throw BerthError.invalid("path is required") }
            let spool = engine.config.dataRoot + "/tmp/put-" + String(Identifier.random64().prefix(16)) + ".tar"
            try await Spool.write(req.body, to: spool)
            defer { FS.removeAll(spool) }
            try await svc.archivePut(req.param("id"), path: path, archive: spool,
                                     noOverwriteDirNonDir: req.flag("noOverwriteDirNonDir"), copyUIDGID: req.flag("copyUIDGID"))
            return Response.text("")
        }
        r.add(.POST, "/containers/{id}/rename") { req in
            try await svc.rename(req.param("id"), to: req.q("name") ?? "")
            return .noContent()
        }
        r.add(.DELETE, "/containers/{id}") { req in
            try await svc.remove(req.param("id"), force: req.flag("force"), volumes: req.flag("v"))
            return .noContent()
        }
        r.add(.POST, "/containers/prune") { req in
            try .json(try await svc.prune(filters: try Filters(json: req.q("filters"))))
        }
        r.add(.POST, "/containers/{id}/wait") { req in
            let id = try svc.resolve(req.param("id")).id
            let condition = req.q("condition") ?? ""
            if !["", "not-running", "next-exit", "removed"].contains(condition) {
                throw BerthError.invalid("invalid condition: \"\(condition)\"")
            }
            // Headers go out at once (clients wait for them before starting the container).
            return Response(headers: ["Content-Type": "application/json"], body: .stream { w in
                let info = try await svc.wait(id, condition: condition)
                var bytes = Array(try JSONEncoder().encode(ContainerWaitResponse(StatusCode: info.code, error: info.error)))
                bytes.append(0x0a)
                try await w.write(bytes)
            })
        }
        r.add(.POST, "/containers/{id}/resize") { req in
            try svc.resize(req.param("id"), height: try req.int("h") ?? 0, width: try req.int("w") ?? 0)
            return Response.text("")
        }
        r.add(.GET, "/containers/{id}/logs") { req in
            var o = ContainerLog.Options()
            o.stdout = req.flag("stdout")
            o.stderr = req.flag("stderr")
            guard o.stdout || o.stderr else { throw BerthError.invalid("Bad parameters: you must choose at least one stream") }
            if let s = req.q("since"), !s.isEmpty, s != "0" {
                guard let t = Timestamp.parseDockerTime(s) else { throw BerthError.invalid("invalid value for \"since\": \(s)") }
                o.since = t
            }
            if let s = req.q("until"), !s.isEmpty, s != "0" {
                guard let t = Timestamp.parseDockerTime(s) else { throw BerthError.invalid("invalid value for \"until\": \(s)") }
                o.until = t
            }
            if let t = req.q("tail"), !t.isEmpty, t != "all" {
                guard let n = Int(t) else { throw BerthError.invalid("invalid value for \"tail\": \(t)") }
                o.tail = n
            }
            o.timestamps = req.flag("timestamps")
            // Details would be the log driver's extra attributes; there are none, so only the separator shows.
            o.details = req.flag("details")
            let (tty, chunks) = try svc.logs(req.param("id"), options: o, follow: req.flag("follow"))
            return Response(headers: ["Content-Type": StreamFormat.contentType(tty: tty, version: req.apiVersion)], body: .stream { w in
                for await chunk in chunks { try await w.write(chunk) }
            })
        }
        r.add(.POST, "/containers/{id}/attach") { req in
            let target = try svc.attachTarget(req.param("id"))
            let wantIn = req.flag("stdin"), wantOut = req.flag("stdout"), wantErr = req.flag("stderr")
            let stream = req.flag("stream"), logs = req.flag("logs")
            let tty = target.tty
            let keys = try StreamFormat.detachKeys(req)
            return Response(headers: ["Content-Type": StreamFormat.contentType(tty: tty, version: req.apiVersion)],
                            body: .hijack { conn in
                if logs {
                    var o = ContainerLog.Options()
                    o.stdout = wantOut; o.stderr = wantErr
                    if let (_, chunks) = try? svc.logs(target.id, options: o, follow: false) {
                        for await chunk in chunks { try? await conn.write(chunk) }
                    }
                }
                guard stream, let session = await svc.openAttach(target.id) else { return }
                await StreamFormat.pump(session: session, conn: conn, stdin: wantIn && target.openStdin,
                                        stdout: wantOut, stderr: wantErr, tty: tty, detachKeys: keys)
            })
        }
        r.add(.GET, "/containers/{id}/attach/ws") { req in
            let upgrade = req.headers["Upgrade"].contains { $0.lowercased() == "websocket" }
            guard upgrade, let key = req.headers.first(name: "Sec-WebSocket-Key") else {
                throw BerthError.invalid("websocket upgrade required")
            }
            let target = try svc.attachTarget(req.param("id"))
            let wantIn = req.flag("stdin"), wantOut = req.flag("stdout"), wantErr = req.flag("stderr")
            let stream = req.flag("stream"), logs = req.flag("logs")
            // API 1.42 and later carry the output in binary frames, earlier ones in text frames.
            let opcode: WebSocket.Opcode = req.apiVersion >= APIVersion(major: 1, minor: 42) ? .binary : .text
            return Response(status: .switchingProtocols,
                            headers: ["Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": WebSocket.accept(key: key)],
                            body: .hijack { conn in
                if logs {
                    var o = ContainerLog.Options()
                    o.stdout = wantOut; o.stderr = wantErr
                    if let (_, chunks) = try? svc.logs(target.id, options: o, follow: false, framed: false) {
                        for await chunk in chunks where !chunk.isEmpty { try? await conn.write(WebSocket.encode(opcode, chunk)) }
                    }
                }
                guard stream, let session = await svc.openAttach(target.id) else {
                    try? await conn.write(WebSocket.encode(.close, [0x03, 0xe8]))
                    return
                }
                await StreamFormat.pumpWebSocket(session: session, conn: conn, stdin: wantIn && target.openStdin,
                                                 stdout: wantOut, stderr: wantErr, opcode: opcode)
            })
        }
        r.add(.POST, "/commit") { req in
            guard let c = req.q("container"), !c.isEmpty else { throw BerthError.invalid("No container specified") }
            let override = try await req.json(ContainerConfig?.self, empty: .some(nil))
            let id = try await svc.commit(c, repo: req.q("repo"), tag: req.q("tag"), author: req.q("author"),
                                          comment: req.q("comment"), changes: req.query["changes"] ?? [], override: override,
                                          pause: req.flag("pause", default: true))
            return try .json(IDResponse(Id: id), status: .created)
        }
    }
}

/// Attach/exec/logs framing: raw for TTY, stdcopy otherwise; the content type by API version.
enum StreamFormat {
    static func contentType(tty: Bool, version: APIVersion) -> String {
        !tty && version >= APIVersion(major: 1, minor: 42) ? "application/vnd.docker.multiplexed-stream"
                                                          : "application/vnd.docker.raw-stream"
    }

    /// Copies a session's output to the client and the client's input to the session. With a TTY,
    /// the detach keys end the attachment (the process keeps running).
    static func pump(session: any StdioSession, conn: any HijackedStream, stdin: Bool, stdout: Bool, stderr: Bool, tty: Bool,
                     detachKeys: DetachKeys?) async {
        let input: Task<Void, Never>? = stdin ? Task {
            var keys = tty ? detachKeys : nil
            for await chunk in conn.input {
                var data = chunk
                if keys != nil {
                    let (forward, detached) = keys!.feed(chunk)
                    data = forward
                    if detached {
                        if !data.isEmpty { await session.writeStdin(data) }
                        session.close()
                        await conn.close()
                        return
                    }
                }
                if !data.isEmpty { await session.writeStdin(data) }
            }
            session.closeStdin()
        } : nil
        for await chunk in session.output {
            if chunk.stream == 1 && !stdout { continue }
            if chunk.stream == 2 && !stderr { continue }
            do { try await conn.write(tty ? chunk.bytes : StdCopy.frame(stream: chunk.stream, chunk.bytes)) } catch { break }
        }
        input?.cancel()
        session.close()
    }

    /// Attach over a websocket: the output, raw (no stdcopy), one frame per chunk; the client's
    /// data frames go to stdin; a close frame ends the session; pings are answered.
    static func pumpWebSocket(session: any StdioSession, conn: any HijackedStream, stdin: Bool, stdout: Bool, stderr: Bool,
                              opcode: WebSocket.Opcode) async {
        let input = Task {
            var decoder = WebSocket.Decoder()
            for await chunk in conn.input {
                guard let frames = try? decoder.feed(chunk) else {
                    try? await conn.write(WebSocket.encode(.close, [0x03, 0xea]))  // 1002 protocol error
                    break
                }
                for f in frames {
                    switch f.opcode {
                    case .text, .binary, .continuation:
                        if stdin && !f.payload.isEmpty { await session.writeStdin(f.payload) }
                    case .ping:
                        try? await conn.write(WebSocket.encode(.pong, f.payload))
                    case .close:
                        try? await conn.write(WebSocket.encode(.close, [0x03, 0xe8]))
                        session.close()
                        await conn.close()
                        return
                    case .pong:
                        continue
                    }
                }
            }
            if stdin { session.closeStdin() }
        }
        for await chunk in session.output {
            if chunk.stream == 1 && !stdout { continue }
            if chunk.stream == 2 && !stderr { continue }
            do { try await conn.write(WebSocket.encode(opcode, chunk.bytes)) } catch { break }
        }
        try? await conn.write(WebSocket.encode(.close, [0x03, 0xe8]))  // 1000: the container's output ended
        input.cancel()
        session.close()
    }

    static func detachKeys(_ req: Request) throws -> DetachKeys {
        guard let spec = req.q("detachKeys"), !spec.isEmpty else { return .dockerDefault }
        return try DetachKeys(spec: spec)
    }
}
