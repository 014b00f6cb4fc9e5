#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation
import Testing

/// The CNCF registry (Debian's docker-registry) on a loopback port of its own, for one test.
final class TestRegistry: @unchecked Sendable {
    let root: String
    let port: Int
    private(set) var pid: pid_t = 0

    var host: String { "127.0.0.1:\(port)" }
    var storage: String { root + "/data" }

    /// `auth` is extra YAML under `auth:` (htpasswd or token), or nil for an open registry.
    /// A port another test took between the check and the registry's bind is tried again.
    init(auth: String? = nil) async throws {
        root = "/tmp/berth-reg-" + String(Identifier.random64().prefix(10))
        try FS.mkdirAll(root)
        var failure = ""
        for _ in 0..<3 {
            let port = freeLoopbackPort()
            switch try await Self.start(root: root, port: port, auth: auth) {
            case .success(let pid):
                self.port = port
                self.pid = pid
                return
            case .failure(let log):
                failure = log
                guard log.contains("address already in use") else { throw BerthError.system("docker-registry did not start:\n" + log) }
            }
        }
        throw BerthError.system("docker-registry did not start:\n" + failure)
    }

    enum Started { case success(pid_t), failure(String) }

    static func start(root: String, port: Int, auth: String?) async throws -> Started {
        var yaml = """
            version: 0.1
            log: { level: info }
            storage: { filesystem: { rootdirectory: \(root)/data }, delete: { enabled: true } }
            http: { addr: 127.0.0.1:\(port) }

            """
        if let auth { yaml += "auth:\n" + auth + "\n" }
        try FS.writeAtomically(root + "/config.yml", Data(yaml.utf8), mode: 0o644)
        let logPath = root + "/registry.log"
        unlink(logPath)
        let logFd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        defer { close(logFd) }
        let (stream, cont) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let watch = try FileWatcher.shared.watch(logPath, mask: UInt32(IN_MODIFY)) { _ in cont.yield() }
        defer { FileWatcher.shared.unwatch(watch) }
        let pid = try Subprocess.spawn(["docker-registry", "serve", root + "/config.yml"], stdout: .fd(logFd), stderr: .fd(logFd))
        let timer = Task { try? await Task.sleep(for: .seconds(20)); cont.finish() }
        defer { timer.cancel() }
        for await _ in stream {
            if String(decoding: (try? FS.read(logPath)) ?? Data(), as: UTF8.self).contains("listening on") { return .success(pid) }
            if !Syscall.processExists(pid) { break }
        }
        Syscall.kill(pid, SIGKILL)
        _ = Subprocess.waitStatus(pid)
        return .failure(String(decoding: (try? FS.read(logPath)) ?? Data(), as: UTF8.self))
    }

    /// Paths of every blob's data file in the registry's storage.
    func blobFiles() -> [String] {
        let base = storage + "/docker/registry/v2/blobs/sha256"
        var out: [String] = []
        for prefix in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] {
            for hex in (try? FileManager.default.contentsOfDirectory(atPath: base + "/" + prefix)) ?? [] {
                out.append(base + "/" + prefix + "/" + hex + "/data")
            }
        }
        return out
    }

    func stop() {
        if pid > 0 { Syscall.kill(pid, SIGTERM); _ = Subprocess.waitStatus(pid); pid = 0 }
        FS.removeAll(root)
    }
}

/// Runs `body` with a registry and always stops it.
func withRegistry(auth: String? = nil, _ body: (TestRegistry) async throws -> Void) async throws {
    let r = try await TestRegistry(auth: auth)
    do { try await body(r) } catch { r.stop(); throw error }
    r.stop()
}

/// A loopback HTTP proxy in front of a registry that cuts the first `drops` blob downloads off
/// after a few kilobytes, as a network failing mid-layer would, or (`redirectBlobs`) answers blob
/// downloads with a redirect to the registry itself, as registries do to their storage.
/// One request per connection.
final class DroppingProxy: @unchecked Sendable {
    let upstreamPort: Int
    private(set) var port: Int = 0
    private let lock = NSLock()
    private var dropsLeft: Int
    private var server: LoopbackServer?

    let redirectBlobs: Bool
    private(set) var redirected = 0

    init(upstreamPort: Int, drops: Int, redirectBlobs: Bool = false) throws {
        self.upstreamPort = upstreamPort
        self.redirectBlobs = redirectBlobs
        dropsLeft = drops
        let box = self
        server = try LoopbackServer { c in box.serve(c) }
        port = server!.port
    }

    func stop() { server?.stop() }

    private func takeDrop() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if dropsLeft > 0 { dropsLeft -= 1; return true }
        return false
    }

    private func serve(_ client: Int32) {
        guard let text = readRequestHead(client) else { return }
        var buf = [UInt8](repeating: 0, count: 65536)
        let firstLine = text.prefix(while: { $0 != "\r" })
        if redirectBlobs, firstLine.hasPrefix("GET "), firstLine.contains("/blobs/sha256:") {
            let path = firstLine.split(separator: " ")[1]
            lock.lock(); redirected += 1; lock.unlock()
            writeAll(client, "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:\(upstreamPort)\(path)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        }
        // One request per connection: ask upstream to close when done.
        let rewritten = text.replacingOccurrences(of: "\r\nConnection: keep-alive", with: "", options: .caseInsensitive)
            .replacingOccurrences(of: "\r\n\r\n", with: "\r\nConnection: close\r\n\r\n", options: [], range: nil)
        let up = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(up) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(upstreamPort).bigEndian
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(up, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { return }
        writeAll(up, rewritten)
        // Request bodies (uploads) are not proxied: the tests only pull through it.
        // Only responses longer than the cut-off count (the small config blob passes whole).
        let blob = firstLine.hasPrefix("GET ") && firstLine.contains("/blobs/sha256:")
        var sent = 0
        while true {
            let n = read(up, &buf, buf.count)
            if n <= 0 { return }
            if blob && sent + n > 4096 && takeDrop() {
                let allowed = 4096 - sent
                if allowed > 0 { _ = buf.withUnsafeBytes { write(client, $0.baseAddress, allowed) } }
                return
            }
            _ = buf.withUnsafeBytes { write(client, $0.baseAddress, n) }
            sent += n
        }
    }
}
