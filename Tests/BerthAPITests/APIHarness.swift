#if canImport(Glibc)
import Glibc
#endif
import BerthAPI
import BerthEngine
import BerthExecutor
import BerthModels
import BerthSystem
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// berthd in the test process: the real engine (store, images, services) over `FakeRuntime` in a
/// temporary directory, its real router, and connections made of the real HTTP handlers on an
/// in-memory channel. Nothing needs root, runc or a socket.
final class APIHarness: Sendable {
    let dir: String
    let fake: FakeRuntime
    let engine: Engine
    let router: Router
    let network: FakeNetworkHost

    /// The connection handlers' generic types, instantiated once before tests connect in
    /// parallel: the Swift runtime crashed once (SIGSEGV in metadata instantiation) when two
    /// threads made the same `ByteToMessageHandler<HTTPRequestDecoder>` metadata at once.
    static let warmUp: Void = {
        let channel = EmbeddedChannel()
        try? HTTPServer.addHTTPHandlers(channel.pipeline.syncOperations, router: Router())
        _ = try? channel.finish()
    }()

    init(_ name: String = #function) async throws {
        _ = Self.warmUp
        let base = FileManager.default.temporaryDirectory.path + "/berth-api-\(getpid())-\(Identifier.random64().prefix(8))"
        dir = base
        try FS.mkdirAll(base, mode: 0o700)
        fake = try FakeRuntime(root: base + "/fake")
        network = FakeNetworkHost()
        engine = try Engine(config: EngineConfig(dataRoot: base + "/data", execRoot: base + "/run"), runtime: fake, networkHost: network)
        try await engine.start()
        router = APIRoutes.make(engine: engine)
    }

    /// A second berthd over the same directory and runtime, as after a restart of the daemon.
    init(restarting old: APIHarness) async throws {
        dir = old.dir
        fake = old.fake
        network = old.network
        engine = try Engine(config: old.engine.config, runtime: fake, networkHost: network)
        try await engine.start()
        router = APIRoutes.make(engine: engine)
    }

    func cleanup() {
        if ProcessInfo.processInfo.environment["BERTH_KEEP_TEST_DIRS"] == nil { FS.removeAll(dir) }
    }

    /// A new client connection.
    func connect() async throws -> TestConnection {
        let channel = NIOAsyncTestingChannel()
        let router = self.router
        try await channel.testingEventLoop.executeInContext {
            try HTTPServer.addHTTPHandlers(channel.pipeline.syncOperations, router: router)
        }
        try await channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 2375)).get()
        return TestConnection(channel: channel)
    }

    /// One request on a fresh connection.
    func request(_ method: String, _ path: String, json: (any Encodable)? = nil, body: [UInt8]? = nil,
                 headers: [String: String] = [:]) async throws -> RawResponse {
        let c = try await connect()
        var bytes = body ?? []
        var h = headers
        if let json {
            bytes = Array(try JSONEncoder().encode(json))
            h["Content-Type"] = "application/json"
        }
        try await c.send(method, path, body: bytes, headers: h)
        let r = try await c.readResponse()
        try? await c.channel.close()
        return r
    }

    func decode<T: Decodable>(_ type: T.Type, _ method: String, _ path: String, json: (any Encodable)? = nil) async throws -> T {
        let r = try await request(method, path, json: json)
        guard (200..<300).contains(r.status) else { throw HarnessError.status(r.status, r.text) }
        return try JSONDecoder().decode(T.self, from: Data(r.body))
    }

    // MARK: shortcuts

    func loadImage(_ archive: [UInt8]) async throws {
        let r = try await request("POST", "/v1.47/images/load?quiet=1", body: archive, headers: ["Content-Type": "application/x-tar"])
        guard r.status == 200, !r.text.contains("errorDetail") else { throw HarnessError.status(r.status, r.text) }
    }

    func create(_ body: CreateBody, name: String? = nil) async throws -> String {
        let q = name.map { "?name=\($0)" } ?? ""
        return try await decode(IDResponse.self, "POST", "/v1.47/containers/create" + q, json: body).Id
    }

    func inspect(_ id: String) async throws -> ContainerInspect {
        try await decode(ContainerInspect.self, "GET", "/v1.47/containers/\(id)/json")
    }

    func start(_ id: String) async throws {
        let r = try await request("POST", "/v1.47/containers/\(id)/start")
        guard r.status == 204 else { throw HarnessError.status(r.status, r.text) }
    }

    /// `POST /wait`: the exit code.
    func wait(_ id: String, condition: String = "not-running") async throws -> Int {
        struct Wait: Decodable { let StatusCode: Int }
        return try await decode(Wait.self, "POST", "/v1.47/containers/\(id)/wait?condition=\(condition)").StatusCode
    }
}

enum HarnessError: Error, CustomStringConvertible {
    case status(Int, String)
    case malformed(String)
    var description: String {
        switch self {
        case .status(let s, let t): return "HTTP \(s): \(t)"
        case .malformed(let m): return "malformed response: \(m)"
        }
    }
}

/// The container-create body as the docker CLI sends it: config fields with HostConfig inside.
struct CreateBody: Encodable {
    var Image: String
    var Cmd: [String]?
    var Tty: Bool?
    var OpenStdin: Bool?
    var StdinOnce: Bool?
    var AttachStdin: Bool?
    var Healthcheck: HealthcheckConfig?
    var HostConfig: HostConfig?
    var NetworkingConfig: NetworkingConfig?
    var ExposedPorts: [String: EmptyObject]?
    var Volumes: [String: EmptyObject]?
    init(_ image: String = "fake:latest", _ cmd: [String]? = nil, hostConfig: HostConfig? = nil, networking: NetworkingConfig? = nil) {
        Image = image; Cmd = cmd; HostConfig = hostConfig; NetworkingConfig = networking
    }
}

struct RawResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
}

/// One client connection over the in-memory channel: raw bytes in, raw bytes out.
final class TestConnection: Sendable {
    let channel: NIOAsyncTestingChannel
    private let buffer = Mutex<[UInt8]>([])

    init(channel: NIOAsyncTestingChannel) { self.channel = channel }

    func sendRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeInbound(ByteBuffer(bytes: bytes))
    }

    func send(_ method: String, _ path: String, body: [UInt8] = [], headers: [String: String] = [:], extra: [UInt8] = []) async throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try await sendRaw(Array(head.utf8) + body + extra)
    }

    /// The client half-closes its side (what `CloseWrite` does after stdin ends).
    func halfClose() async throws {
        try await channel.testingEventLoop.executeInContext {
            self.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
    }

    /// The next bytes the server wrote; nil once it closed the connection.
    func nextBytes() async throws -> [UInt8]? {
        let pending = buffer.withLock { b -> [UInt8] in defer { b = [] }; return b }
        if !pending.isEmpty { return pending }
        do {
            let data = try await channel.waitForOutboundWrite(as: IOData.self)
            guard case .byteBuffer(let bb) = data else { throw HarnessError.malformed("file region") }
            return Array(bb.readableBytesView)
        } catch let e as ChannelError where e == .ioOnClosedChannel || e == .alreadyClosed {
            return nil
        }
    }

    /// Pushes bytes back to be read again.
    private func unread(_ bytes: [UInt8]) { buffer.withLock { $0 = bytes + $0 } }

    /// Reads exactly up to the end of the head.
    func readHead() async throws -> (status: Int, headers: [(String, String)]) {
        var acc: [UInt8] = []
        while true {
            if let r = acc.firstRange(of: [13, 10, 13, 10]) {
                unread(Array(acc[r.upperBound...]))
                let lines = String(decoding: acc[..<r.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                let parts = lines[0].split(separator: " ")
                guard parts.count >= 2, let status = Int(parts[1]) else { throw HarnessError.malformed(lines[0]) }
                let headers = lines.dropFirst().compactMap { l -> (String, String)? in
                    guard let colon = l.firstIndex(of: ":") else { return nil }
                    return (String(l[..<colon]), l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                }
                return (status, headers)
            }
            guard let more = try await nextBytes() else { throw HarnessError.malformed("closed before the head ended") }
            acc += more
        }
    }

    /// A whole HTTP response (Content-Length or chunked; to the close otherwise).
    func readResponse() async throws -> RawResponse {
        let (status, headers) = try await readHead()
        let r = RawResponse(status: status, headers: headers, body: [])
        var body: [UInt8] = []
        if let len = r.header("Content-Length").flatMap(Int.init) {
            while body.count < len {
                guard let more = try await nextBytes() else { break }
                body += more
            }
            if body.count > len { unread(Array(body[len...])); body = Array(body[..<len]) }
        } else if r.header("Transfer-Encoding")?.lowercased() == "chunked" {
            var raw: [UInt8] = []
            while true {
                // chunk-size CRLF data CRLF ... 0 CRLF CRLF
                var i = 0
                var out: [UInt8] = []
                var complete = false
                while let nl = raw[i...].firstRange(of: [13, 10]) {
                    let size = Int(String(decoding: raw[i..<nl.lowerBound], as: UTF8.self), radix: 16) ?? -1
                    if size < 0 { throw HarnessError.malformed("chunk size") }
                    if size == 0 { complete = raw.count >= nl.upperBound + 2; break }
                    guard raw.count >= nl.upperBound + size + 2 else { break }
                    out += raw[nl.upperBound..<(nl.upperBound + size)]
                    i = nl.upperBound + size + 2
                }
                if complete { body += out; break }
                guard let more = try await nextBytes() else { body += out; break }
                raw += more
            }
        } else if status != 204 && status != 304 && status != 101 {
            while let more = try await nextBytes() { body += more }
        }
        return RawResponse(status: status, headers: headers, body: body)
    }

    /// Everything the server sends until it closes (a hijacked stream).
    func readToClose() async throws -> [UInt8] {
        var all: [UInt8] = []
        while let more = try await nextBytes() { all += more }
        return all
    }
}

import Synchronization

/// Docker's stdcopy frames: [stream, 0, 0, 0, size(4, big-endian)] then the payload.
enum StdFrames {
    static func split(_ bytes: [UInt8]) -> [(stream: UInt8, text: String)] {
        var out: [(UInt8, String)] = []
        var i = 0
        while i + 8 <= bytes.count {
            let n = Int(bytes[i + 4]) << 24 | Int(bytes[i + 5]) << 16 | Int(bytes[i + 6]) << 8 | Int(bytes[i + 7])
            guard i + 8 + n <= bytes.count else { break }
            out.append((bytes[i], String(decoding: bytes[(i + 8)..<(i + 8 + n)], as: UTF8.self)))
            i += 8 + n
        }
        return out
    }
}
