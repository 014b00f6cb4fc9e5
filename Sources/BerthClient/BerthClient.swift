import BerthModels
import Foundation
import NIOHTTP1

/// An error the daemon answered with.
public struct APIError: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let message: String
    public var description: String { "\(status): \(message)" }
}

/// Typed calls to the Engine API (Berth's or Docker's).
public struct BerthClient: Sendable {
    public let http: HTTPClient

    public init(address: DaemonAddress) { http = HTTPClient(address: address) }

    /// Over mutual TLS (a daemon started with `--tlsverify`); fails when the files cannot be read.
    public init(address: DaemonAddress, tls: ClientTLS) throws { http = try HTTPClient(address: address, tls: tls) }

    func check(_ r: HTTPReply) throws -> HTTPReply {
        guard (200..<300).contains(r.status) || r.status == 304 else {
            let msg = (try? JSONDecoder().decode(ErrorResponse.self, from: Data(r.body)).message) ?? r.text
            throw APIError(status: r.status, message: msg)
        }
        return r
    }

    func get<T: Decodable>(_ path: String, _ t: T.Type) async throws -> T {
        try JSONDecoder().decode(T.self, from: Data(try check(try await http.request(.GET, path)).body))
    }

    func post<T: Decodable, B: Encodable>(_ path: String, _ body: B, _ t: T.Type) async throws -> T {
        let r = try check(try await http.request(.POST, path, body: Array(try JSONEncoder().encode(body)),
                                                 headers: [("Content-Type", "application/json")]))
        return try JSONDecoder().decode(T.self, from: Data(r.body))
    }

    public func ping() async throws -> String { try check(try await http.request(.GET, "/_ping")).text }
    public func version() async throws -> VersionResponse { try await get("/version", VersionResponse.self) }
    public func info() async throws -> SystemInfo { try await get("/info", SystemInfo.self) }

    public func containers(all: Bool = false) async throws -> [ContainerSummary] {
        try await get("/containers/json?all=\(all ? 1 : 0)", [ContainerSummary].self)
    }

    public func inspectContainer(_ id: String) async throws -> ContainerInspect {
        try await get("/containers/\(id)/json", ContainerInspect.self)
    }

    public func createContainer(name: String? = nil, image: String, cmd: [String], hostConfig: [String: JSONValue] = [:]) async throws -> ContainerCreateResponse {
        var body: [String: JSONValue] = ["Image": .string(image), "Cmd": .array(cmd.map(JSONValue.string))]
        if !hostConfig.isEmpty { body["HostConfig"] = .object(hostConfig) }
        let q = name.map { "?name=\($0)" } ?? ""
        return try await post("/containers/create" + q, body, ContainerCreateResponse.self)
    }

    public func startContainer(_ id: String) async throws { _ = try check(try await http.request(.POST, "/containers/\(id)/start")) }
    public func stopContainer(_ id: String, timeout: Int = 10) async throws {
        _ = try check(try await http.request(.POST, "/containers/\(id)/stop?t=\(timeout)"))
    }
    public func removeContainer(_ id: String, force: Bool = false) async throws {
        _ = try check(try await http.request(.DELETE, "/containers/\(id)?force=\(force ? 1 : 0)"))
    }
    public func wait(_ id: String, condition: String = "not-running") async throws -> ContainerWaitResponse {
        let r = try check(try await http.request(.POST, "/containers/\(id)/wait?condition=\(condition)"))
        return try JSONDecoder().decode(ContainerWaitResponse.self, from: Data(r.body))
    }

    /// Log bytes as sent (stdcopy frames unless the container has a TTY).
    public func logs(_ id: String, query: String = "stdout=1&stderr=1") async throws -> [UInt8] {
        try check(try await http.request(.GET, "/containers/\(id)/logs?\(query)")).body
    }

    public func images() async throws -> [ImageSummary] { try await get("/images/json", [ImageSummary].self) }

    /// Loads a docker-save archive; returns the daemon's progress lines.
    public func loadImage(_ archive: [UInt8]) async throws -> String {
        try check(try await http.request(.POST, "/images/load", body: archive, headers: [("Content-Type", "application/x-tar")])).text
    }
}
