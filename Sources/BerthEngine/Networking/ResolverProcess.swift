#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation
import Logging
import Synchronization

/// berthd's side of the resolver process (`ResolverDaemon`): it is found at its socket or
/// started, told what to serve, and started again (with everything it served) if it died.
public actor ResolverProcess: NameService {
    /// How to run the resolver: berthd's own executable and `resolver`.
    let command: [String]
    let execRoot: String
    let database: String
    var fd: Int32 = -1
    /// What berthd asked to be served, to tell a new resolver process again.
    var wanted: [String: ResolverRequest] = [:]
    nonisolated let servedIDs = Mutex<Set<String>>([])
    /// One request at a time on the connection (and one start of the process): the actor is
    /// reentrant at every await, so requests wait their turn here.
    var busy = false
    var waiting: [CheckedContinuation<Void, Never>] = []
    let log = Log.logger("network")

    public init(command: [String], execRoot: String, database: String) {
        self.command = command
        self.execRoot = execRoot
        self.database = database
    }

    public func serve(containerID: String, sandbox: String, upstreams: [String]) async throws {
        let r = ResolverRequest(op: .serve, id: containerID, sandbox: sandbox, upstreams: upstreams)
        try check(try await send(r))
        // Recorded once served: a resolver started again is given it back.
        wanted[containerID] = r
        servedIDs.withLock { _ = $0.insert(containerID) }
    }

    public func stop(containerID: String) async {
        wanted[containerID] = nil
        servedIDs.withLock { _ = $0.remove(containerID) }
        // No resolver running: nothing served. A start would only be stopped again.
        guard fd >= 0 || FileManager.default.fileExists(atPath: ResolverPaths.socket(execRoot: execRoot)) else { return }
        _ = try? await send(ResolverRequest(op: .stop, id: containerID))
    }

    public nonisolated func isServing(_ containerID: String) -> Bool { servedIDs.withLock { $0.contains(containerID) } }

    /// What a resolver left running by an earlier berthd serves (none running: nothing).
    public func served() async -> [String] {
        // (Called once at daemon start, before anything else is sent.)
        guard fd >= 0 || connectExisting() else { return [] }
        return (try? await send(ResolverRequest(op: .list)))?.ids ?? []
    }

    public func adopt(containerID: String, sandbox: String, upstreams: [String]) async {
        wanted[containerID] = ResolverRequest(op: .serve, id: containerID, sandbox: sandbox, upstreams: upstreams)
        servedIDs.withLock { _ = $0.insert(containerID) }
    }

    func check(_ reply: ResolverReply) throws {
        if let e = reply.error { throw BerthError.system("resolver: \(e)") }
    }

    /// One request and its reply, after the requests before it; a resolver that went away is
    /// started again (and given back what it served) once.
    func send(_ r: ResolverRequest) async throws -> ResolverReply {
        while busy { await withCheckedContinuation { waiting.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiting.isEmpty { waiting.removeFirst().resume() }
        }
        for attempt in 0..<2 {
            if fd < 0 { try await connect(replaying: r.op == .serve ? r.id : nil) }
            let conn = fd
            do {
                return try await Blocking.run("berth-resolver") { try Self.exchange(conn, r) }
            } catch {
                Syscall.closeQuietly(fd)
                fd = -1
                if attempt == 1 { throw error }
                log.warning("resolver connection lost (\(error)); starting it again")
            }
        }
        throw BerthError.system("resolver unreachable")
    }

    func connectExisting() -> Bool {
        guard let c = try? Syscall.connectUnix(ResolverPaths.socket(execRoot: execRoot), type: Int32(SOCK_STREAM.rawValue)) else { return false }
        // A resolver that stops answering fails the request instead of holding the start.
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        fd = c
        return true
    }

    /// Connects to the resolver, starting it if none answers; a new one is given what berthd
    /// wants served (except `skipping`, the request about to be sent).
    func connect(replaying skipping: String?) async throws {
        if connectExisting() { return }
        try await spawn()
        guard connectExisting() else { throw BerthError.system("resolver did not accept a connection") }
        for (id, r) in wanted where id != skipping {
            let conn = fd
            let reply = try await Blocking.run("berth-resolver") { try Self.exchange(conn, r) }
            if let e = reply.error { log.warning("resolver for \(id.prefix(12)): \(e)") }
        }
    }

    /// Starts `berthd resolver` in a session of its own (it outlives berthd) and waits for its
    /// "ready" line.
    func spawn() async throws {
        let argv = command + ["--exec-root", execRoot, "--database", database]
        let logPath = ResolverPaths.log(execRoot: execRoot)
        try await Blocking.run("berth-resolver") {
            let pipe = try Syscall.pipe()
            let logFd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            defer { Syscall.closeQuietly(logFd); Syscall.closeQuietly(pipe.read) }
            let pid: pid_t
            do {
                pid = try Subprocess.spawn(argv, stdout: .fd(pipe.write), stderr: logFd >= 0 ? .fd(logFd) : .null, newSession: true)
            } catch { close(pipe.write); throw error }
            close(pipe.write)
            // Reaped when it leaves (it may outlive this berthd; then init reaps it).
            Thread.detachNewThread { _ = Subprocess.waitStatus(pid) }
            var got: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 64)
            while !got.contains(UInt8(ascii: "\n")) {
                let n = buf.withUnsafeMutableBytes { read(pipe.read, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                got += buf[0..<n]
            }
            guard String(decoding: got, as: UTF8.self).hasPrefix("ready") else {
                let tail = (try? String(contentsOfFile: logPath, encoding: .utf8)).map { String($0.suffix(500)) } ?? ""
                throw BerthError.system("the resolver process did not start: \(tail)")
            }
        }
        log.info("resolver process started")
    }

    /// Writes a request line and reads the reply line (blocking; run off the cooperative pool).
    static func exchange(_ fd: Int32, _ request: ResolverRequest) throws -> ResolverReply {
        var line = try JSONEncoder().encode(request)
        line.append(UInt8(ascii: "\n"))
        var off = 0
        while off < line.count {
            let n = line.withUnsafeBytes { p in Glibc.send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BerthError.system("resolver: \(Syscall.errnoText())") }
            off += n
        }
        var reply: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while !reply.contains(UInt8(ascii: "\n")) {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BerthError.system("resolver closed the connection") }
            reply += buf[0..<n]
            guard reply.count <= ResolverPaths.maxLine else { throw BerthError.system("resolver: reply too long") }
        }
        return try JSONDecoder().decode(ResolverReply.self, from: Data(reply.prefix { $0 != UInt8(ascii: "\n") }))
    }
}
